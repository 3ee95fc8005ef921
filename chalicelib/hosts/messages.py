"""Which ``::fabu::<level> text`` lines of a phase report become events, within two limits.

A user script prints ``::fabu::info|warn|error text`` to send a message. One report turns at most
``PER_REPORT`` (20) of them into ``host.message`` events; the rest are counted in one
``host.messages_dropped`` event (``… and 980 more messages dropped``). Each host item (a host in
one project) may also turn at most ``FABU_HOST_MESSAGES_PER_HOUR`` (default 60) messages an hour
into events: the window starts with the first message after the previous one ended, and is kept
on the item (``msg_window``, ``msg_count``, ``msg_dropped``). Over the limit, messages are counted
on the item and dropped, with one ``host.messages_dropped`` event per window saying so.

``plan`` only decides: it returns the messages to record, the summary event's text and the
item's new window with the condition that the window is still as read. The caller writes all of
it in the report's one transaction, so two reports can never both spend the same allowance.
"""
import dataclasses
import datetime
import itertools
import re

from pynamodb.expressions.condition import Condition

from chalicelib import config
from chalicelib.models import HostState
from chalicelib.times import format_time

#: At most this many messages of one report become events.
PER_REPORT = 20
#: The length of a host item's message window.
WINDOW = datetime.timedelta(hours=1)
_MESSAGE_RE = re.compile(r"^::fabu::(info|warn|error)[ \t]+(\S.{0,999})$", re.MULTILINE)


def per_hour() -> int:
    """How many messages one host item may turn into events per window (at least 1)."""
    return max(1, config.int_setting("FABU_HOST_MESSAGES_PER_HOUR", 60))


@dataclasses.dataclass
class Plan:
    """What a report's messages do: events to record, one summary, the item's new window."""
    found: int = 0
    recorded: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (level, text)
    dropped: int = 0
    summary: str | None = None           # the message of the one host.messages_dropped event
    summary_detail: dict = dataclasses.field(default_factory=dict)
    actions: list = dataclasses.field(default_factory=list)
    condition: Condition | None = None   # the item's window is still as read

    def answer(self) -> dict:
        """What the report's answer says about its messages."""
        return {"found": self.found, "recorded": len(self.recorded), "dropped": self.dropped}


def plan(item: HostState, output: str, now: datetime.datetime) -> Plan:
    """Decide which messages of ``output`` become events for ``item`` (nothing is written)."""
    matches = _MESSAGE_RE.finditer(output or "")
    first = [(m.group(1), m.group(2).strip()) for m in itertools.islice(matches, PER_REPORT)]
    if not first:
        return Plan()
    found = len(first) + sum(1 for _ in matches)
    limit = per_hour()
    window = item.msg_window
    if window is None or now >= window + WINDOW:  # a new window begins with this report
        window, count, limited = now, 0, 0
    else:
        count, limited = int(item.msg_count or 0), int(item.msg_dropped or 0)
    recorded = first[:max(0, limit - count)]
    dropped = found - len(recorded)
    result = Plan(found=found, recorded=recorded, dropped=dropped)
    if len(recorded) < len(first):  # the hourly limit cut this report
        if not limited:
            until = format_time(window + WINDOW)
            result.summary = (f"… and {dropped} more messages dropped: {item.host} reached its "
                              f"limit of {limit} messages an hour; until {until} its messages "
                              f"are counted on the host, not recorded")
            result.summary_detail = {"reason": "hourly_limit", "limit_per_hour": limit,
                                     "window_ends": until}
        limited += dropped
    elif dropped:
        result.summary = (f"… and {dropped} more messages dropped "
                          f"(at most {PER_REPORT} per report become events)")
        result.summary_detail = {"reason": "per_report_limit", "limit_per_report": PER_REPORT}
    result.summary_detail.update(found=found, recorded=len(recorded), dropped=dropped)
    result.actions = [HostState.msg_window.set(window),
                      HostState.msg_count.set(count + len(recorded)),
                      HostState.msg_dropped.set(limited)]
    result.condition = (_as_read(HostState.msg_window, item.msg_window)
                        & _as_read(HostState.msg_count, item.msg_count)
                        & _as_read(HostState.msg_dropped, item.msg_dropped))
    return result


def window_view(item: HostState, now: datetime.datetime) -> dict:
    """The item's current message window as the console shows it."""
    live = item.msg_window is not None and now < item.msg_window + WINDOW
    return {"limit_per_report": PER_REPORT, "limit_per_hour": per_hour(),
            "window_started_at": format_time(item.msg_window) if live else None,
            "recorded": int(item.msg_count or 0) if live else 0,
            "dropped": int(item.msg_dropped or 0) if live else 0}


def _as_read(attribute, value) -> Condition:
    return attribute.does_not_exist() if value is None else attribute == value
