"""Automatic promotion, the tick's stage-wide step: projects with ``promote_from.auto`` take
their upstream's version once its rollout succeeded and soaked.

Once per tick (``run_in_tick``, isolated in its own thread within its budget, never raising):

* while the stage is frozen (or its freeze could not be read) nothing is promoted; the chain
  view says why (``promotion_view.hold``);
* the projects that promote from another are found through the promotion index
  (``promotion_links``: one Query, at most ``promotion_links.MAX_LINKS``; ``truncated`` says
  when hit) and read in BatchGetItems of 100 — never a scan of the projects;
* for each with ``auto``: the upstream's newest rollout (one Query per upstream, shared by its
  downstreams) must have succeeded, soaked ``soak_seconds`` and be of a version newer than the
  project's (never back down, e.g. after the upstream rolled back); the project's own newest
  rollout must not be under way (it is left alone until it ends; one that only waits for an
  artifact it will never get is replaced: ``promotion_view.stuck``); then ``promotions.promote``;
* each project in isolation: a failure is logged and told once on that project
  (``release.promotion_failed``), and the others go on; two ticks racing promote once (every
  write is conditional, see ``promotions``). Projects not reached within the budget are listed
  in ``more`` and come first on the next tick (they sort first again: by id).
"""
import datetime
import logging
import time

from chalicelib.models import Project, Rollout
from chalicelib.rollout import engine, failures, promotion_links, promotion_view, promotions, store
from chalicelib.rollout.summary_page import MAX_PAGE, batch

log = logging.getLogger("fabu.tick")

#: How long the tick waits past the step's budget before it goes on without it.
GRACE_SECONDS = 5
FAILED_KIND = "release.promotion_failed"


def run_in_tick(now: datetime.datetime, frozen: object, budget: float) -> dict:
    """``run`` within ``budget`` seconds, isolated: never raises, never holds the tick long."""
    return failures.isolated(lambda deadline: run(now, frozen, deadline), budget, GRACE_SECONDS,
                             "automatic promotion")


def run(now: datetime.datetime, frozen: object, deadline: float) -> dict:
    """One pass by ``deadline`` (``time.monotonic``). ``frozen``: the tick's freeze read (a
    ``Freeze``, None, or ``engine.UNREAD``). The outcome::

        {"promoted": {project: version}, "errors": {project: why}, "dropped": [stale links],
         "more": [projects not reached], "truncated": bool, "frozen": reason or None}
    """
    outcome = {"promoted": {}, "errors": {}, "dropped": [], "more": [], "truncated": False,
               "frozen": None}
    if frozen is engine.UNREAD or isinstance(frozen, str):
        outcome["frozen"] = "the stage's freeze could not be read: nothing is promoted"
        return outcome
    if frozen is not None:
        outcome["frozen"] = frozen.reason
        return outcome
    links, outcome["truncated"] = promotion_links.downstreams()
    if outcome["truncated"]:
        log.warning("tick: more than %d projects promote from another: the rest wait",
                    promotion_links.MAX_LINKS)
    upstreams: dict[str, Rollout | None] = {}
    for start in range(0, len(links), MAX_PAGE):
        chunk = links[start:start + MAX_PAGE]
        if time.monotonic() > deadline:
            outcome["more"].extend(link.rollout_id for link in links[start:])
            break
        found = batch(Project, [(link.rollout_id,) for link in chunk])
        for index, link in enumerate(chunk):
            if time.monotonic() > deadline:
                outcome["more"].extend(rest.rollout_id for rest in chunk[index:])
                break
            _one(link, found.get((link.rollout_id,)), upstreams, now, outcome)
        else:
            continue
        outcome["more"].extend(link.rollout_id for link in links[start + MAX_PAGE:])
        break
    if outcome["errors"] or outcome["more"]:
        log.warning("tick: automatic promotion: errors %s, not reached %s",
                    sorted(outcome["errors"]), outcome["more"][:20])
    return outcome


def _one(link: promotion_links.PromotionLink, project: Project | None,
         upstreams: dict[str, Rollout | None], now: datetime.datetime, outcome: dict) -> None:
    """Promote one project if due; its failure is its own (logged, told once, reported)."""
    project_id = link.rollout_id
    try:
        spec_link = (project.spec.get("promote_from") or {}) if project is not None else {}
        if not spec_link.get("project"):
            if promotion_links.drop(link):
                outcome["dropped"].append(project_id)
            return
        if not spec_link.get("auto"):
            return
        upstream = spec_link["project"]
        if upstream not in upstreams:
            upstreams[upstream] = store.newest(upstream)
        newest = upstreams[upstream]
        soak = int(spec_link.get("soak_seconds") or 0)
        candidate, blocked = promotion_view.judge(newest, upstream, project.spec["version"],
                                                  project_id, soak, now)
        if candidate is None or blocked:
            return
        if promotion_view.busy(store.newest(project_id)):
            return  # left alone until its own rollout ends
        done = promotions.promote(project, spec_link, candidate, engine.TICK_ACTOR, auto=True,
                                  now=now)
        if done["promoted"]:
            outcome["promoted"][project_id] = candidate
    except Exception as exc:  # noqa: BLE001 - one project's failure never stops another's
        log.exception("tick: promoting into %s failed", project_id)
        why = failures.describe(exc)
        outcome["errors"][project_id] = why
        try:
            failures.tell_once(project_id, FAILED_KIND, engine.TICK_ACTOR,
                               f"automatic promotion failed: {why}", {"error": why})
        except Exception:  # noqa: BLE001 - the event is a courtesy; the log has it
            log.exception("tick: could not record the failed promotion of %s", project_id)
