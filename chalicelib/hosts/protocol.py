"""The host protocol: the poll, the deploy script a host fetches, and its phase reports.

* ``poll`` is the hot path (100k hosts every 5 minutes ≈ 333 req/s): **one Query** on the host's
  partition of ``HostState``, and no write unless the amortised heartbeat is due (at most once
  per ``FABU_HEARTBEAT_SECONDS``, default 15 minutes, per item).
* ``deploy_script`` hands out every pending item (``pending → in_progress``, conditional on its
  ``deploy_id``, with a lease) and renders one script for all of them in dependency order.
* ``report`` stores each phase report once per (``deploy_id``, ``phase``) and moves the host's
  item to its outcome with a write conditional on the same ``deploy_id``: a late report of an
  older deploy is kept for the record but never changes the state of a newer one.
"""
import datetime
import re

from pynamodb.exceptions import PutError, UpdateError

from chalicelib import aws, config, events, versions
from chalicelib.rollout import dependencies
from chalicelib.errors import NotFound, ValidationError
from chalicelib.models import (HostState, Project, Release, Report, condition_failed, utcnow,
                               wave_key)
from chalicelib.projects.validation import host_name_problem, SLUG_RE

PENDING = ("pending", "rollback_pending")
PHASES = ("pre-deploy", "do-deploy", "post-deploy", "rollback")
STATUSES = ("ok", "failed", "skipped", "interrupted")
MAX_OUTPUT = 70 * 1024
OUTPUT_TAIL = 4 * 1024
PRESIGN_SECONDS = 900
REPORT_TTL_DAYS = 90
_MESSAGE_RE = re.compile(r"^::fabu::(info|warn|error)\s+(.{1,1000})$", re.MULTILINE)


def check_host_name(host):
    problem = host_name_problem(host)
    if problem:
        raise ValidationError(f"bad host name: {problem}", {"host": problem})
    return host


def _dependency_block(item, by_project):
    """Why ``item`` must wait for another project on this same host, or None."""
    for dep in item.depends_on or []:
        other = by_project.get(dep["project"])
        if other is None:
            continue  # not on this host: the rollout engine gates on the dependency's rollout
        spec = dep.get("version") or ">=0"
        if not versions.satisfies(other.running_version, spec):
            return "blocked: waiting for %s %s on this host (running %s)" % (
                dep["project"], spec, other.running_version or "nothing")
    return None


def _heartbeat(items, now):
    """Touch ``last_seen`` on items whose heartbeat is older than the interval (amortised)."""
    due = now - datetime.timedelta(seconds=config.heartbeat_seconds())
    for item in items:
        if item.last_seen is not None and item.last_seen > due:
            continue
        try:
            item.update(actions=[HostState.last_seen.set(now)],
                        condition=HostState.last_seen.does_not_exist() | (HostState.last_seen <= due))
        except UpdateError:
            pass  # another poll of the same host wrote it first


def _split(items):
    by_project = {item.project: item for item in items}
    ready, blocked = [], []
    for item in items:
        if item.status not in PENDING:
            continue
        reason = _dependency_block(item, by_project) if item.status == "pending" else None
        (blocked if reason else ready).append((item, reason))
    return ready, blocked


def _note_blocked(blocked, now):
    """Record a new blocked reason once (an event and the item), not on every poll."""
    for item, reason in blocked:
        if item.blocked_reason == reason:
            continue
        try:
            item.update(actions=[HostState.blocked_reason.set(reason)],
                        condition=HostState.deploy_id == item.deploy_id)
        except UpdateError:
            continue
        events.record(item.project, "host.blocked", "fabu", {"deploy_id": item.deploy_id,
                                                             "version": item.target_version},
                      host=item.host, message=reason)


