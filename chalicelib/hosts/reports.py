"""A host's phase reports: validate one, store it once, apply its outcome, record its events.

``report`` stores each phase report once per (``deploy_id``, ``phase``) and moves the host's item
to its outcome with a write conditional on the same ``deploy_id``: a late report of an older
deploy is kept for the record but never changes the state of a newer one. ``host_report`` is the
read side the console shows: a host's current deploy of a project and its phase reports (one
GetItem on ``HostState``, one Query on ``Report``).
"""
import datetime
import re

from chalicelib import events, versions
from chalicelib.errors import NotFound, ValidationError
from chalicelib.hosts.poll import check_host_name
from chalicelib.models import HostState, Report, save_if, update_if, wave_key
from chalicelib.projects.schema import SLUG_RE
from chalicelib.states import REPORT_WENT_WELL, REPORT_WENT_WRONG, DeployKind, HostStatus, Phase, ReportStatus
from chalicelib.times import format_time, utcnow

MAX_OUTPUT = 70 * 1024
OUTPUT_TAIL = 4 * 1024
REPORT_TTL_DAYS = 90
_PHASES = tuple(Phase)
_STATUSES = tuple(ReportStatus)
#: The order in which the deploy script runs its phases (reports sort by it, not by name).
_PHASE_ORDER = {phase: index for index, phase in enumerate(Phase)}
#: Reports of a phase that went wrong, and of one that went well (``skipped``: nothing to do).
_DEPLOY_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_MESSAGE_RE = re.compile(r"^::fabu::(info|warn|error)\s+(.{1,1000})$", re.MULTILINE)


def validate_report(body: dict) -> None:
    """Raise a ``ValidationError`` naming every bad field of a report body (400)."""
    fields = {}
    project = body.get("project")
    if not isinstance(project, str) or not SLUG_RE.match(project):
        fields["project"] = "must be a project name"
    if not versions.is_valid(body.get("version")):
        fields["version"] = "must be a version string"
    deploy_id = body.get("deploy_id")
    if not isinstance(deploy_id, str) or not _DEPLOY_ID_RE.match(deploy_id):
        fields["deploy_id"] = "must be the deploy_id of the script"
    if body.get("phase") not in _PHASES:
        fields["phase"] = f"must be one of {', '.join(_PHASES)}"
    if body.get("status") not in _STATUSES:
        fields["status"] = f"must be one of {', '.join(_STATUSES)}"
    code = body.get("exit_code", 0)
    if isinstance(code, bool) or not isinstance(code, int) or not -1000 <= code <= 1000:
        fields["exit_code"] = "must be a whole number"
    output = body.get("output", "")
    if not isinstance(output, str):
        fields["output"] = "must be a string"
    elif len(output) > MAX_OUTPUT:
        fields["output"] = "is longer than 64 KB: send the tail and set truncated"
    running = body.get("running_version")
    if running not in (None, "") and not versions.is_valid(running):
        fields["running_version"] = "must be a version string or empty"
    if "truncated" in body and not isinstance(body["truncated"], bool):
        fields["truncated"] = "must be true or false"
    if fields:
        name, problem = next(iter(fields.items()))
        raise ValidationError(f"invalid report: {name} {problem}", fields)


def outcome(deploy_kind: str, phase: str, status: str) -> HostStatus | None:
    """The host item's new status after this report; None while its deploy is still running."""
    if deploy_kind == DeployKind.ROLLBACK:
        if phase == Phase.ROLLBACK:  # skipped: the host already runs the version asked for
            return HostStatus.ROLLED_BACK if status in REPORT_WENT_WELL else HostStatus.FAILED
        return HostStatus.FAILED if status in REPORT_WENT_WRONG else None
    if status in REPORT_WENT_WRONG:
        return HostStatus.FAILED
    if status == ReportStatus.SKIPPED or (phase == Phase.POST_DEPLOY and status == ReportStatus.OK):
        return HostStatus.SUCCEEDED
    return None


