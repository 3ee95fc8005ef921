"""A host's phase reports: validate one, store it once with its outcome, and read them back.

``report`` checks that the report's ``deploy_id`` was issued to the calling host for that project
(the item's current deploy or one of its ``issued_ids``; anything else is 404), then writes in
ONE DynamoDB transaction: the report (keyed by host, ``<deploy_id>#<phase>``, conditional on not
existing), the host item's update (conditional on its ``deploy_id`` still being the report's,
and on its message window as read) and the report's events (outcome, ``::fabu::`` messages,
see ``hosts.messages``). There is no half state: a retry of a committed report (the answer was
lost, the host's curl retries) finds it stored and answers ``duplicate`` with the item's status;
a transaction cancelled because the item moved is re-read and retried (a few times, bounded);
any other AWS error propagates (the API answers 5xx and the host's curl retries). A late report
of an older deploy is stored for the record and only says what the host runs now.
``host_report`` is the console's read side: one deploy of a host and its phase reports.
"""
import datetime
import hashlib
import json
import logging
import re
import uuid

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import aws, config, events, versions
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.hosts import messages
from chalicelib.hosts.poll import check_host_name
from chalicelib.models import Event, HostState, Report, wave_key
from chalicelib.notify import queue
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
_DEPLOY_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
#: A transaction cancelled because the host item moved meanwhile is re-read and retried this often.
COMMIT_ATTEMPTS = 4
#: Cancellation reasons that mean "someone else wrote first", not a fault.
_LOST_RACE = (None, "ConditionalCheckFailed", "TransactionConflict")
_EVENT_AT = "%Y-%m-%dT%H:%M:%S.%fZ"  # as ``events.record`` stores ``Event.sk`` (sorts by time)
_SQS_BATCH = 10  # SendMessageBatch's limit
log = logging.getLogger("fabu.hosts")


def validate_report(body: dict) -> None:
    """Raise a ``ValidationError`` naming every bad field of a report body (400)."""
    fields = {}
    project = body.get("project")
    if not isinstance(project, str) or not SLUG_RE.fullmatch(project):
        fields["project"] = "must be a project name"
    if not versions.is_valid(body.get("version")):
        fields["version"] = "must be a version string"
    deploy_id = body.get("deploy_id")
    if not is_deploy_id(deploy_id):
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


def is_deploy_id(value: object) -> bool:
    """True for a deploy id as the platform issues them (1-100 of ``A-Za-z0-9_.:-``)."""
    return isinstance(value, str) and _DEPLOY_ID_RE.fullmatch(value) is not None


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
    """Store one phase report with its outcome and events, once; a repeat answers ``duplicate``."""
    check_host_name(host)
    now = now or utcnow()
    validate_report(body)
    stored = _report_item(host, body, now)
    for _ in range(COMMIT_ATTEMPTS):
        item = _issued_item(host, body)
        if item.deploy_id != body["deploy_id"]:
            answer, update, written = _stale(item, body, now)
        else:
            answer, update, written = _current(item, body, now)
        codes = _commit(stored, written, update)
        if codes is None:
            _notify([events.to_dict(event) for event in written])
            return answer
        if codes[0] == "ConditionalCheckFailed":  # stored before: by a retry of this request
            status = HostState.get(host, body["project"], consistent_read=True).status
            return {"accepted": True, "duplicate": True, "status": status}
        # The host item moved between the read and the write (or another write was in flight):
        # read it again and decide again.
    raise Conflict(f"the state of {host} in {body['project']!r} kept changing while this report "
                   f"was stored ({COMMIT_ATTEMPTS} attempts); nothing was stored, send it again",
                   {"deploy_id": "its host item kept changing"})