def poll(host, now=None):
    """The summary of what is pending for ``host`` now, or None (→ 204)."""
    now = now or utcnow()
    items = list(HostState.query(host))
    _heartbeat(items, now)
    ready, blocked = _split(items)
    _note_blocked(blocked, now)
    if not ready:
        return None
    return {"host": host,
            "pending": [{"project": i.project, "version": i.target_version, "kind": i.deploy_kind,
                         "deploy_id": i.deploy_id} for i, _ in ready],
            "blocked": [{"project": i.project, "reason": r} for i, r in blocked]}


def _lease(item, now):
    """``pending → in_progress`` for this exact deploy; False when someone else moved it."""
    try:
        item.update(actions=[HostState.status.set("in_progress"),
                             HostState.wave_key.set(wave_key(item.wave, "in_progress", item.host)),
                             HostState.leased_at.set(now), HostState.last_seen.set(now),
                             HostState.blocked_reason.remove(), HostState.updated_at.set(now)],
                    condition=(HostState.deploy_id == item.deploy_id)
                    & HostState.status.is_in(*PENDING))
        return True
    except UpdateError:
        return False


def _presigned_get(key):
    return aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": config.release_bucket(), "Key": key},
        ExpiresIn=PRESIGN_SECONDS)


def _deploy_item(item, spec, release):
    rollout = spec.get("rollout", {})
    data = {"kind": "rollback" if item.deploy_kind == "rollback" else "deploy",
            "project": item.project, "version": item.target_version, "deploy_id": item.deploy_id,
            "artifact": None, "deb_dependencies": spec.get("deb_dependencies", []),
            "scripts": {k: v for k, v in (spec.get("scripts") or {}).items() if v},
            "health_timeout": rollout.get("health_timeout", 60), "health_interval": 5,
            "auto_rollback": rollout.get("auto_rollback", True),
            "keep_releases": rollout.get("keep_releases", 5), "min_free_mb": 100}
    if data["kind"] == "rollback":
        data["reason"] = item.reason or "rollback requested by the platform"
    else:
        data["artifact"] = {"url": _presigned_get(release.s3_key), "sha256": release.sha256,
                            "size": int(release.size or 0)}
    return data


