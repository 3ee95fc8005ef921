"""The project contract as data: field names, defaults, limits, reserved names and patterns.

Everything the validators check against is named here once, so other code (the host protocol's
name checks, a generated field reference) reads the same limits the API enforces. Patterns are
unanchored: use them with ``fullmatch`` only (``match`` with ``$`` lets a trailing newline in).
"""
import re

#: A project name (its id): a DNS-label-like slug.
SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: One label of an RFC 1123 host name (lowercase).
HOST_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: A git tag, branch or commit: no spaces, no ``..``, no leading ``-`` (never an option).
GIT_REF_RE = re.compile(r"(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+@-]{1,200}(?<![./])")
#: A secret given by reference, never by value.
SECRET_REF_RE = re.compile(
    r"ssm:/[A-Za-z0-9_.\-/]{1,1000}|secretsmanager:[A-Za-z0-9_+=.@:/-]{1,2000}")
SNS_ARN_RE = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
#: A percentage of a project's hosts (``waves``, ``max_failures``): ``"10%"``.
PERCENT_RE = re.compile(r"(\d{1,3})%")
#: How a webhook secret given by reference starts (shown as is; inline secrets are redacted).
SECRET_REF_PREFIXES = ("ssm:", "secretsmanager:")

#: Every top-level field of a project body.
TOP_FIELDS = ("id", "name", "version", "source", "ci_server", "deb_dependencies", "depends_on",
              "scripts", "timeouts", "deploy_at", "hosts", "rollout", "notify", "gates",
              "apply_at", "description", "fleet", "promote_from", "config")
#: Fields a create must carry (and ``hosts`` or ``fleet``, or both: ``fleet_fields``).
REQUIRED_FIELDS = ("name", "version")
#: Fields that are requests about the project, not settings: never stored in ``spec``.
NOT_STORED = ("id", "apply_at")
#: Top-level fields that are times (ISO 8601 UTC).
TIME_FIELDS = ("deploy_at", "apply_at")

#: First path segments under /api/v1/ that are the API's own, never host names.
RESERVED_HOSTS = frozenset({"project", "projects", "reports", "events", "health", "admin",
                            "freeze", "audit"})
MAX_HOST_NAME = 253
MAX_HOSTS = 5000
#: A listed host with its zone: ``{"name": "web-1", "zone": "us-east-1a"}``.
ZONED_HOST_FIELDS = ("name", "zone")
#: An Availability Zone (or any failure-domain label a listed host carries).
ZONE_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})")
MAX_ZONE_LENGTH = 64

SOURCE_FIELDS = ("type", "url", "ref", "credentials")
#: The URL schemes each source type takes (``file`` for git only on the local stage).
SOURCE_SCHEMES = {
    "git": {"https", "http", "ssh", "git", "file"},
    "svn": {"https", "http", "svn", "svn+ssh", "file"},
    "ftp": {"ftp", "ftps"},
    "http": {"https", "http"},
    "s3": {"s3"},
}

SCRIPT_NAMES = ("start", "stop", "test", "pre_deploy", "post_deploy", "health")
MAX_SCRIPT_BYTES = 64 * 1024
#: The user scripts with a time limit in ``timeouts`` (``health`` has ``rollout.health_timeout``),
#: each limit's default (a create stores them all) and its bounds, in whole seconds.
TIMEOUT_SCRIPTS = ("start", "stop", "test", "pre_deploy", "post_deploy")
TIMEOUT_DEFAULTS = {name: 600 for name in TIMEOUT_SCRIPTS}
TIMEOUT_LIMITS = (1, 86400)

MAX_DEB_DEPENDENCIES = 100
DEPENDS_ON_FIELDS = ("project", "version")
MAX_DEPENDS_ON = 50
#: The requirement a ``depends_on`` entry without ``version`` stands for.
DEFAULT_REQUIREMENT = ">=0"

