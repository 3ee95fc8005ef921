"""Stage settings read from the environment: resource names, limits and defaults.

Every AWS resource is named ``<FABU_PREFIX>-<FABU_STAGE>-<suffix>``, the same expression that
``infra/resources.json`` uses (``Fn::Sub: ${Prefix}-${Stage}-<suffix>``), so the app and the
template agree without a second list of names.
"""
import os


def prefix() -> str:
    """``fabu-dev``: the name prefix of every resource of this stage."""
    return f"{os.environ.get('FABU_PREFIX', 'fabu')}-{stage()}"


def stage() -> str:
    """The stage name: ``local``, ``dev``, ``prod``..."""
    return os.environ.get("FABU_STAGE", "local")


def region() -> str:
    return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1")


def resource_name(suffix: str) -> str:
    return f"{prefix()}-{suffix}"


def table_name(suffix: str) -> str:
    return resource_name(suffix)


def release_bucket() -> str:
    return os.environ.get("FABU_RELEASE_BUCKET") or resource_name("releases")


def ui_bucket() -> str:
    return os.environ.get("FABU_UI_BUCKET") or resource_name("ui")


def build_queue_name() -> str:
    return resource_name("builds")


def notify_queue_name() -> str:
    return resource_name("notify.fifo")  # FIFO: one message group per project keeps order


def drive_queue_name() -> str:
    """The queue of the tick's fan-out: one message per active rollout (``rollout.driver``)."""
    return resource_name("drive")


def notify_topic_name() -> str:
    return resource_name("notifications")


def is_local() -> bool:
    """True on the local stack (``make run``, the tests)."""
    return stage() == "local"


def int_setting(name: str, default: int) -> int:
    """The whole number in environment variable ``name``; ``default`` when unset or not a number."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def event_ttl_days() -> int:
    return int_setting("FABU_EVENT_TTL_DAYS", 90)


#: ``FABU_AUDIT_RETENTION_DAYS``: default and bounds (a day .. ten years).
AUDIT_RETENTION_DEFAULT, AUDIT_RETENTION_LIMITS = 400, (1, 3650)


def audit_retention_days() -> int:
    """How long audit entries are kept (``FABU_AUDIT_RETENTION_DAYS``, default 400, 1..3650).

    Anything else (not a whole number, out of bounds) is logged and the default used: a typo
    must neither take the API down nor shorten the audit trail.
    """
    raw = os.environ.get("FABU_AUDIT_RETENTION_DAYS", "").strip()
    low, high = AUDIT_RETENTION_LIMITS
    if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    if raw:
        import logging
        logging.getLogger("fabu.config").warning(
            "FABU_AUDIT_RETENTION_DAYS=%r is not a whole number of days in %d..%d; using %d",
            raw, low, high, AUDIT_RETENTION_DEFAULT)
    return AUDIT_RETENTION_DEFAULT


def heartbeat_seconds() -> int:
    """How often a polling host's beat is written (``FABU_HEARTBEAT_SECONDS``, default 3600):
    the resolution of silence (``chalicelib.hosts.beat``)."""
    return int_setting("FABU_HEARTBEAT_SECONDS", 3600)


def silent_seconds() -> int:
    """How long without a poll makes a host silent (``FABU_SILENT_SECONDS``, default 1800)."""
    return int_setting("FABU_SILENT_SECONDS", 1800)


def active_heartbeat_seconds() -> int:
    """How often a poll touches ``last_seen`` of a host item it holds pending or draining
    (``FABU_ACTIVE_HEARTBEAT_SECONDS``, default 900; at most half of ``FABU_SILENT_SECONDS``,
    so a polling host's pending item never looks silent to the engine)."""
    return max(0, min(int_setting("FABU_ACTIVE_HEARTBEAT_SECONDS", 900), silent_seconds() // 2))
