"""Wave planning, pure: which hosts go in which wave, and how many failures a rollout tolerates.

Nothing here reads or writes storage; the engine and the project validator both size waves with
``wave_size``, so what a project's settings promise is what a rollout does. With
``rollout.zones`` the plan is zone-aware (``spread``: each wave across the zones;
``one_at_a_time``: zone after zone). See ``docs/rollouts.md`` ("Waves", "Zone-aware waves",
"Failure thresholds").
"""
import collections
import hashlib
import heapq
import re
from collections.abc import Iterable, Mapping, Sequence

from chalicelib.projects import schema

_PERCENT_RE = re.compile(r"(\d{1,3})%")
#: The zone group of hosts without a zone (``plan_waves``): it sorts after every named zone.
NO_ZONE = ""


def wave_size(spec: int | str, total: int) -> int:
    """The cumulative host count reached at the end of a wave spec: a count, or ``"10%"``
    of ``total`` rounded up; never more than ``total``."""
    if isinstance(spec, int):
        return min(spec, total)
    percent = int(_PERCENT_RE.fullmatch(spec).group(1))
    return min(total, -(-percent * total // 100))


def hash_key(project_id: str, host: str) -> str:
    """The stable sort key of ``host`` within ``project_id`` (same order from version to version)."""
    return hashlib.sha256(f"{project_id}/{host}".encode()).hexdigest()


def order_hosts(project_id: str, hosts: Sequence[str], canary_hosts: Iterable[str] = ()) -> list[str]:
    """Canary hosts first (as listed, if they are among ``hosts``), then the others in a stable
    hash order."""
    members = set(hosts)
    canaries = [h for h in canary_hosts if h in members]
    chosen = set(canaries)
    rest = sorted((h for h in hosts if h not in chosen), key=lambda h: hash_key(project_id, h))
    return canaries + rest


def plan_waves(project_id: str, hosts: Sequence[str], canary_hosts: Iterable[str],
               wave_specs: Iterable[int | str], *, zones: Mapping[str, str] | None = None,
               zone_mode: str | None = None) -> list[list[str]]:
    """The hosts of each wave: a list of lists, empty waves dropped, every host in one wave.

    ``zones`` (``{host: zone}``; a host missing from it is in the no-zone group) and
    ``zone_mode`` (``rollout.zones``: None, ``"spread"`` or ``"one_at_a_time"``) make the plan
    zone-aware; without either the plan is the hash order cut at the specs' sizes.
    """
    canary_hosts = list(canary_hosts)
    ordered = order_hosts(project_id, hosts, canary_hosts)
    sizes = _wave_sizes(wave_specs, len(ordered))
    if zone_mode is None or not zones:
        return _cut(ordered, sizes)
    if zone_mode not in schema.ZONE_MODES:
        raise ValueError(f"rollout.zones must be one of {', '.join(schema.ZONE_MODES)}, "
                         f"not {zone_mode!r}")
    chosen = set(canary_hosts)
    canaries = [h for h in ordered if h in chosen]
    rest = ordered[len(canaries):]
    zone_of = {h: zones.get(h) or NO_ZONE for h in ordered}
    if zone_mode == "spread":
        return _spread(canaries, rest, zone_of, sizes)
    return _one_at_a_time(canaries, rest, zone_of, sizes)


def _wave_sizes(wave_specs: Iterable[int | str], total: int) -> list[int]:
    """The size of each non-empty wave; hosts past the last spec form a last wave."""
    sizes, start = [], 0
    for spec in wave_specs:
        end = wave_size(spec, total)
        if end > start:
            sizes.append(end - start)
            start = end
    if start < total:
        sizes.append(total - start)
    return sizes


def _cut(ordered: list[str], sizes: list[int]) -> list[list[str]]:
    waves, start = [], 0
    for size in sizes:
        waves.append(ordered[start:start + size])
        start += size
    return waves


def _zone_key(zone: str) -> tuple[bool, str]:
    """Zones by name, the no-zone group last."""
    return zone == NO_ZONE, zone


def _groups(hosts: list[str], zone_of: Mapping[str, str]) -> dict[str, list[str]]:
    """``{zone: hosts}`` keeping the hash order within each zone, zones in ``_zone_key`` order."""
    groups: dict[str, list[str]] = {}
    for host in hosts:
        groups.setdefault(zone_of[host], []).append(host)
    return {zone: groups[zone] for zone in sorted(groups, key=_zone_key)}


def _spread(canaries: list[str], rest: list[str], zone_of: Mapping[str, str],
            sizes: list[int]) -> list[list[str]]:
    """Each wave takes its hosts from the zones in turn: the next host comes from the zone with
    the fewest hosts in this wave so far, then the fewest in all waves so far, then by name. The
    canaries come first and count for their zone. A heap per wave: O(hosts × log zones)."""
    groups = {zone: collections.deque(hosts) for zone, hosts in _groups(rest, zone_of).items()}
    order = {zone: index for index, zone in enumerate(sorted(
        set(groups) | {zone_of[h] for h in canaries}, key=_zone_key))}
    placed: collections.Counter = collections.Counter()
    queue = collections.deque(canaries)
    waves = []
    for size in sizes:
        wave: list[str] = []
        here: collections.Counter = collections.Counter()
        while queue and len(wave) < size:
            host = queue.popleft()
            wave.append(host)
            here[zone_of[host]] += 1
            placed[zone_of[host]] += 1
        heap = [(here[z], placed[z], order[z], z) for z in groups if groups[z]]
        heapq.heapify(heap)
        while len(wave) < size:
            _, _, rank, zone = heapq.heappop(heap)
            wave.append(groups[zone].popleft())
            here[zone] += 1
            placed[zone] += 1
            if groups[zone]:
                heapq.heappush(heap, (here[zone], placed[zone], rank, zone))
        waves.append(wave)
    return waves


def _one_at_a_time(canaries: list[str], rest: list[str], zone_of: Mapping[str, str],
                   sizes: list[int]) -> list[list[str]]:
    """Zone after zone: the canaries' zones first (in the canaries' order), then the others by
    name, the no-zone group last. A wave that would reach into the next zone ends at the zone's
    end and the rest of it is a wave of its own in the next zone; see ``_merge_to_limit``."""
    groups = _groups(rest, zone_of)
    first = list(dict.fromkeys(zone_of[h] for h in canaries))
    zone_order = first + [z for z in groups if z not in first]
    sequence = canaries + [h for zone in zone_order for h in groups.get(zone, [])]
    waves, start, end = [], 0, 0
    for size in sizes:
        end += size
        while start < end:
            stop = start + 1
            while stop < end and zone_of[sequence[stop]] == zone_of[sequence[start]]:
                stop += 1
            waves.append(sequence[start:stop])
            start = stop
    canary_waves = sum(1 for w in waves if set(canaries).intersection(w))
    return _merge_to_limit(waves, zone_of, canary_waves)


def _merge_to_limit(waves: list[list[str]], zone_of: Mapping[str, str],
                    canary_waves: int) -> list[list[str]]:
    """At most ``MAX_WAVES`` waves: merge the smallest pair of neighbouring waves of one zone
    (the later pair on a tie; never a canary wave) until the plan fits; if it still does not
    (more zones than waves allowed), the waves from the ``MAX_WAVES``-th on become one wave,
    which then spans the zones left."""
    while len(waves) > schema.MAX_WAVES:
        pairs = [i for i in range(canary_waves, len(waves) - 1)
                 if zone_of[waves[i][-1]] == zone_of[waves[i + 1][0]]]
        if not pairs:
            break
        i = min(reversed(pairs), key=lambda i: len(waves[i]) + len(waves[i + 1]))
        waves[i:i + 2] = [waves[i] + waves[i + 1]]
    if len(waves) > schema.MAX_WAVES:
        last = schema.MAX_WAVES - 1
        waves[last:] = [[h for wave in waves[last:] for h in wave]]
    return waves


def allowed_failures(max_failures: int | str | None, total: int) -> int:
    """How many failed or lost hosts a rollout tolerates: a count, or a percentage of its
    ``total`` hosts rounded down."""
    if isinstance(max_failures, str):
        return int(_PERCENT_RE.fullmatch(max_failures).group(1)) * total // 100
    return int(max_failures or 0)


def wave_counts(items: Iterable) -> dict[int, dict[str, int]]:
    """``{wave: {status: count}}`` from host items (anything with ``wave`` and ``status``)."""
    counts: dict[int, dict[str, int]] = {}
    for item in items:
        per_wave = counts.setdefault(int(item.wave), {})
        per_wave[item.status] = per_wave.get(item.status, 0) + 1
    return counts
