"""The before-wave approval gate: ask the project's webhook before a wave starts.

Project spec ``gates`` (validated in ``chalicelib.projects``)::

    {"before_wave": {"url", "secret"?, "timeout_seconds"?, "deadline_seconds"?},
     "after":       {"url", "secret"?, "timeout_seconds"?}}

``check_before_wave`` is called by the rollout engine right before it releases a wave, and only
in the tick: never inside an API request (API Gateway gives a request 29 s). A rollout that a
request starts and whose wave 0 has a gate waits with the reason ``NEXT_TICK``. The engine POSTs
a signed JSON body (``chalicelib.notify.webhooks``, the same signature as the notification
webhooks) within ``call_timeout`` seconds — the hook's ``timeout_seconds`` capped by the stage's
``FABU_GATE_TIMEOUT_SECONDS`` (default 5, at most 20) and by what is left of the tick's budget —
and answers a ``Verdict``:

* ``ok``: the gate answered 2xx — release the wave;
* not ``ok``, not ``pause``: keep waiting (the engine asks again on its next tick); the first
  refusal is remembered on the rollout (``Rollout.gate``) so the deadline survives restarts; no
  answer in time is the answer "no answer within N s";
* not ``ok`` and ``pause``: ``deadline_seconds`` (default 1 hour) have passed since the first
  attempt — pause the rollout with ``reason``.

``hold`` applies a negative verdict to the rollout (pause, or leave it waiting). The ``after``
gate hears a rollout's outcome as a delivery of the notifier (``chalicelib.notify``), off the
hot path and with its retries.
"""
import datetime
import math
import threading
import time

from chalicelib import config
from chalicelib.models import Project, Rollout
from chalicelib.notify import webhooks
from chalicelib.rollout import store
from chalicelib.states import RolloutState
from chalicelib.times import format_time, parse_time

ACTOR = "fabu:gate"
DEFAULT_DEADLINE = 3600
#: A gate call's budget: the hook's ``timeout_seconds`` (default 5), capped by the stage's
#: ``FABU_GATE_TIMEOUT_SECONDS`` (default 5), which is itself kept within [1, 20] so that a gate
#: call always fits in the tick's budget and under the rollout's lock.
DEFAULT_TIMEOUT, MAX_TIMEOUT = 5, 20
#: The reason of a rollout whose next wave needs the gate while no tick is asking (an API call).
NEXT_TICK = "waiting for the before_wave gate, asked on the next tick"


class Verdict(tuple):
    """``(ok, reason)``, unpackable as a pair, plus ``pause``: the wait is over, pause the rollout."""

    def __new__(cls, ok: bool, reason: str | None = None, pause: bool = False) -> "Verdict":
        verdict = super().__new__(cls, (ok, reason))
        verdict.pause = pause
        return verdict

    @property
    def ok(self) -> bool:
        return self[0]

    @property
    def reason(self) -> str | None:
        return self[1]


def _hook(spec: dict, name: str) -> dict | None:
    hook = (spec.get("gates") or {}).get(name)
    return {"url": hook} if isinstance(hook, str) else hook


def has_before_wave(spec: dict) -> bool:
    """True when the project's ``spec`` has a ``before_wave`` gate."""
    return bool(_hook(spec or {}, "before_wave"))


