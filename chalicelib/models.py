"""PynamoDB models of fabu's state, and the access pattern each table serves.

Table names are ``<FABU_PREFIX>-<FABU_STAGE>-<suffix>`` (see ``chalicelib.config``), matching
``infra/resources.json``; nothing here creates tables (``infra`` does). ``Meta.host`` is never set:
``AWS_ENDPOINT_URL`` alone points botocore (and so PynamoDB) at AWS, moto or LocalStack.

Access patterns (no request path or scheduled job scans a table):

* ``Project``  get by id; list = Query on ``list-index`` (``list_pk = "project"``, sorted by id);
  projects with a scheduled update due = Query on the sparse ``due-index`` (``due_at <= now``);
  those with a ``fleet`` = Query on the sparse ``fleet-index`` (``fleet_pk``, set by ``save``).
* ``Release``  one release = GetItem; a project's newest = Query on ``created-index`` (desc).
* ``Rollout``  a project's rollouts = Query on the project partition (newest first: ids sort by
  time); the tick finds every active rollout with one Query on the sparse ``active-index``.
* ``FleetShard`` a project's last synced fleet members: one Query on ``fleet#<project>``.
* ``HostState`` per (host, project), + ``#beat`` (``hosts.beat``). **A poll is one Query on its partition.**
  A project's hosts, or those of one wave/status = one Query on ``project-index``
  (``project``, ``wave_key = <wave:03d>#<status>#<host>``, ``begins_with`` on the prefix).
* ``Event``   a project's timeline = Query on ``scope`` (newest first), TTL ``expires_at``;
  one day across projects (reports) = one Query per ``day-index`` shard (``events.day_values``).
* ``Freeze``  the stage-wide deploy freeze: one item of the rollouts table at a fixed key
  (``fabu:stage``, ``freeze``), read with one GetItem per tick.
* ``Report``  per-phase host reports keyed by the host that sent them: (``host``,
  ``sk = <deploy_id>#<phase>``); one deploy's reports = Query ``begins_with(sk, "<deploy_id>#")``;
  stored once through ``attribute_not_exists``, in one transaction with the host item's update;
  TTL ``expires_at``.
"""
import json

