"""The promotion index: one small item per project that has ``promote_from``, so the tick finds
the projects it may promote without scanning or listing every project.

``PromotionLink`` items live in the rollouts table under one fixed partition, ``PARTITION``
(``fabu:promotions``: no project name holds a ':', and no link carries ``active_pk``, so neither a
project's rollouts nor the tick's ``active-index`` ever see them), sorted by the downstream
project's id. The project service writes a project's link before saving a spec with
``promote_from`` (``sync``) and removes it after a save without, or a delete (``forget``). The
index is only a pointer: the tick reads each project's stored spec and goes by that, and drops
a link whose project is gone or no longer promotes (``drop``), so a link left behind by a
failed write is harmless. ``downstreams`` reads at most ``MAX_LINKS`` links (one Query, paged).
"""
from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.models import _meta, delete_if
from chalicelib.times import utcnow

#: The partition of every link (the rollouts table's ``project`` key).
PARTITION = "fabu:promotions"
#: At most this many projects with ``promote_from`` are looked at per tick (``truncated`` says so).
MAX_LINKS = 2000


class PromotionLink(Model):
    """``downstream`` promotes from ``upstream`` (a pointer; the project's spec is the truth)."""
    Meta = _meta("rollouts")
    project = UnicodeAttribute(hash_key=True, default=PARTITION)
    rollout_id = UnicodeAttribute(range_key=True)  # the downstream project's id
    upstream = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute(default=utcnow)


def sync(project_id: str, spec: dict) -> None:
    """Write the link of a project whose spec has ``promote_from`` (call it BEFORE saving such
    a spec: a link without a promoting project is dropped by the tick, the reverse is never
    found). Does nothing for a spec without ``promote_from``."""
    upstream = (spec.get("promote_from") or {}).get("project")
    if upstream:
        PromotionLink(PARTITION, project_id, upstream=upstream, updated_at=utcnow()).save()


def forget(project_id: str) -> None:
    """Remove the project's link (after a save without ``promote_from``, or a delete)."""
    delete_if(PromotionLink(PARTITION, project_id))


def drop(link: PromotionLink) -> bool:
    """Remove a stale link unless it was rewritten since it was read (conditional)."""
    return delete_if(link, PromotionLink.updated_at == link.updated_at)


def downstreams(limit: int = MAX_LINKS) -> tuple[list[PromotionLink], bool]:
    """``(links, truncated)``: the links sorted by downstream id, at most ``limit``."""
    links = list(PromotionLink.query(PARTITION, limit=limit + 1))
    return links[:limit], len(links) > limit
