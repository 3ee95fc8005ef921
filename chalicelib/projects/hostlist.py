"""The project's listed hosts (``spec.hosts``), read one way everywhere.

An entry of ``hosts`` is a host name, or ``{"name": ..., "zone": ...}`` for a host whose
Availability Zone (or any failure-domain label) the zone-aware wave plan should know. Every reader
of a project's listed hosts goes through ``names`` and ``zones``; members found by the fleet sync
(``spec.fleet``) are host items, not entries here.
"""
from collections.abc import Mapping


def _name(entry: object) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
        return entry["name"]
    return None


def names(spec: Mapping) -> list[str]:
    """The listed host names of ``spec``, in order (entries that are not hosts are left out)."""
    return [n for n in (_name(e) for e in spec.get("hosts") or []) if n is not None]


def zones(spec: Mapping) -> dict[str, str]:
    """``{host: zone}`` of the listed hosts that carry a ``zone``."""
    return {e["name"]: e["zone"] for e in spec.get("hosts") or []
            if isinstance(e, Mapping) and isinstance(e.get("name"), str)
            and isinstance(e.get("zone"), str)}