from pynamodb.attributes import (BooleanAttribute, JSONAttribute, ListAttribute,
                                 NumberAttribute, TTLAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute, VersionAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib import config
from chalicelib.errors import TooLarge
from chalicelib.states import DeployKind, HostStatus, ReleaseState, RolloutState
from chalicelib.times import utcnow


def condition_failed(exc: Exception) -> bool:
    """True when a PynamoDB write error is a failed condition (a lost race, not a fault)."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def update_if(item: Model, actions: list, condition: Condition | None = None, **kwargs: bool) -> bool:
    """``item.update(actions, condition)``; False when the condition (or ``item``'s version) failed.

    Only a failed condition is a normal outcome (someone else moved the item first); every
    other error, throttling and timeouts included, propagates.
    """
    try:
        item.update(actions=actions, condition=condition, **kwargs)
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


def save_if(item: Model, condition: Condition | None = None) -> bool:
    """``item.save(condition)``; False when the condition failed, any other error propagates."""
    try:
        item.save(condition)
        return True
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise


def delete_if(item: Model, condition: Condition | None = None) -> bool:
    """``item.delete(condition)``; False when the condition failed, any other error propagates."""
    try:
        item.delete(condition)
        return True
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise


def _meta(suffix):
    """A ``Meta`` class for the stage's table ``suffix`` (no host: see the module docstring)."""
    return type("Meta", (), {"table_name": config.table_name(suffix), "region": config.region(),
                             "connect_timeout_seconds": 5, "read_timeout_seconds": 15,
                             "max_retry_attempts": 4})


class ProjectListIndex(GlobalSecondaryIndex):
    """Every project, sorted by id: the paginated list without a scan."""
    class Meta:
        index_name = "list-index"
        projection = KeysOnlyProjection()
    list_pk = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ProjectFleetIndex(GlobalSecondaryIndex):
    """Sparse: only projects with a ``fleet`` carry ``fleet_pk`` (the tick's fleet sync)."""
    class Meta:
        index_name = "fleet-index"
        projection = KeysOnlyProjection()
    fleet_pk = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ProjectDueIndex(GlobalSecondaryIndex):
    """Sparse: only projects with a scheduled update (``apply_at``) carry ``due_pk``."""
    class Meta:
        index_name = "due-index"
        projection = KeysOnlyProjection()
    due_pk = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


FLEET_PK = "fleet"  # ``fleet_pk`` of every project with a fleet (``fleet-index``'s one key)
#: The largest project item fabu writes (settings, a scheduled update's changes and metadata,
#: serialised), far under DynamoDB's 400 KB item limit.
MAX_PROJECT_ITEM_BYTES = 300 * 1024


class Project(Model):
    """A deployable project: the operator's settings, versioned for optimistic locking.

    ``spec`` is the validated body (version, source, hosts, rollout, ...). ``rev`` is the
    optimistic lock, exposed to clients as the ``ETag``. ``pending`` holds an update scheduled
    for ``apply_at``; the rollout engine's state lives in ``Rollout`` so that the engine's
    writes never make an operator's ETag stale. Every save is at most ``MAX_PROJECT_ITEM_BYTES``
    serialised, or ``TooLarge`` (413) names the size and the limit and nothing is written.
    """
    Meta = _meta("projects")
    id = UnicodeAttribute(hash_key=True)
    list_pk = UnicodeAttribute(default="project")
    rev = VersionAttribute()
    spec = JSONAttribute()
    pending = JSONAttribute(null=True)
    due_pk = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)
    fleet_pk = UnicodeAttribute(null=True)  # FLEET_PK while ``spec`` has a ``fleet``
    created_at = UTCDateTimeAttribute(default=utcnow)
    created_by = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    updated_by = UnicodeAttribute(null=True)
    list_index = ProjectListIndex()
    due_index = ProjectDueIndex()
    fleet_index = ProjectFleetIndex()

    def save(self, condition: Condition | None = None, **kwargs) -> dict:
        """``Model.save`` after checking the size (``MAX_PROJECT_ITEM_BYTES``); sets ``fleet_pk``."""
        self.fleet_pk = FLEET_PK if (self.spec or {}).get("fleet") else None
        size = stored_bytes(self)
        if size > MAX_PROJECT_ITEM_BYTES:
            raise TooLarge(f"the project would be {size} bytes stored (its settings"
                           f"{' and scheduled update' if self.pending else ''}, serialised); the "
                           f"limit is {MAX_PROJECT_ITEM_BYTES} bytes ({MAX_PROJECT_ITEM_BYTES // 1024}"
                           " KB): fewer hosts or shorter scripts, or split the project")
        return super().save(condition, **kwargs)


def stored_bytes(item: Model) -> int:
    """An item's size as DynamoDB counts it: attribute names and values, UTF-8 (at least that)."""
    total = 0
    for name, value in item.serialize().items():
        payload = next(iter(value.values()))
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        total += len(name.encode()) + len(text.encode("utf-8", "surrogatepass"))
    return total


class ReleaseCreatedIndex(GlobalSecondaryIndex):
    """A project's releases in the order they were created (version strings do not sort so)."""
    class Meta:
        index_name = "created-index"
        projection = AllProjection()
    project = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Release(Model):
    """One version of a project and its artifact: ``queued → building → ready | failed``."""
    Meta = _meta("releases")
    project = UnicodeAttribute(hash_key=True)
    version = UnicodeAttribute(range_key=True)
    state = UnicodeAttribute(default=ReleaseState.QUEUED)
    source = JSONAttribute(null=True)
    ci_server = UnicodeAttribute(null=True)
    s3_key = UnicodeAttribute(null=True)
    s3_version = UnicodeAttribute(null=True)  # the verified object's S3 version id: hosts get it
    sha256 = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    build_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    ready_at = UTCDateTimeAttribute(null=True)
    promoted_from = JSONAttribute(null=True)  # {project, version, rollout_id, ...}: rollout.promotions
    provenance = JSONAttribute(null=True)  # what the source resolved to: chalicelib.build.provenance
    created_index = ReleaseCreatedIndex()


class ActiveRolloutIndex(GlobalSecondaryIndex):
    """Sparse: only rollouts the tick must look at carry ``active_pk``."""
    class Meta:
        index_name = "active-index"
        projection = AllProjection()
    active_pk = UnicodeAttribute(hash_key=True)
    project = UnicodeAttribute(range_key=True)


class Rollout(Model):
    """The rollout of one version of a project across its hosts, wave by wave.
    ``rollout_id`` sorts by creation time, so the newest rollout is the first of a descending
    Query. ``seq`` guards every engine write (two ticks, a tick and a control call).
    """
    Meta = _meta("rollouts")
    project = UnicodeAttribute(hash_key=True)
    rollout_id = UnicodeAttribute(range_key=True)
    seq = VersionAttribute()
    version = UnicodeAttribute()
    previous_version = UnicodeAttribute(null=True)
    revision = NumberAttribute(null=True)  # config-only revision N of ``version`` (0/None: none)
    state = UnicodeAttribute(default=RolloutState.SCHEDULED)
    reason = UnicodeAttribute(null=True)
    wave = NumberAttribute(default=0)
    waves = JSONAttribute(default=list)
    settings = JSONAttribute(default=dict)
    start_at = UTCDateTimeAttribute(null=True)
    wave_started_at = UTCDateTimeAttribute(null=True)
    wave_done_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)
    active_pk = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    created_by = UnicodeAttribute(null=True)
    rollback_to = UnicodeAttribute(null=True)
    rollback_wave = NumberAttribute(null=True)
    resume_state = UnicodeAttribute(null=True)
    lock_owner = UnicodeAttribute(null=True)
    lock_until = UTCDateTimeAttribute(null=True)
    gate = JSONAttribute(null=True)  # a before_wave gate being waited on: {wave, since, reason}
    driven_at = UTCDateTimeAttribute(null=True)  # when a tick last took it (oldest goes first)
    error = UnicodeAttribute(null=True)  # the tick's last failure to drive it, until a step succeeds
    wave_times = JSONAttribute(null=True)  # one {started_at, finished_at} per wave (<= 20)
    analysis = JSONAttribute(null=True)  # one canary evaluation (or null) per wave (<= 20)
    # the tick's last read of its CloudWatch alarms (``rollout.alarms``), written when it changes
    alarm_states = JSONAttribute(null=True)  # {"alarms": [{name, state, reason}], "error", "since"}
    counts = JSONAttribute(null=True)  # per-wave host counts the project list shows (rollout.summary)
    active_index = ActiveRolloutIndex()


