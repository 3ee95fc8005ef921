"""Promotion of the same artifact: a project with ``promote_from`` takes its upstream's release.

``promote_release`` is ``POST /api/v1/project/{id}/promote-release`` (body ``{version?, force?,
reason?}``); ``promote`` is the step it shares with the tick's automatic promotion
(``chalicelib.rollout.promotion_tick``). A promotion of version V:

1. finds the upstream's release V (it must be ``ready``: without an artifact there is nothing to
   promote, forced or not, 409) and the upstream's newest rollout of V (among its newest
   ``ROLLOUTS_SEARCHED``); unless ``force`` (which needs a ``reason``) that rollout must have
   ``succeeded`` and soaked ``promote_from.soak_seconds``, or the answer is a 409 naming where
   it stands ("staging's rollout of 2.1 is running (wave 1 of 3)");
2. writes ``Release(this project, V)`` as a copy of the upstream's item: the SAME object
   (``s3_key``, ``s3_version``, ``sha256``, ``size``, what its source resolved to), ``ready``,
   with ``promoted_from: {project, version, rollout_id, sha256, forced, reason, by, at, auto}``.
   The put is conditional on absence; a release already there with the same bytes is kept (a
   retry), one without an artifact (``awaiting_artifact``, ``failed``) is replaced, anything
   else is a 409;
3. sets the project's version to V through the project service's update (conditional on the
   revision read), which finds the release ready (``projects.store.ensure_release`` queues no
   build) and starts the rollout as any version change does (``rollout.changes.plan_change``).

Each step is idempotent, so a retry after a half failure completes it, and a second promotion
of the version the project already has answers 200 with ``promoted: false``. What changed is
recorded once as ``release.promoted`` (``{from, version, forced, reason, sha256, rollout_id,
auto}``) with the caller's ARN (``fabu:tick`` for an automatic one). The version defaults to the
upstream's newest succeeded rollout's version (a forced one: the newest rollout's), and a
defaulted version older than the project's own is refused (name it to go back).
"""
import datetime
from typing import Any

from chalicelib import events, versions
from chalicelib.build import releases
from chalicelib.errors import Conflict, ValidationError
from chalicelib.models import Project, Release, Rollout, save_if
from chalicelib.projects import service
from chalicelib.projects.store import load
from chalicelib.rollout import promotion_view
from chalicelib.rollout import view as rollout_view
from chalicelib.states import ReleaseState, RolloutState
from chalicelib.times import format_time, utcnow

#: The upstream's newest rollouts searched for the one of the version promoted.
ROLLOUTS_SEARCHED = 50
MAX_REASON = 500
_FIELDS = ("version", "force", "reason")
#: A release of this project in these states holds no artifact: a promotion replaces it.
_REPLACEABLE = (ReleaseState.AWAITING_ARTIFACT, ReleaseState.FAILED)
#: Attributes of the upstream's release that are not copied (the copy's own are set).
_NOT_COPIED = frozenset({"project", "version", "state", "created_at", "updated_at", "ready_at",
                         "build_id", "attempts", "error", "promoted_from"})


def promote_release(project_id: str, body: Any, actor: str) -> dict:
    """``POST /api/v1/project/{id}/promote-release`` (see the module docstring): 404 for an
    unknown project, 409 without ``promote_from`` or when the upstream's rollout is not done,
    400 for a bad body. Answers the promotion and the project's rollout after it."""
    version, force, reason = _check(body)
    project = load(project_id)
    link = project.spec.get("promote_from")
    if not link:
        raise Conflict(f"project {project_id!r} has no promote_from: set promote_from.project to "
                       "the project whose releases it takes (e.g. staging) before promoting")
    done = promote(project, link, version, actor, force=force, reason=reason)
    return dict(done, rollout=rollout_view.summary(project_id))


def _check(body: Any) -> tuple[str | None, bool, str | None]:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    problems = {key: "unknown field: use version, force, reason" for key in body
                if key not in _FIELDS}
    version, force, reason = body.get("version"), body.get("force", False), body.get("reason")
    if version is not None and not versions.is_valid(version):
        problems["version"] = "must be a version such as 2.1.0"
    if not isinstance(force, bool):
        problems["force"] = "must be true or false"
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        problems["reason"] = f"must be a text of at most {MAX_REASON} characters"
    elif force is True and not (reason or "").strip():
        problems["reason"] = "is required with force=true: say why this promotion skips the checks"
    if problems:
        path, message = next(iter(problems.items()))
        raise ValidationError(f"invalid promotion: {path} {message}", problems)
    return version, force, reason.strip() if isinstance(reason, str) else None


