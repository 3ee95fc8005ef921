"""The hosts a rollout plans: the listed hosts and the fleet's members, with their zones.

A project's hosts are its listed ``hosts`` (``projects.hostlist``) plus, when it has a ``fleet``,
the members the fleet sync (``chalicelib.fleet``) keeps as host items (``member = "fleet"``) that
have not ``left``. A host both listed and a member is one host, listed (its listed zone wins).
A rollout of a project whose fleet has not been synced for its current selector yet waits for
the next tick's sync (``sync_blocker``), so its first wave is planned from real members.
"""
from collections.abc import Iterable, Mapping

from chalicelib.fleet import memberset, selectors
from chalicelib.models import HostState, Project, Rollout
from chalicelib.projects import hostlist
from chalicelib.states import HOST_GONE
from chalicelib.times import format_time


def planned(spec: Mapping, items: Iterable[HostState]) -> tuple[list[str], dict[str, str]]:
    """``(hosts, {host: zone})``: listed hosts in order, then fleet members by name."""
    hosts = hostlist.names(spec)
    zones = dict(hostlist.zones(spec))
    if spec.get("fleet"):
        seen = set(hosts)
        for item in sorted(items, key=lambda i: i.host):
            if item.member == memberset.FLEET and item.status not in HOST_GONE \
                    and item.host not in seen:
                hosts.append(item.host)
                seen.add(item.host)
                if item.zone:
                    zones.setdefault(item.host, item.zone)
    return hosts, zones


def sync_blocker(project: Project) -> str | None:
    """Why a rollout of ``project`` may not plan yet: its fleet was never synced for its current
    selector (one GetItem); None for a project without a fleet, or once it synced."""
    fleet = (project.spec or {}).get("fleet")
    if not fleet:
        return None
    meta = memberset.meta(project.id)
    if meta is not None and meta.key == selectors.fleet_key(fleet, format_time(project.created_at)):
        return None
    why = f": {meta.error}" if meta is not None and meta.error else ""
    return f"waiting for the first sync of the fleet ({selectors.describe(fleet)}){why}"


def none_released(rollout: Rollout, items: list[HostState]) -> bool:
    """No released host item is visible while the released waves still count hosts (the index
    lags a planning write): not "all done" yet. Waves emptied by leavers count no host."""
    return not items and sum((rollout.waves or [])[:int(rollout.wave) + 1]) > 0
