"""The event log: every transition (who, what, when) as one item, read by UI, notices, reports.

``record`` writes one ``Event`` and returns it as plain data. Event kinds are dotted names
(``project.created``, ``rollout.wave_started``, ``host.failed``); ``detail`` is a small JSON
object. Retention is DynamoDB TTL (``FABU_EVENT_TTL_DAYS``, default 90). Every stored event is
handed to ``notify.queue.enqueue``, which queues the ones worth telling people about.
"""
import datetime
import secrets

from chalicelib import config, pagination
from chalicelib.models import Event
from chalicelib.notify import queue
from chalicelib.times import utcnow


def _sort_key(moment):
    return "%s#%s" % (moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), secrets.token_hex(4))


def to_dict(event):
    return {"project": event.scope, "id": event.sk, "kind": event.kind, "actor": event.actor,
            "host": event.host, "message": event.message, "detail": event.detail or {},
            "at": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def record(project, kind, actor=None, detail=None, *, host=None, message=None, at=None):
    """Store one event of ``project`` and queue it for notification; return it as a dict."""
    moment = at or utcnow()
    event = Event(project, _sort_key(moment), day=moment.strftime("%Y-%m-%d"), kind=kind,
                  actor=actor, host=host, message=message, detail=detail or {}, at=moment,
                  expires_at=moment + datetime.timedelta(days=config.event_ttl_days()))
    event.save(Event.sk.does_not_exist())
    data = to_dict(event)
    queue.enqueue(data)
    return data


def page(project, *, limit=50, cursor=None, since=None, newest_first=True):
    """One page of a project's events: ``(events, next_cursor or None)``. One Query."""
    condition = None
    if since is not None:
        condition = Event.sk >= since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    start = pagination.decode(cursor)
    result = Event.query(project, condition, scan_index_forward=not newest_first, limit=limit,
                         last_evaluated_key=start, page_size=limit)
    items = [to_dict(e) for e in result]
    nxt = result.last_evaluated_key
    return items, pagination.encode(nxt)