class Freeze(Model):
    """The stage-wide deploy freeze: at most one item, a fixed key in the rollouts table.
    ``project = "fabu:stage"`` (no project name has a ':') and ``rollout_id = "freeze"``; it never
    carries ``active_pk``, so the tick's ``active-index`` never sees it. Written only through
    ``chalicelib.rollout.freeze`` (conditional on ``rev``).
    """
    Meta = _meta("rollouts")
    project = UnicodeAttribute(hash_key=True, default="fabu:stage")
    rollout_id = UnicodeAttribute(range_key=True, default="freeze")
    rev = VersionAttribute()
    reason = UnicodeAttribute()
    by = UnicodeAttribute()
    since = UTCDateTimeAttribute()
    until = UTCDateTimeAttribute(null=True)


class ProjectHostsIndex(GlobalSecondaryIndex):
    """A project's hosts by wave and status: ``begins_with(wave_key, "002#failed#")``."""
    class Meta:
        index_name = "project-index"
        projection = AllProjection()
    project = UnicodeAttribute(hash_key=True)
    wave_key = UnicodeAttribute(range_key=True)


class HostState(Model):
    """What one host should run and does run for one project.

    ``status``: ``idle`` (nothing to do), ``waiting`` (in a wave not yet released), ``pending``
    (deploy released, not yet handed out), ``in_progress`` (script handed out, lease running),
    ``succeeded``, ``failed``, ``lost`` (lease expired), ``skipped`` (already at target),
    ``rollback_pending``, ``rolled_back``, ``draining`` (out of its target groups before its
    deploy), ``left`` (no longer in the fleet).
    """
    Meta = _meta("hosts")
    host = UnicodeAttribute(hash_key=True)
    project = UnicodeAttribute(range_key=True)
    wave_key = UnicodeAttribute()
    wave = NumberAttribute(default=0)
    status = UnicodeAttribute(default=HostStatus.IDLE)
    rollout_id = UnicodeAttribute(null=True)
    target_version = UnicodeAttribute(null=True)
    target_revision = NumberAttribute(null=True)  # its rollout's config revision (Rollout.revision)
    running_version = UnicodeAttribute(null=True)
    deploy_id = UnicodeAttribute(null=True)
    deploy_kind = UnicodeAttribute(default=DeployKind.DEPLOY)
    attempt = NumberAttribute(default=0)
    leased_at = UTCDateTimeAttribute(null=True)
    reported_at = UTCDateTimeAttribute(null=True)
    last_seen = UTCDateTimeAttribute(null=True)
    last_phase = UnicodeAttribute(null=True)
    last_status = UnicodeAttribute(null=True)
    last_output = UnicodeAttribute(null=True)
    blocked_reason = UnicodeAttribute(null=True)
    depends_on = JSONAttribute(default=list)
    released_at = UTCDateTimeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    # The last deploy ids issued to this host for this project, oldest first (bounded: see
    # ``rollout.hostitems.ISSUED_KEPT``): a report naming any other deploy id is refused.
    issued_ids = ListAttribute(of=UnicodeAttribute, null=True)
    # ``::fabu::`` messages of this host and project in the current hour-long window (see
    # ``hosts.messages``): when it began, how many became events, how many were dropped.
    msg_window = UTCDateTimeAttribute(null=True)
    msg_count = NumberAttribute(null=True)
    msg_dropped = NumberAttribute(null=True)
    # How the host belongs to the project: "listed" (``spec.hosts``) or "fleet" (found by the
    # fleet sync from ``spec.fleet``: ``chalicelib.fleet``), its Availability Zone (or the
    # listed host's ``zone``), when it joined and when it left (status ``left``).
    member = UnicodeAttribute(null=True)
    zone = UnicodeAttribute(null=True)
    joined_at = UTCDateTimeAttribute(null=True)
    left_at = UTCDateTimeAttribute(null=True)
    # What the agent last said the host runs (its ``current`` link), written only when it
    # changes, and since when: drift (``chalicelib.drift``) compares it with the good version.
    seen_version = UnicodeAttribute(null=True)
    seen_at = UTCDateTimeAttribute(null=True)
    # Traffic draining around this host's deploy (``chalicelib.rollout.drain``):
    # {"target_groups": [arn], "state": "draining" | "out" | "registered", "since", "until"}
    drain = JSONAttribute(null=True)
    project_index = ProjectHostsIndex()