def promote(project: Project, link: dict, version: str | None, actor: str, *, force: bool = False,
            reason: str | None = None, auto: bool = False,
            now: datetime.datetime | None = None) -> dict:
    """Promote ``version`` (None: the default, see the module docstring) of ``link["project"]``
    into ``project``; ``{project, version, promoted, forced, reason, from, release}``."""
    now = now or utcnow()
    upstream, soak = link["project"], int(link.get("soak_seconds") or 0)
    recent = list(Rollout.query(upstream, scan_index_forward=False, limit=ROLLOUTS_SEARCHED))
    defaulted = version is None
    if defaulted:
        version = _default_version(upstream, recent, force)
    rollout = next((r for r in recent if r.version == version), None)
    source = releases.get(upstream, version)
    if source is None or source.state != ReleaseState.READY or not source.sha256:
        state = f"is {source.state}" if source is not None else "does not exist"
        raise Conflict(f"cannot promote {version} from {upstream}: {upstream}'s release {version} "
                       f"{state}, so there is no artifact to promote (even forced)")
    problem = _problem(rollout, upstream, version, soak, now)
    if problem and not force:
        raise Conflict(f"cannot promote {version} from {upstream}: {problem}; to promote it "
                       "anyway send force=true with a reason")
    current = project.spec["version"]
    if defaulted and versions.compare(version, current) < 0:
        raise Conflict(f"{project.id} is at {current}, newer than {upstream}'s newest succeeded "
                       f"{version}: name the version to promote to go back")
    record = {"project": upstream, "version": version,
              "rollout_id": rollout.rollout_id if rollout else None, "sha256": source.sha256,
              "forced": force, "reason": reason, "overrode": problem if force else None,
              "by": actor, "at": format_time(now), "auto": auto}
    release, wrote = _put_release(project.id, source, record, now)
    changed = _set_version(project, version, actor)
    if wrote or changed:
        detail = {"from": upstream, "version": version, "forced": force, "reason": reason,
                  "sha256": source.sha256, "rollout_id": record["rollout_id"], "auto": auto}
        how = " automatically after its soak" if auto else ""
        forced = f", forced ({reason}) past: {problem}" if force and problem else ""
        events.record(project.id, "release.promoted", actor, detail,
                      message=f"release {version} promoted from {upstream}{how} "
                              f"(sha256 {source.sha256[:12]}){forced}")
    return {"project": project.id, "version": version, "promoted": wrote or changed,
            "forced": force, "reason": reason,
            "from": {"project": upstream, "version": version, "rollout_id": record["rollout_id"],
                     "state": rollout.state if rollout else None,
                     "summary": promotion_view.describe(rollout, soak, now) if rollout else None},
            "release": releases.to_dict(release)}


def _default_version(upstream: str, recent: list[Rollout], force: bool) -> str:
    """The newest version whose newest rollout succeeded (forced: the newest rollout's)."""
    if force and recent:
        return recent[0].version
    seen = set()
    for rollout in recent:
        if rollout.version in seen:
            continue
        seen.add(rollout.version)
        if rollout.state == RolloutState.SUCCEEDED:
            return rollout.version
    newest = f" (newest: {promotion_view.describe(recent[0], 0, utcnow())})" if recent else ""
    raise Conflict(f"cannot promote from {upstream}: none of its newest {ROLLOUTS_SEARCHED} "
                   f"rollouts succeeded{newest}; name a version and force it, with a reason")


def _problem(rollout: Rollout | None, upstream: str, version: str, soak: int,
             now: datetime.datetime) -> str | None:
    """Why ``version`` may not be promoted yet (None when its rollout succeeded and soaked)."""
    if rollout is None:
        return (f"{upstream} has not rolled out {version} (not among its newest "
                f"{ROLLOUTS_SEARCHED} rollouts)")
    until = promotion_view.soak_until(rollout, soak)
    if rollout.state != RolloutState.SUCCEEDED or (until is not None and until > now):
        return promotion_view.describe(rollout, soak, now)
    return None


def _same(release: Release, source: Release) -> bool:
    return (release.state == ReleaseState.READY and release.sha256 == source.sha256
            and release.s3_key == source.s3_key)


def _put_release(project_id: str, source: Release, record: dict,
                 now: datetime.datetime) -> tuple[Release, bool]:
    """Write the copy of ``source`` for ``project_id``: ``(release, written)``; see step 2."""
    values = {k: v for k, v in source.attribute_values.items() if k not in _NOT_COPIED}
    copy = Release(project_id, source.version, **values, state=ReleaseState.READY,
                   promoted_from=record, attempts=0, created_at=now, updated_at=now, ready_at=now)
    if save_if(copy, Release.version.does_not_exist()):
        return copy, True
    existing = releases.get(project_id, source.version)
    if existing is not None and _same(existing, source):
        return existing, False
    if existing is not None and existing.state in _REPLACEABLE:
        copy.created_at = existing.created_at
        if save_if(copy, (Release.state == existing.state) &
                   (Release.updated_at == existing.updated_at)):
            return copy, True
    if existing is None or existing.state in _REPLACEABLE:
        raise Conflict(f"release {source.version} of {project_id} changed while it was being "
                       "promoted: retry")
    raise Conflict(f"{project_id} already has a release {source.version} ({existing.state}, "
                   f"sha256 {existing.sha256 or 'unknown'}) that is not {record['project']}'s "
                   f"(sha256 {source.sha256}): versions are immutable, promote a new version")


def _set_version(project: Project, version: str, actor: str) -> bool:
    """The project's version becomes ``version`` (the service's update: the rollout starts);
    False when it already was (a retry, or a racing promotion got there first)."""
    if project.spec["version"] == version:
        return False
    try:
        service.update(project.id, {"version": version}, actor, if_match=int(project.rev))
    except Conflict:
        if load(project.id).spec["version"] == version:
            return False
        raise
    return True
