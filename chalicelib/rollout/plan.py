"""Wave planning, pure: which hosts go in which wave, and how many failures a rollout tolerates.

Nothing here reads or writes storage; the engine and the project validator both size waves with
``wave_size``, so what a project's settings promise is what a rollout does. See
``docs/rollouts.md`` ("Waves", "Failure thresholds").
"""
import hashlib
import re
from collections.abc import Iterable, Sequence

_PERCENT_RE = re.compile(r"(\d{1,3})%")


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
               wave_specs: Iterable[int | str]) -> list[list[str]]:
    """The hosts of each wave: a list of lists, empty waves dropped, every host in one wave."""
    ordered = order_hosts(project_id, hosts, canary_hosts)
    waves, start = [], 0
    for spec in wave_specs:
        end = wave_size(spec, len(ordered))
        if end > start:
            waves.append(ordered[start:end])
            start = end
    if start < len(ordered):
        waves.append(ordered[start:])
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