def report(host: str, body: dict, now: datetime.datetime | None = None) -> dict:
    """Store one phase report and apply its outcome; a repeat of the same phase is a no-op."""
    check_host_name(host)
    now = now or utcnow()
    validate_report(body)
    try:
        item = HostState.get(host, body["project"], consistent_read=True)
    except HostState.DoesNotExist:
        raise NotFound(f"host {host} has no deploy of project {body['project']!r}") from None
    if not _store(host, body, now):
        return {"accepted": True, "duplicate": True, "status": item.status}
    if item.deploy_id != body["deploy_id"]:
        _record_running_version(item, body, now)
        return {"accepted": True, "stale": True, "status": item.status}
    new_status = outcome(item.deploy_kind, body["phase"], body["status"])
    actions = [HostState.reported_at.set(now), HostState.last_seen.set(now),
               HostState.last_phase.set(body["phase"]), HostState.last_status.set(body["status"]),
               HostState.last_output.set((body.get("output") or "")[-OUTPUT_TAIL:] or None),
               HostState.leased_at.set(now), HostState.updated_at.set(now)]
    if body.get("running_version"):
        actions.append(HostState.running_version.set(body["running_version"]))
    # The rollback after a failed phase reports how it went; the item stays failed.
    if new_status and not (item.status == HostStatus.FAILED and body["phase"] == Phase.ROLLBACK):
        actions += [HostState.status.set(new_status),
                    HostState.wave_key.set(wave_key(item.wave, new_status, host))]
    if not update_if(item, actions, HostState.deploy_id == body["deploy_id"]):
        return {"accepted": True, "stale": True, "status": item.status}
    _record_events(item, body, new_status)
    return {"accepted": True, "status": item.status}


def host_report(project_id: str, host: str) -> dict:
    """The host's current deploy of ``project_id`` and its phase reports, in script order."""
    try:
        state = HostState.get(host, project_id)
    except HostState.DoesNotExist:
        raise NotFound(f"host {host!r} has no state in project {project_id!r}") from None
    reports = []
    if state.deploy_id:
        reports = sorted((_report_dict(r) for r in Report.query(state.deploy_id)),
                         key=lambda r: (_PHASE_ORDER.get(r["phase"], 9), r["received_at"] or ""))
    return {"project": project_id, "host": host, "deploy_id": state.deploy_id,
            "deploy_kind": state.deploy_kind, "status": state.status,
            "target_version": state.target_version, "running_version": state.running_version,
            "reports": reports}


def _store(host, body, now):
    """Save the report unless this (deploy_id, phase) was already reported: False then."""
    stored = Report(body["deploy_id"], body["phase"], host=host, project=body["project"],
                    version=body["version"], status=body["status"],
                    exit_code=body.get("exit_code", 0), output=body.get("output") or None,
                    truncated=bool(body.get("truncated")),
                    running_version=body.get("running_version") or None, received_at=now,
                    expires_at=now + datetime.timedelta(days=REPORT_TTL_DAYS))
    return save_if(stored, Report.phase.does_not_exist())


def _record_running_version(item, body, now):
    """A late report of an older deploy still says what the host runs now."""
    if body.get("running_version"):
        update_if(item, [HostState.running_version.set(body["running_version"]),
                         HostState.last_seen.set(now)],
                  HostState.deploy_id == item.deploy_id)


def _record_events(item, body, new_status):
    output = body.get("output") or ""
    detail = {"deploy_id": body["deploy_id"], "version": body["version"], "phase": body["phase"],
              "status": body["status"], "exit_code": body.get("exit_code", 0),
              "running_version": body.get("running_version")}
    for level, text in _MESSAGE_RE.findall(output):
        events.record(item.project, "host.message", item.host, dict(detail, level=level),
                      host=item.host, message=text.strip())
    if body["phase"] == Phase.ROLLBACK:
        kind = "host.rolled_back" if body["status"] in REPORT_WENT_WELL else "host.rollback_failed"
    elif new_status in (HostStatus.SUCCEEDED, HostStatus.FAILED):
        kind = f"host.{new_status}"
        if body["status"] == ReportStatus.INTERRUPTED:
            kind = "host.interrupted"
    else:
        return
    if body["status"] not in REPORT_WENT_WELL:
        detail["output_tail"] = output[-2000:]
    events.record(item.project, kind, item.host, detail, host=item.host,
                  message=f"{item.host} {body['version']}: {body['phase']} {body['status']}")


def _report_dict(stored):
    return {"phase": stored.phase, "status": stored.status, "exit_code": int(stored.exit_code),
            "output": stored.output or "", "truncated": bool(stored.truncated),
            "version": stored.version, "running_version": stored.running_version,
            "received_at": format_time(stored.received_at)}