def host_report(project_id: str, host: str, deploy_id: str | None = None) -> dict:
    """One deploy of ``host`` in ``project_id`` (its current one by default) and its reports.

    ``deploy_id`` must be the item's current deploy or one of its ``issued_ids`` (404 otherwise).
    One GetItem on ``HostState`` and one Query on the host's reports of that deploy.
    """
    if deploy_id is not None and not is_deploy_id(deploy_id):
        raise ValidationError("deploy_id must be a deploy id such as d-0123abcd",
                              {"deploy_id": "is not a deploy id"})
    try:
        state = HostState.get(host, project_id)
    except HostState.DoesNotExist:
        raise NotFound(f"host {host!r} has no state in project {project_id!r}") from None
    issued = _issued(state)
    wanted = deploy_id or state.deploy_id
    if deploy_id is not None and deploy_id not in issued:
        raise NotFound(f"host {host!r} has no deploy {deploy_id!r} in project {project_id!r} "
                       f"(the last {len(issued)} are kept)", {"deploy_id": "was not issued to this host"})
    reports = []
    if wanted:
        found = Report.query(host, Report.sk.startswith(f"{wanted}#"), consistent_read=True,
                             limit=2 * len(_PHASES))
        reports = sorted((_report_dict(r) for r in found if r.project == project_id),
                         key=lambda r: (_PHASE_ORDER.get(r["phase"], 9), r["received_at"] or ""))
    return {"project": project_id, "host": host, "deploy_id": wanted,
            "current_deploy_id": state.deploy_id, "deploy_kind": state.deploy_kind,
            "status": state.status, "target_version": state.target_version,
            "running_version": state.running_version, "deploys": list(reversed(issued)),
            "messages": messages.window_view(state, utcnow()), "reports": reports}


def _issued(item):
    """The deploy ids issued to ``item``'s host for its project, oldest first."""
    issued = list(item.issued_ids or [])
    if item.deploy_id and item.deploy_id not in issued:
        issued.append(item.deploy_id)
    return issued


def _issued_item(host, body):
    """The host item of the report's project, when its deploy_id was issued to this host."""
    try:
        item = HostState.get(host, body["project"], consistent_read=True)
    except HostState.DoesNotExist:
        raise NotFound(f"host {host} has no deploy of project {body['project']!r}") from None
    if body["deploy_id"] not in _issued(item):
        raise NotFound(f"deploy_id {body['deploy_id']!r} was not issued to host {host} for project "
                       f"{body['project']!r} (or is older than its last {len(_issued(item))} "
                       f"deploys): report only the deploys of your own scripts",
                       {"deploy_id": "was not issued to this host for this project"})
    return item


def _report_item(host, body, now):
    return Report(host, f"{body['deploy_id']}#{body['phase']}", deploy_id=body["deploy_id"],
                  phase=body["phase"], project=body["project"], version=body["version"],
                  status=body["status"], exit_code=body.get("exit_code", 0),
                  output=body.get("output") or None, truncated=bool(body.get("truncated")),
                  running_version=body.get("running_version") or None, received_at=now,
                  expires_at=now + datetime.timedelta(days=REPORT_TTL_DAYS))


def _stale(item, body, now):
    """A late report of an older deploy: kept, and it still says what the host runs now."""
    answer = {"accepted": True, "stale": True, "status": item.status}
    if not body.get("running_version"):
        return answer, None, []
    actions = [HostState.running_version.set(body["running_version"]), HostState.last_seen.set(now)]
    return answer, (item, actions, _same_deploy(item)), []


def _current(item, body, now):
    """The item's update and the events of a report of its current deploy."""
    new_status = outcome(item.deploy_kind, body["phase"], body["status"])
    actions = [HostState.reported_at.set(now), HostState.last_seen.set(now),
               HostState.last_phase.set(body["phase"]), HostState.last_status.set(body["status"]),
               HostState.last_output.set((body.get("output") or "")[-OUTPUT_TAIL:] or None),
               HostState.leased_at.set(now), HostState.updated_at.set(now)]
    if body.get("running_version"):
        actions.append(HostState.running_version.set(body["running_version"]))
    status = item.status
    # The rollback after a failed phase reports how it went; the item stays failed.
    if new_status and not (item.status == HostStatus.FAILED and body["phase"] == Phase.ROLLBACK):
        status = new_status
        actions += [HostState.status.set(new_status),
                    HostState.wave_key.set(wave_key(item.wave, new_status, item.host))]
    condition = HostState.deploy_id == body["deploy_id"]
    said = messages.plan(item, body.get("output") or "", now)
    if said.actions:
        actions += said.actions
        condition &= said.condition
    written = _events(item, body, new_status, said, now)
    answer = {"accepted": True, "status": status}
    if said.found:
        answer["messages"] = said.answer()
    return answer, (item, actions, condition), written


def _same_deploy(item):
    if item.deploy_id is None:
        return HostState.deploy_id.does_not_exist()
    return HostState.deploy_id == item.deploy_id


