"""The deploy script a host fetches: lease its ready items and render one script for all of them.

Every item a poll would announce is handed out (``pending → in_progress``, conditional on its
``deploy_id``, with a lease) when its project still exists and, for a deploy, its release is
``ready``; the others stay pending, never half-sent. The leased items go into one script in
dependency order, each with a presigned URL of its artifact: of the object *version* the build or
the CI upload verified (``Release.s3_version``), so bytes written to the key later never reach a
host.
"""
import datetime

from chalicelib import aws, config
from chalicelib.hosts import beat, script
from chalicelib.hosts.poll import check_host_name, split_ready
from chalicelib.models import HostState, Project, Release, update_if, wave_key
from chalicelib.rollout import dependencies
from chalicelib.states import HOST_PENDING, DeployKind, HostStatus, ReleaseState
from chalicelib.times import format_time, utcnow

PRESIGN_SECONDS = 900


def deploy_script(host: str, now: datetime.datetime | None = None) -> str:
    """Lease every ready item of ``host`` and render one script for all of them."""
    check_host_name(host)
    now = now or utcnow()
    ready, _ = split_ready(beat.items_of(host, consistent_read=True))
    specs = {p.id: p.spec for p in Project.batch_get([i.project for i in ready])} if ready else {}
    wanted = [(i.project, i.target_version) for i in ready if i.deploy_kind != DeployKind.ROLLBACK]
    found = {(r.project, r.version): r for r in Release.batch_get(wanted)} if wanted else {}
    leased = {}
    for item in ready:
        spec = specs.get(item.project)
        release = found.get((item.project, item.target_version))
        if spec is None or (item.deploy_kind != DeployKind.ROLLBACK
                            and (release is None or release.state != ReleaseState.READY)):
            continue  # project deleted or artifact not ready: leave it pending, never half-send
        if _lease(item, now):
            leased[item.project] = _script_item(item, spec, release)
    ordered = dependencies.order(
        list(leased), lambda name: [d["project"] for d in specs[name].get("depends_on", [])])
    return script.render_deploy_script(host, [leased[name] for name in ordered],
                                       generated_at=format_time(now))


def _script_item(item, spec, release):
    """The renderer's data for one leased item (``release`` is None for a rollback)."""
    rollout = spec.get("rollout", {})
    kind = DeployKind.ROLLBACK if item.deploy_kind == DeployKind.ROLLBACK else DeployKind.DEPLOY
    data = {"kind": kind, "project": item.project, "version": item.target_version,
            "deploy_id": item.deploy_id, "artifact": None,
            "deb_dependencies": spec.get("deb_dependencies", []),
            "scripts": {k: v for k, v in (spec.get("scripts") or {}).items() if v},
            "timeouts": spec.get("timeouts") or {},
            "health_timeout": rollout.get("health_timeout", 60), "health_interval": 5,
            "auto_rollback": rollout.get("auto_rollback", True),
            "keep_releases": rollout.get("keep_releases", 5), "min_free_mb": 100,
            # the config in force now (a rollback too); secrets are fetched by the host
            "config": spec.get("config") or {}, "config_revision": int(item.target_revision or 0)}
    if kind == DeployKind.ROLLBACK:
        data["reason"] = item.reason or "rollback requested by the platform"
    else:
        data["artifact"] = {"url": _artifact_url(release), "sha256": release.sha256,
                            "size": int(release.size or 0)}
    return data


def _lease(item, now):
    """``pending → in_progress`` for this exact deploy; False when someone else moved it first."""
    return update_if(item, [HostState.status.set(HostStatus.IN_PROGRESS),
                            HostState.wave_key.set(wave_key(item.wave, HostStatus.IN_PROGRESS,
                                                            item.host)),
                            HostState.leased_at.set(now), HostState.last_seen.set(now),
                            HostState.blocked_reason.remove(), HostState.updated_at.set(now)],
                     (HostState.deploy_id == item.deploy_id) & HostState.status.is_in(*HOST_PENDING))


def _artifact_url(release):
    """A presigned GET of the release's verified object version (its key alone for a release
    verified before versions were recorded)."""
    params = {"Bucket": config.release_bucket(), "Key": release.s3_key}
    if release.s3_version:
        params["VersionId"] = release.s3_version
    return aws.client("s3").generate_presigned_url("get_object", Params=params,
                                                   ExpiresIn=PRESIGN_SECONDS)