def wave_key(wave: int, status: str, host: str) -> str:
    return f"{int(wave):03}#{status}#{host}"


class FleetShard(Model):
    """A shard of a project's last synced fleet (``chalicelib.fleet.memberset``): hosts-table
    items outside ``project-index`` (no ``wave_key``), ``host = "fleet#<project>"``."""
    Meta = _meta("hosts")
    host = UnicodeAttribute(hash_key=True)
    project = UnicodeAttribute(range_key=True)
    members = JSONAttribute(null=True)
    left = JSONAttribute(null=True)
    key = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    error_since = UTCDateTimeAttribute(null=True)


class EventDayIndex(GlobalSecondaryIndex):
    """Every event of one UTC day, across projects, for the daily report."""
    class Meta:
        index_name = "day-index"
        projection = AllProjection()
    day = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class Event(Model):
    """One transition: who did what, when. ``sk = <ISO time>#<random>`` sorts by time."""
    Meta = _meta("events")
    scope = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    day = UnicodeAttribute()
    kind = UnicodeAttribute()
    actor = UnicodeAttribute(null=True)
    host = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    detail = JSONAttribute(default=dict)
    at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute(null=True)
    day_index = EventDayIndex()


class Report(Model):
    """One phase report of one deploy on one host, as the script sent it.
    Keyed by the host that sent it, so no host can take another's (deploy_id, phase) slot.
    """
    Meta = _meta("reports")
    host = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # "<deploy_id>#<phase>" (deploy ids hold no '#')
    deploy_id = UnicodeAttribute()
    phase = UnicodeAttribute()
    project = UnicodeAttribute()
    version = UnicodeAttribute()
    status = UnicodeAttribute()
    exit_code = NumberAttribute(default=0)
    output = UnicodeAttribute(null=True)
    truncated = BooleanAttribute(default=False)
    running_version = UnicodeAttribute(null=True)
    received_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute(null=True)

from chalicelib.audit.model import AuditEntry  # noqa: E402 - its own module (this one is full)
ALL_MODELS = (Project, Release, Rollout, HostState, Event, Report, AuditEntry)