def _commit(stored, written, update):
    """Write the report, its events and the item's update in one transaction.

    None when committed; the cancellation codes (the report's first, then the events', then the
    item's) when a condition failed or another write was in flight; any other error propagates.
    """
    connection = Report._get_connection().connection
    try:
        # The token makes botocore's own retry of a committed transaction a no-op success.
        with TransactWrite(connection=connection, client_request_token=uuid.uuid4().hex) as tx:
            tx.save(stored, condition=Report.sk.does_not_exist())
            for event in written:
                tx.save(event, condition=Event.sk.does_not_exist())
            if update is not None:
                item, actions, condition = update
                tx.update(item, actions, condition=condition)
    except TransactWriteError as exc:
        codes = [reason.code if reason else None for reason in exc.cancellation_reasons]
        if (exc.cause_response_code == "TransactionCanceledException" and codes
                and all(code in _LOST_RACE for code in codes)):
            return codes
        raise
    return None


def _events(item, body, new_status, said, now):
    """The report's events (unsaved): its messages, their summary, then its outcome."""
    output = body.get("output") or ""
    detail = {"deploy_id": body["deploy_id"], "version": body["version"], "phase": body["phase"],
              "status": body["status"], "exit_code": body.get("exit_code", 0),
              "running_version": body.get("running_version")}
    written = []

    def add(kind, extra, message):
        # One microsecond apart: the timeline keeps the order of the lines.
        at = now + datetime.timedelta(microseconds=len(written))
        written.append(_event(item, kind, dict(detail, **extra), message, at))

    for level, text in said.recorded:
        add("host.message", {"level": level}, text)
    if said.summary:
        add("host.messages_dropped", said.summary_detail, said.summary)
    if body["phase"] == Phase.ROLLBACK:
        kind = "host.rolled_back" if body["status"] in REPORT_WENT_WELL else "host.rollback_failed"
    elif new_status in (HostStatus.SUCCEEDED, HostStatus.FAILED):
        kind = f"host.{new_status}"
        if body["status"] == ReportStatus.INTERRUPTED:
            kind = "host.interrupted"
    else:
        return written
    extra = {} if body["status"] in REPORT_WENT_WELL else {"output_tail": output[-2000:]}
    add(kind, extra, f"{item.host} {body['version']}: {body['phase']} {body['status']}")
    return written


def _notify(stored):
    """Queue the stored events worth telling about, ten per SendMessageBatch; never raises.

    Same messages as ``notify.queue.enqueue`` (group = project, deduplication = event id), in
    two calls instead of twenty for a report full of messages; a failure is logged (the events
    are stored already).
    """
    wanted = [event for event in stored if queue.wanted(event["kind"])]
    for start in range(0, len(wanted), _SQS_BATCH):
        batch = wanted[start:start + _SQS_BATCH]
        try:
            answer = aws.client("sqs").send_message_batch(
                QueueUrl=queue.queue_url(config.notify_queue_name()), Entries=[
                    {"Id": str(n), "MessageBody": json.dumps({"event": event}),
                     "MessageGroupId": event["project"],
                     "MessageDeduplicationId": hashlib.sha256(event["id"].encode()).hexdigest()[:64]}
                    for n, event in enumerate(batch)])
            failed = answer.get("Failed") or []
        except Exception:  # noqa: BLE001 - a notice never fails the report (already stored)
            log.exception("could not queue %d events of %s for delivery", len(batch),
                          batch[0]["project"])
            continue
        for entry in failed:
            log.error("could not queue event %s for delivery: %s", batch[int(entry["Id"])]["id"],
                      entry.get("Message") or entry.get("Code"))


def _event(item, kind, detail, message, at):
    """An unsaved ``Event`` shaped as ``events.record`` stores one (it joins the transaction)."""
    sk = f"{at.strftime(_EVENT_AT)}#{uuid.uuid4().hex[:8]}"
    return Event(item.project, sk, day=events.day_key(item.project, sk, at), kind=kind,
                 actor=item.host, host=item.host,
                 message=message, detail=detail, at=at,
                 expires_at=at + datetime.timedelta(days=config.event_ttl_days()))


def _report_dict(stored):
    return {"phase": stored.phase, "status": stored.status, "exit_code": int(stored.exit_code),
            "output": stored.output or "", "truncated": bool(stored.truncated),
            "version": stored.version, "running_version": stored.running_version,
            "received_at": format_time(stored.received_at)}