def deploy_script(host, now=None):
    """Lease every ready item of ``host`` and render one script for all of them."""
    from chalicelib.hosts import script
    now = now or utcnow()
    ready, _ = _split(list(HostState.query(host, consistent_read=True)))
    specs = {p.id: p.spec for p in Project.batch_get([i.project for i, _ in ready])} if ready else {}
    wanted = [(i.project, i.target_version) for i, _ in ready if i.deploy_kind != "rollback"]
    found = {(r.project, r.version): r for r in Release.batch_get(wanted)} if wanted else {}
    leased = {}
    for item, _ in ready:
        spec = specs.get(item.project)
        release = found.get((item.project, item.target_version))
        if spec is None or (item.deploy_kind != "rollback"
                            and (release is None or release.state != "ready")):
            continue  # project deleted or artifact not ready: leave it pending, never half-send
        if _lease(item, now):
            leased[item.project] = _deploy_item(item, spec, release)
    ordered = dependencies.order(
        list(leased), lambda name: [d["project"] for d in specs[name].get("depends_on", [])])
    return script.render_deploy_script(host, [leased[name] for name in ordered],
                                       generated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _validate_report(body):
    fields = {}
    project = body.get("project")
    if not isinstance(project, str) or not SLUG_RE.match(project):
        fields["project"] = "must be a project name"
    if not versions.is_valid(body.get("version")):
        fields["version"] = "must be a version string"
    deploy_id = body.get("deploy_id")
    if not isinstance(deploy_id, str) or not re.match(r"^[A-Za-z0-9_.:-]{1,100}$", deploy_id):
        fields["deploy_id"] = "must be the deploy_id of the script"
    if body.get("phase") not in PHASES:
        fields["phase"] = f"must be one of {', '.join(PHASES)}"
    if body.get("status") not in STATUSES:
        fields["status"] = f"must be one of {', '.join(STATUSES)}"
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
        first = next(iter(fields.items()))
        raise ValidationError("invalid report: %s %s" % first, fields)


def _outcome(item, phase, status):
    """The item's new status after this report (None: unchanged, still in progress)."""
    if item.deploy_kind == "rollback":
        if phase == "rollback":  # skipped: the host already runs the version asked for
            return "rolled_back" if status in ("ok", "skipped") else "failed"
        return "failed" if status in ("failed", "interrupted") else None
    if status in ("failed", "interrupted"):
        return "failed"
    if status == "skipped" or (phase == "post-deploy" and status == "ok"):
        return "succeeded"
    return None


def _store_report(host, body, now):
    report = Report(body["deploy_id"], body["phase"], host=host, project=body["project"],
                    version=body["version"], status=body["status"],
                    exit_code=body.get("exit_code", 0), output=body.get("output") or None,
                    truncated=bool(body.get("truncated")),
                    running_version=body.get("running_version") or None, received_at=now,
                    expires_at=now + datetime.timedelta(days=REPORT_TTL_DAYS))
    try:
        report.save(Report.phase.does_not_exist())
        return True
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise


def report(host, body, now=None):
    """Store one phase report and apply its outcome; a repeat of the same phase is a no-op."""
    now = now or utcnow()
    _validate_report(body)
    try:
        item = HostState.get(host, body["project"], consistent_read=True)
    except HostState.DoesNotExist:
        raise NotFound(f"host {host} has no deploy of project {body['project']!r}") from None
    if not _store_report(host, body, now):
        return {"accepted": True, "duplicate": True, "status": item.status}
    if item.deploy_id != body["deploy_id"]:
        _record_running_version(item, body, now)
        return {"accepted": True, "stale": True, "status": item.status}
    new_status = _outcome(item, body["phase"], body["status"])
    actions = [HostState.reported_at.set(now), HostState.last_seen.set(now),
               HostState.last_phase.set(body["phase"]), HostState.last_status.set(body["status"]),
               HostState.last_output.set((body.get("output") or "")[-OUTPUT_TAIL:] or None),
               HostState.leased_at.set(now), HostState.updated_at.set(now)]
    if body.get("running_version"):
        actions.append(HostState.running_version.set(body["running_version"]))
    if new_status and not (item.status == "failed" and body["phase"] == "rollback"):
        actions += [HostState.status.set(new_status),
                    HostState.wave_key.set(wave_key(item.wave, new_status, host))]
    try:
        item.update(actions=actions, condition=HostState.deploy_id == body["deploy_id"])
    except UpdateError:
        return {"accepted": True, "stale": True, "status": item.status}
    _record_events(item, body, new_status)
    return {"accepted": True, "status": item.status}


def _record_running_version(item, body, now):
    if not body.get("running_version"):
        return
    try:
        item.update(actions=[HostState.running_version.set(body["running_version"]),
                             HostState.last_seen.set(now)],
                    condition=HostState.deploy_id == item.deploy_id)
    except UpdateError:
        pass


def _record_events(item, body, new_status):
    output = body.get("output") or ""
    detail = {"deploy_id": body["deploy_id"], "version": body["version"], "phase": body["phase"],
              "status": body["status"], "exit_code": body.get("exit_code", 0),
              "running_version": body.get("running_version")}
    for level, text in _MESSAGE_RE.findall(output):
        events.record(item.project, "host.message", item.host, dict(detail, level=level),
                      host=item.host, message=text.strip())
    if body["phase"] == "rollback":
        kind = "host.rolled_back" if body["status"] in ("ok", "skipped") else "host.rollback_failed"
    elif new_status in ("succeeded", "failed"):
        kind = f"host.{new_status}"
        if body["status"] == "interrupted":
            kind = "host.interrupted"
    else:
        return
    if body["status"] not in ("ok", "skipped"):
        detail["output_tail"] = output[-2000:]
    events.record(item.project, kind, item.host, detail, host=item.host,
                  message=f"{item.host} {body['version']}: {body['phase']} {body['status']}")
