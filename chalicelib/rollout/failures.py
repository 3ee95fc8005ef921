"""What the tick does when driving a rollout (or applying a scheduled update) raised: tell it once.

The tick logs the traceback and calls ``record``: the error, described in one stable line
(``describe``: the exception, DynamoDB's error code rather than its request id, and where in
fabu it was raised), is remembered on the rollout (``Rollout.error``) and recorded as one
``rollout.error`` event on the project — not again on every tick while the same error repeats;
a different error is told again. ``clear`` forgets it after a step succeeded and records
``rollout.recovered``. ``tell_once`` is the same rule for events that have no item to remember
them on (a scheduled update that cannot be applied): it looks at the project's newest events.
``isolated`` runs one of the tick's stage-wide steps in its own thread within its budget, so
that step's failure or slowness never holds the rollouts.
"""
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PynamoDBException

from chalicelib import events
from chalicelib.models import Rollout, update_if
from chalicelib.rollout import store
from chalicelib.states import RolloutState

log = logging.getLogger("fabu.tick")

#: At most this many characters of an error are stored and told.
MAX_ERROR = 600
#: ``tell_once`` looks this far back in the project's events for the same message.
RECENT_EVENTS = 50
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_STEPS = {RolloutState.SCHEDULED: "checking its scheduled start",
          RolloutState.WAITING_RELEASE: "starting it",
          RolloutState.ROLLING_BACK: "rolling it back",
          RolloutState.PAUSED: "checking the leases of its paused hosts",
          RolloutState.HALTED: "checking the leases of its halted hosts"}


def describe(exc: BaseException) -> str:
    """One stable line: ``UpdateError: DynamoDB ProvisionedThroughputExceededException: ...
    (at chalicelib/rollout/lock.py:42 in acquire)``; never a request id, never a lone surrogate."""
    code = getattr(exc, "cause_response_code", None) if isinstance(exc, PynamoDBException) else None
    if code:
        text = f"{type(exc).__name__}: DynamoDB {code}: {exc.cause_response_message or ''}".rstrip(": ")
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".rstrip(": ")
    else:
        text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    where = _where(exc)
    line = f"{text} (at {where})" if where else text
    line = line.encode("utf-8", "backslashreplace").decode("utf-8")
    return line if len(line) <= MAX_ERROR else f"{line[:MAX_ERROR - 3]}..."


def _where(exc: BaseException) -> str | None:
    """The innermost frame of fabu's own code in the traceback: ``path:line in function``."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if path.startswith(os.path.join(_PACKAGE_ROOT, "chalicelib") + os.sep):
            found = f"{os.path.relpath(path, _PACKAGE_ROOT)}:{frame.lineno} in {frame.name}"
    return found


def step_of(rollout: Rollout) -> str:
    """What the tick was doing with the rollout: "driving wave 1", "starting it"..."""
    return _STEPS.get(rollout.state, f"driving wave {int(rollout.wave)}")


def record(rollout: Rollout, exc: BaseException, actor: str) -> str:
    """Remember and tell (once per distinct error) that driving ``rollout`` raised ``exc``.

    Returns the error's description. The rollout is read again (its step may have written
    before it failed); the event comes first, so a failure to remember it repeats the event
    rather than losing it. A write error here propagates to the tick, which logs it.
    """
    description = describe(exc)
    try:
        fresh = Rollout.get(rollout.project, rollout.rollout_id, consistent_read=True)
    except DoesNotExist:
        return description  # deleted meanwhile: nothing left to drive
    if fresh.error == description:
        return description
    step = step_of(fresh)
    store.record(fresh, "rollout.error", actor,
                 f"the tick failed {step} for the rollout of {fresh.version}: {description}; "
                 f"it tries again on every tick (this is told once per error)",
                 state=str(fresh.state), wave=int(fresh.wave), step=step, error=description)
    if not update_if(fresh, [Rollout.error.set(description)]):
        log.info("rollout %s of %s changed while its error was remembered: told again next time",
                 fresh.rollout_id, fresh.project)
    return description


def clear(rollout: Rollout, actor: str) -> bool:
    """After a step that succeeded: forget the remembered error and record ``rollout.recovered``.

    ``rollout`` is the item as the step left it. False when there was nothing to clear or the
    rollout changed meanwhile (the next step clears it).
    """
    last = rollout.error
    if not last or not update_if(rollout, [Rollout.error.remove()]):
        return False
    store.record(rollout, "rollout.recovered", actor,
                 f"the tick drives the rollout of {rollout.version} again (last error: {last})",
                 last_error=last)
    return True


def tell_once(project_id: str, kind: str, actor: str, message: str, detail: dict) -> bool:
    """Record the event unless one of the project's ``RECENT_EVENTS`` newest events is the same
    ``kind`` with the same ``message``; True when recorded."""
    recent, _ = events.page(project_id, limit=RECENT_EVENTS)
    if any(e["kind"] == kind and e["message"] == message for e in recent):
        return False
    events.record(project_id, kind, actor, detail, message=message)
    return True


def isolated(step: Callable[[float], dict], budget: float, grace: float, what: str) -> dict:
    """``step(deadline)`` (a ``time.monotonic()`` value ``budget`` seconds away) in its own
    thread: never raises (the error is logged and returned as ``error``), and never holds the
    caller past ``budget`` + ``grace`` seconds (a step still running then is ``unfinished``)."""
    result: dict = {}

    def target() -> None:
        try:
            result.update(step(time.monotonic() + budget))
        except Exception as exc:  # noqa: BLE001 - isolation: logged, reported, retried next tick
            log.exception("tick: %s failed", what)
            result["error"] = describe(exc)

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    thread.join(budget + grace)
    if thread.is_alive():
        return {"unfinished": True, "error": f"{what} ran over its {budget:g}s budget"}
    return result