def call_timeout(hook: dict, deadline: float | None = None) -> int:
    """Whole seconds one call of ``hook`` may take: its ``timeout_seconds`` capped by the stage
    setting and by what is left until ``deadline`` (a ``time.monotonic()`` value, rounded up:
    at least 1 s); 0 once ``deadline`` has passed."""
    cap = min(max(config.int_setting("FABU_GATE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT), 1), MAX_TIMEOUT)
    try:
        own = int(hook.get("timeout_seconds") or DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        own = DEFAULT_TIMEOUT
    seconds = min(max(own, 1), cap)
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        seconds = min(seconds, math.ceil(left))
    return seconds


def spec_of(project_id: str) -> dict:
    """The project's stored spec ({} when the project is gone)."""
    try:
        return Project.get(project_id).spec or {}
    except Project.DoesNotExist:
        return {}


def _waiting_state(rollout: Rollout, wave: int) -> dict | None:
    """The remembered first refusal for this wave, unless someone touched the rollout since.

    A pause, resume or promote rewrites ``Rollout.reason``; a changed reason starts a new wait.
    """
    state = rollout.gate
    if state and state.get("wave") == wave and state.get("reason") == rollout.reason:
        return state
    return None


def _ask(hook: dict, rollout: Rollout, wave: int, attempt_since: str,
         timeout: int) -> tuple[bool, str]:
    """POST the question; ``(approved, answer)`` where answer is "HTTP 403", "no answer within
    5 s" or the error. The whole call (connect, send, answer) ends within ``timeout`` seconds;
    anything but a delivery failure (a secret that cannot sign, say) raises."""
    waves = rollout.waves or []
    body = {"text": f"[{rollout.project}] may wave {wave} of {rollout.version} start?",
            "kind": "gate.before_wave", "project": rollout.project, "version": rollout.version,
            "previous_version": rollout.previous_version, "rollout_id": rollout.rollout_id,
            "wave": wave, "hosts": waves[wave] if wave < len(waves) else None, "waves": waves,
            "waiting_since": attempt_since}
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["status"] = webhooks.post_signed(dict(hook, timeout_seconds=timeout), body)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = exc

    # A thread bounds the whole call: the socket timeout alone restarts on every byte received.
    caller = threading.Thread(target=call, name=f"gate-{rollout.project}", daemon=True)
    started = time.monotonic()
    caller.start()
    caller.join(timeout + 0.5)
    silent = f"no answer within {timeout} s"
    if caller.is_alive():
        return False, silent
    error = outcome.get("error")
    if isinstance(error, webhooks.DeliveryError):
        timed_out = "timed out" in error.message or time.monotonic() - started >= timeout
        return False, silent if timed_out else error.message
    if error is not None:
        raise error
    status = outcome["status"]
    return 200 <= status < 300, f"HTTP {status}"


def check_before_wave(rollout: Rollout, wave: int, now: datetime.datetime,
                      spec: dict | None = None, deadline: float | None = None) -> Verdict:
    """May ``wave`` of ``rollout`` (the engine's ``Rollout`` item) start at ``now``? A ``Verdict``.

    ``spec`` is the project's spec, or None to read it. Without a ``before_wave`` gate the
    answer is yes at once, with no request and no write. ``deadline`` (``time.monotonic()``)
    bounds the call; once it has passed the gate is not asked (not yet: no request, no write).
    """
    hook = _hook(spec if spec is not None else spec_of(rollout.project), "before_wave")
    if not hook:
        return Verdict(True)
    timeout = call_timeout(hook, deadline)
    if timeout < 1:
        return Verdict(False, None)  # the tick is out of time: asked on the next one
    state = _waiting_state(rollout, wave)
    since = parse_time(state["since"]) if state else now
    approved, answer = _ask(hook, rollout, wave, format_time(since), timeout)
    where = webhooks.describe_url(hook["url"])
    if approved:
        if rollout.gate:
            rollout.update(actions=[Rollout.gate.remove()])
        store.record(rollout, "gate.approved", ACTOR,
                     f"wave {wave} of {rollout.version} approved by {where} ({answer})",
                     wave=wave, answer=answer)
        return Verdict(True, f"approved by {where} ({answer})")
    deadline = since + datetime.timedelta(seconds=int(hook.get("deadline_seconds") or DEFAULT_DEADLINE))
    if now >= deadline:
        reason = (f"approval gate {where} did not approve wave {wave} by {format_time(deadline)} "
                  f"(last answer: {answer})")
        if rollout.gate:
            rollout.update(actions=[Rollout.gate.remove()])
        store.record(rollout, "gate.expired", ACTOR, reason, wave=wave, answer=answer)
        return Verdict(False, reason, pause=True)
    if state is None:
        reason = f"waiting for approval gate {where} before wave {wave} (until {format_time(deadline)})"
        rollout.update(actions=[Rollout.gate.set({"wave": wave, "since": format_time(now), "reason": reason}),
                                Rollout.reason.set(reason)])
        store.record(rollout, "gate.waiting", ACTOR, f"{reason} (answer: {answer})",
                     wave=wave, answer=answer)
        return Verdict(False, reason)
    return Verdict(False, state["reason"])


def hold(rollout: Rollout, verdict: Verdict, actor: str = ACTOR) -> str:
    """Apply a negative verdict: pause the rollout (``verdict.pause``) or leave it waiting.

    Returns the rollout's state afterwards (what the engine's drive step returns).
    """
    if verdict.ok:
        return rollout.state
    if verdict.pause:
        store.set_fields(rollout, state=RolloutState.PAUSED, resume_state=rollout.state,
                         reason=verdict.reason)
        store.record(rollout, "rollout.paused", ACTOR,
                     f"rollout of {rollout.version} paused: {verdict.reason}",
                     reason=verdict.reason, by=actor)
    return rollout.state
