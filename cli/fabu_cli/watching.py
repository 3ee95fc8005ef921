"""What ``fabu watch`` says a running rollout is watched by: alarms, analysis, window, freeze, time left.

``lines`` turns one rollout summary (``GET /api/v1/project/{id}``'s ``rollout``: ``watching``,
``analysis``, ``window``, ``bake_until``, ``waves[i].analysis``) into short lines; ``Watched``
prints them whenever one changes. Times left are shown to the minute above two minutes (to the
ten seconds below), so a long bake prints a new countdown line at most once a minute.
"""
import datetime

from rich.console import Console
from rich.markup import escape

#: At most this many alarms are named on the alarms line (the rest are counted).
MAX_ALARMS_SHOWN = 10


def left(seconds: int | float | None) -> str:
    """``9m left`` / ``45s left``; empty when unknown."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds >= 120:
        return f"{seconds // 60}m left"
    return f"{seconds - seconds % 10 if seconds >= 10 else seconds}s left"


def seconds_until(iso: str | None) -> int | None:
    """Seconds from now (this machine's clock) to an ISO 8601 UTC time of the API; None if unknown."""
    try:
        at = datetime.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.timezone.utc)
    return int((at - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _alarms(watching: dict) -> list[str]:
    alarms = watching.get("alarms") or []
    out = []
    if alarms:
        named = [f"{a.get('name')} {a.get('state')}" for a in alarms[:MAX_ALARMS_SHOWN]]
        more = len(alarms) - MAX_ALARMS_SHOWN
        text = ", ".join(named) + (f" (+{more} more)" if more > 0 else "")
        until = ""
        if watching.get("until"):
            until = f"; watched until {watching['until']} ({left(watching.get('seconds_left'))})"
        out.append(f"alarms: {text}{until}")
        for alarm in alarms[:MAX_ALARMS_SHOWN]:
            if alarm.get("state") == "ALARM" and alarm.get("reason"):
                out.append(f"  {alarm.get('name')}: {alarm['reason']}")
    if watching.get("alarm_error"):
        out.append(f"alarms: cannot be read: {watching['alarm_error']}")
    return out


def _number(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def verdict(wave: int, entry: dict) -> str:
    """``analysis of wave 0 passed: canary 1 vs baseline 2 (threshold 4)``."""
    result = "passed" if entry.get("passed") else "failed"
    source = ", baseline of an earlier evaluation" if entry.get("baseline_from") == "previous" else ""
    return (f"analysis of wave {wave} {result}: canary {_number(entry.get('canary'))} vs baseline "
            f"{_number(entry.get('baseline'))} (threshold {_number(entry.get('threshold'))}{source})")


def _analysis(rollout: dict) -> list[str]:
    out = []
    spec = rollout.get("analysis")
    if spec and spec.get("evaluates_at"):
        metric = f"{spec.get('namespace')} {spec.get('metric')} {spec.get('statistic')}"
        out.append(f"analysis: {metric} judged at {spec['evaluates_at']} "
                   f"({left(spec.get('seconds_left'))})")
    for wave in rollout.get("waves") or []:
        if wave.get("analysis"):
            out.append(verdict(int(wave.get("wave") or 0), wave["analysis"]))
    return out


def lines(rollout: dict) -> list[str]:
    """Every line of what watches or holds ``rollout`` (none for a rollout without any)."""
    watching = rollout.get("watching") or {}
    out = _alarms(watching) + _analysis(rollout)
    window = rollout.get("window")
    if window:
        out.append("window: open" if window.get("open")
                   else f"window: closed, next opens at {window.get('next_open') or 'never'}")
    frozen = watching.get("frozen")
    if frozen and frozen.get("frozen"):
        until = frozen.get("until") or "thawed"
        out.append(f"freeze: the stage is frozen by {frozen.get('by')} until {until}: "
                   f"{frozen.get('reason')}")
    if rollout.get("bake_until") and rollout.get("state") == "running":
        out.append(f"bake until {rollout['bake_until']} "
                   f"({left(seconds_until(rollout['bake_until']))})")
    return out


class Watched:
    """Prints the watched lines of each summary it is fed that differ from the last ones."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._last: list[str] = []

    def update(self, rollout: dict) -> None:
        current = lines(rollout)
        if current != self._last:
            for line in current:
                if line not in self._last:
                    self.console.print(escape(line))
            was_frozen = any(line.startswith("freeze: ") for line in self._last)
            if was_frozen and not any(line.startswith("freeze: ") for line in current):
                self.console.print("freeze: the stage is no longer frozen")
            self._last = current
