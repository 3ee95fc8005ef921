"""Drift, defined once: is a host running something other than what fabu deployed to it?

A host item is **judged** when its last deploy ended well and nothing is moving it: ``succeeded``,
``skipped``, ``rolled_back``, or ``idle`` with a version fabu gave it. Hosts waiting for a wave,
in flight (draining, pending, in progress) or gone (``left``) are not judged; neither are
``failed`` and ``lost`` hosts: their status already says something is wrong, and the version a
failed deploy's own rollback left running is not one fabu chose.

**expected** is the item's ``target_version``: the version fabu last deployed to the host
successfully (or the one a rollback went back to). **running** is the newest statement about the
host: what the agent last said its ``current`` release is (``seen_version`` at ``seen_at``, sent
with each poll, see ``hosts.poll``) or what the host's last report said (``running_version`` at
``reported_at``), whichever came later; ``None`` from the agent means "no current release". A
host nobody has said anything about is not judged. The host **drifted** when running differs from
expected. The project view, the daily report and the console (through the view) all call
``drift``; ``docs/host.md`` ("Drift") says the same for users.
"""
from chalicelib.states import HostStatus

#: Host items whose last deploy ended well: the only ones drift is judged on.
JUDGED = frozenset({HostStatus.SUCCEEDED, HostStatus.SKIPPED, HostStatus.ROLLED_BACK,
                    HostStatus.IDLE})


def agent_is_newer(item: object) -> bool:
    """True when the agent's last word on the host (``seen_at``) came after its last report."""
    seen_at, reported_at = getattr(item, "seen_at", None), getattr(item, "reported_at", None)
    return seen_at is not None and (reported_at is None or seen_at > reported_at)


def running(item: object) -> str | None:
    """The version the host runs by the newest statement (agent or report); None: nothing, or
    nobody said."""
    if agent_is_newer(item):
        return getattr(item, "seen_version", None)
    return getattr(item, "running_version", None)


def known(item: object) -> bool:
    """True when someone said what the host runs (the agent, or a report with a version)."""
    return getattr(item, "seen_at", None) is not None or getattr(item, "running_version", None) is not None


def expected(item: object) -> str | None:
    """The version the host should run when drift is judged on it, else None."""
    if getattr(item, "status", None) not in JUDGED:
        return None
    return getattr(item, "target_version", None) or None


def drift(item: object) -> dict | None:
    """``{"expected", "running"}`` when the host item drifted, else None (see the module)."""
    should = expected(item)
    if should is None or not known(item):
        return None
    now_running = running(item)
    if now_running == should:
        return None
    return {"expected": should, "running": now_running}
