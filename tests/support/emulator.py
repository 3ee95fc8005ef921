"""moto's server for the suite: DynamoDB transactions that save only the items they touch, and
Queries that look only at the partition they name.

moto 5 deep-copies every table a ``TransactWriteItems`` call names, to put it back when the
transaction is cancelled: a cost that grows with the table (about 90 ms a call with a few hundred
items), paid on every host report, the slowest call of the fleet tests. This keeps moto's
semantics (all or nothing: a cancelled transaction leaves every item as it was) at the cost of
the items involved: before the call it saves a copy of each item the operations name, and puts
them back if the call raises. Everything else is moto's own server, unchanged.

    python -m tests.support.emulator -H 127.0.0.1 -p 4566     # what tests/conftest.py runs

A table is no longer deep-copied here at all (``Table.__deepcopy__`` answers the table itself):
nothing else fabu uses copies a table (on-demand backups would, and fabu makes none).

moto's ``Table.query`` starts from ``all_items()``, every item of the table sorted by key, then
keeps the partition asked for and sorts again: a host's poll (a Query on its own partition) cost
grows with the whole hosts table. While a Query runs, ``all_items`` here answers only the named
partition of the table (a Query on the table) or the items unsorted (a Query on an index, which
moto filters and sorts itself); the answer is the same, Scans still get moto's sorted list.

Requests are not logged one line each (the suite makes hundreds of thousands); errors still are.
``POST /_fabu/wipe`` (``{"tables", "buckets", "queues"}``, names) empties those tables, buckets
and queues and deletes every SSM parameter and secret in one request: the suite's per-test wipe,
which took a Scan per table, a listing per bucket and receives per queue.
``POST /_fabu/put`` (``{"table", "items"}``, items in DynamoDB JSON, at most ``PUT_LIMIT``) puts
the items straight into the table: a test's seeding of tens of thousands of items, which took
one BatchWriteItem request per 25.
Queries on an index read a sorted copy of the partition (``tests.support.emulator_index``).
"""
import copy
import json
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sqs.models import sqs_backends
from moto.ssm.models import ssm_backends
from moto.server import main

_transact_write_items = DynamoDBBackend.transact_write_items


def _target(backend: DynamoDBBackend, entry: dict) -> tuple[Table, Any, Any]:
    """The table and key (as moto stores them) of one transaction entry."""
    op_type, op = next(iter(entry.items()))
    table = backend.get_table(op["TableName"])
    if op_type == "Put":
        key = {name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr)
               if name is not None}
    else:
        key = op["Key"]
    hash_key, range_key = backend.get_keys_value(table, key)
    return table, hash_key, range_key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved = []
    for entry in transact_items[:100]:  # moto refuses more than 100 itself
        try:
            table, hash_key, range_key = _target(self, entry)
        except Exception:  # noqa: BLE001 - malformed: moto's own checks answer for it
            continue
        saved.append((table, hash_key, range_key,
                      copy.deepcopy(table.get_item(hash_key, range_key))))
    try:
        _transact_write_items(self, transact_items)
    except BaseException:
        for table, hash_key, range_key, item in reversed(saved):
            if item is None:
                table.delete_item(hash_key, range_key)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item
        raise


_query, _all_items = Table.query, Table.all_items
_running = threading.local()  # the Query this thread is in: (table, hash key or None for an index)


def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    _running.query = (self, None if index_name else hash_key)
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _running.query = None


def all_items(self: Table) -> list:
    running = getattr(_running, "query", None)
    if running is None or running[0] is not self:
        return _all_items(self)
    hash_key = running[1]
    if hash_key is None:  # an index: moto keeps the matching items and sorts them itself
        return [item for part in self.items.values()
                for item in (part.values() if self.range_key_attr else [part])]
    part = self.items.get(hash_key)
    if part is None:
        return []
    return list(part.values()) if self.range_key_attr else [part]


Table.__deepcopy__ = lambda self, memo: self
Table.query, Table.all_items = query, all_items
MotoRequestHandler.log_request = lambda self, code="-", size="-": None

from tests.support import emulator_index  # noqa: E402 - installed last: it wraps the patches above

emulator_index.install()


def _regions(backends: Any) -> list:
    return [backend for regions in backends.values() for backend in regions.values()]


def wipe(names: dict) -> dict:
    """Empty the named tables, buckets and queues; delete every SSM parameter and secret."""
    tables, buckets, queues = (set(names.get(k) or []) for k in ("tables", "buckets", "queues"))
    done = {"items": 0, "objects": 0, "messages": 0}
    for backend in _regions(dynamodb_backends):
        for name, table in backend.tables.items():
            if name in tables:
                done["items"] += sum(len(p) if table.range_key_attr else 1 for p in table.items.values())
                table.items.clear()
    emulator_index.forget()
    for backend in _regions(s3_backends):
        for name, bucket in backend.buckets.items():
            if name in buckets:
                for key in list(bucket.keys):
                    done["objects"] += 1
                    bucket.keys.pop(key)
    for backend in _regions(sqs_backends):
        for name, queue in backend.queues.items():
            if name in queues:
                with queue._messages_lock:
                    done["messages"] += len(queue._messages)
                    queue._messages = []
                    queue._pending_messages = set()
    for backend in _regions(ssm_backends):
        backend._parameters.clear()
    for backend in _regions(secretsmanager_backends):
        backend.secrets.clear()
    return done


#: The most items one ``/_fabu/put`` request takes.
PUT_LIMIT = 10_000


def put(body: dict) -> dict:
    """Put ``body["items"]`` into the table ``body["table"]`` (every region that has it)."""
    items = body.get("items") or []
    if len(items) > PUT_LIMIT:
        raise ValueError(f"{len(items)} items in one put; the limit is {PUT_LIMIT}")
    done = 0
    for backend in _regions(dynamodb_backends):
        if body.get("table") in backend.tables:
            for item in items:
                backend.put_item(body["table"], item)
            done += len(items)
    emulator_index.forget()
    return {"items": done}


_dispatch = DomainDispatcherApplication.__call__
_ROUTES = {"/_fabu/wipe": wipe, "/_fabu/put": put}


def _call(self: DomainDispatcherApplication, environ: dict, start_response: Any) -> Any:
    route = _ROUTES.get(environ.get("PATH_INFO"))
    if route is None or environ.get("REQUEST_METHOD") != "POST":
        return _dispatch(self, environ, start_response)
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.dumps(route(json.loads(environ["wsgi.input"].read(size) or b"{}"))).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


DomainDispatcherApplication.__call__ = _call
DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    main()