#: Longest accepted string per top-level field.
MAX_LENGTHS = {"name": 63, "version": 128, "description": 2000, "ci_server": 512,
               "url": 2048, "ref": 200, "credentials": 2048, "secret": 2048}

ROLLOUT_DEFAULTS = {
    "waves": ["100%"], "bake_seconds": 0, "max_failures": 0, "auto_promote": True,
    "auto_rollback": True, "canary_hosts": [], "deploy_timeout": 1800, "max_parallel": 0,
    "rollback_mode": "all", "health_timeout": 60, "keep_releases": 5,
    # canary vs baseline (``chalicelib.rollout.analysis``) and deploy windows (``.windows``)
    "analysis": None, "windows": [],
    # CloudWatch alarms that halt a release, watched until this long after the last wave
    # (``chalicelib.rollout.alarms``; null: the bake time)
    "alarms": [], "alarm_watch_seconds": None,
    # zone-aware waves (``chalicelib.rollout.plan``): null, "spread" or "one_at_a_time"
    "zones": None,
    # traffic draining around each host's deploy (``chalicelib.rollout.drain``): null or
    # {"target_groups": [ELBv2 target group ARN], "drain_seconds": cap on the wait}
    "load_balancer": None,
}
#: ``(low, high)`` of each whole-number rollout setting.
ROLLOUT_LIMITS = {"bake_seconds": (0, 7 * 86400), "deploy_timeout": (60, 86400),
                  "max_parallel": (0, 100000), "health_timeout": (0, 3600), "keep_releases": (2, 50)}
ROLLOUT_FLAGS = ("auto_promote", "auto_rollback")
ROLLBACK_MODES = ("all", "waves")
#: ``rollout.zones``: each wave across the zones, or one zone after another.
ZONE_MODES = ("spread", "one_at_a_time")
MAX_WAVES = 20
#: ``(low, high)`` of a percentage: a wave's (``"10%"``), and ``max_failures``' (``"5%"``).
WAVE_PERCENT_LIMITS = (1, 100)
#: ``(low, high)`` of ``max_parallel`` as a percentage of the rollout's hosts (``"25%"``).
MAX_PARALLEL_PERCENT_LIMITS = (1, 100)
#: ``rollout.load_balancer``'s fields, and how many target groups it may list.
LOAD_BALANCER_FIELDS = ("target_groups", "drain_seconds")
MAX_TARGET_GROUPS = 5
MAX_FAILURES_PERCENT_LIMITS = (0, 100)
#: The wave every plan must end with.
LAST_WAVE = "100%"

#: ``promote_from`` (``chalicelib.projects.promote_fields``): its fields, the soak's bounds (30 days).
PROMOTE_FROM_FIELDS = ("project", "soak_seconds", "auto")
PROMOTE_SOAK_LIMITS = (0, 30 * 86400)

NOTIFY_FIELDS = ("sns_topic_arn", "webhooks")
MAX_WEBHOOKS = 10
WEBHOOK_FIELDS = ("url", "secret", "timeout_seconds", "deadline_seconds")
#: ``(low, high)`` of a webhook's whole-number settings.
WEBHOOK_LIMITS = {"timeout_seconds": (1, 60), "deadline_seconds": (1, 7 * 86400)}
#: What a webhook leaves out means (the notifier's timeout; how long a gate may say "not yet").
WEBHOOK_DEFAULTS = {"timeout_seconds": 5, "deadline_seconds": 3600}
#: The URL schemes of webhooks and gates; the local stage also takes ``http``.
WEBHOOK_SCHEMES = ("https",)
WEBHOOK_SCHEMES_LOCAL = ("https", "http")
GATE_NAMES = ("before_wave", "after")

#: What a create fills in for every optional field it leaves out (``rollout`` merges over
#: ``ROLLOUT_DEFAULTS``).
CREATE_DEFAULTS = {"source": None, "ci_server": None, "deb_dependencies": [], "depends_on": [],
                   "scripts": {}, "deploy_at": None, "notify": {}, "gates": {},
                   "config": {}}
