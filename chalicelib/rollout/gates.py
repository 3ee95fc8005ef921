"""The before-wave approval gate: ask the project's webhook before a wave starts.

Project spec ``gates`` (validated in ``chalicelib.projects``)::

    {"before_wave": {"url", "secret"?, "timeout_seconds"?, "deadline_seconds"?},
     "after":       {"url", "secret"?, "timeout_seconds"?}}

``check_before_wave`` is called by the rollout engine right before it releases a wave. It POSTs a
signed JSON body (same signature as the notification webhooks) and answers a ``Verdict``:

* ``ok``: the gate answered 2xx — release the wave;
* not ``ok``, not ``pause``: keep waiting (the engine asks again on its next tick); the first
  refusal is remembered on the rollout (``Rollout.gate``) so the deadline survives restarts;
* not ``ok`` and ``pause``: ``deadline_seconds`` (default 1 hour) have passed since the first
  attempt — pause the rollout with ``reason``.

``hold`` applies a negative verdict to the rollout (pause, or leave it waiting) so wiring the
engine is three lines. The ``after`` gate hears a rollout's outcome as a delivery of the notifier
(``chalicelib.notify.notifications``), off the hot path and with its retries.
"""
import datetime

from chalicelib import events
from chalicelib.notify import webhooks
from chalicelib.models import Project, Rollout, utcnow
from chalicelib.projects.validation import format_time

ACTOR = "fabu:gate"
DEFAULT_TIMEOUT = 10
DEFAULT_DEADLINE = 3600


class Verdict(tuple):
    """``(ok, reason)``, unpackable as a pair, plus ``pause``: the wait is over, pause the rollout."""

    def __new__(cls, ok, reason=None, pause=False):
        verdict = super().__new__(cls, (ok, reason))
        verdict.pause = pause
        return verdict

    @property
    def ok(self):
        return self[0]

    @property
    def reason(self):
        return self[1]



def _parse(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _hook(spec, name):
    hook = (spec.get("gates") or {}).get(name)
    return {"url": hook} if isinstance(hook, str) else hook


def _spec(project_id):
    try:
        return Project.get(project_id).spec or {}
    except Project.DoesNotExist:
        return {}


def _waiting_state(rollout, wave):
    """The remembered first refusal for this wave, unless someone touched the rollout since.

    A pause, resume or promote rewrites ``Rollout.reason``; a changed reason starts a new wait.
    """
    state = rollout.gate
    if state and state.get("wave") == wave and state.get("reason") == rollout.reason:
        return state
    return None


def _event(rollout, kind, message, **detail):
    events.record(rollout.project, kind, ACTOR,
                  dict({"rollout_id": rollout.rollout_id, "version": rollout.version}, **detail),
                  message=message)


def _ask(hook, rollout, wave, attempt_since):
    """POST the question; ``(approved, answer)`` where answer is "HTTP 403" or the error."""
    waves = rollout.waves or []
    body = {"text": f"[{rollout.project}] may wave {int(wave)} of {rollout.version} start?",
            "kind": "gate.before_wave", "project": rollout.project, "version": rollout.version,
            "previous_version": rollout.previous_version, "rollout_id": rollout.rollout_id,
            "wave": wave, "hosts": waves[wave] if wave < len(waves) else None, "waves": waves,
            "waiting_since": attempt_since}
    try:
        status = webhooks.post_signed(hook, body)
    except webhooks.DeliveryError as exc:
        return False, exc.message
    return 200 <= status < 300, f"HTTP {int(status)}"


def check_before_wave(project_id, spec, rollout, wave, now=None):
    """May ``wave`` of ``rollout`` (the engine's ``Rollout`` item) start now? A ``Verdict``.

    ``spec`` is the project's spec, or None to read it. Without a ``before_wave`` gate the
    answer is yes at once, with no request and no write.
    """
    hook = _hook(spec if spec is not None else _spec(project_id), "before_wave")
    if not hook:
        return Verdict(True)
    now = now or utcnow()
    state = _waiting_state(rollout, wave)
    since = _parse(state["since"]) if state else now
    approved, answer = _ask(hook, rollout, wave, format_time(since))
    where = webhooks.describe_url(hook["url"])
    if approved:
        if rollout.gate:
            rollout.update(actions=[Rollout.gate.remove()])
        _event(rollout, "gate.approved", "wave %d of %s approved by %s (%s)"
               % (wave, rollout.version, where, answer), wave=wave, answer=answer)
        return Verdict(True, f"approved by {where} ({answer})")
    deadline = since + datetime.timedelta(seconds=int(hook.get("deadline_seconds") or DEFAULT_DEADLINE))
    if now >= deadline:
        reason = "approval gate %s did not approve wave %d by %s (last answer: %s)" % (
            where, wave, format_time(deadline), answer)
        if rollout.gate:
            rollout.update(actions=[Rollout.gate.remove()])
        _event(rollout, "gate.expired", reason, wave=wave, answer=answer)
        return Verdict(False, reason, pause=True)
    if state is None:
        reason = f"waiting for approval gate {where} before wave {int(wave)} (until {format_time(deadline)})"
        rollout.update(actions=[Rollout.gate.set({"wave": wave, "since": format_time(now), "reason": reason}),
                                Rollout.reason.set(reason)])
        _event(rollout, "gate.waiting", f"{reason} (answer: {answer})", wave=wave, answer=answer)
        return Verdict(False, reason)
    return Verdict(False, state["reason"])


def hold(rollout, verdict, actor=ACTOR):
    """Apply a negative verdict: pause the rollout (``verdict.pause``) or leave it waiting.

    Returns the rollout's state afterwards (what the engine's drive step returns).
    """
    if verdict.ok:
        return rollout.state
    if verdict.pause:
        rollout.update(actions=[Rollout.state.set("paused"), Rollout.resume_state.set(rollout.state),
                                Rollout.reason.set(verdict.reason)])
        _event(rollout, "rollout.paused", f"rollout of {rollout.version} paused: {verdict.reason}",
               reason=verdict.reason, by=actor)
    return rollout.state
