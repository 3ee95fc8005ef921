"""moto's Query on a global secondary index in time proportional to the page, not to the table.

Two costs of moto's DynamoDB grow with data a test does not look at, and ``install()`` removes
both for the suite's emulator, keeping moto's answers exactly:

moto answers a Query on a GSI by reading every item of the table, sorting the partition with
``DynamoType`` comparisons and skipping the items before the cursor one by one: seconds a page
with 50,000 items in the hosts table (``tests/api/test_project_hosts.py`` pages through a fleet
that size), whatever the page's ``Limit``. ``install()`` keeps, per queried index partition, its
items sorted by plain key values, valid until the next DynamoDB call that is not a read (every
request but ``_READS`` bumps a generation, before and after it runs, so a cache can never outlive
a write), and hands moto's own ``Table.query`` only the partition's items after the cursor,
already in order: its filters, limits, 1 MB pages, projections and cursors are unchanged.
Anything unusual (a descending Query, legacy ``QueryFilter``, a multi-attribute key) takes moto's
own path. Second, moto's shape-driven response serializer spends most of a 1000-item page on the
items, which are DynamoDB JSON already: a Query's or Scan's ``Items`` are written as JSON at once
(everything else, and binary values, still through moto's serializer). With both, a 1000-row
page of a 50,000-item index costs what the page costs. ``tests/support/emulator.py`` installs it
in the suite's emulator.
"""
import bisect
import json
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

#: DynamoDB actions that never change an item.
_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems",
                    "DescribeTable", "ListTables", "DescribeTimeToLive", "ListTagsOfResource",
                    "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits",
                    "ListBackups", "DescribeBackup", "ListExports", "DescribeExport",
                    "DescribeImport", "GetResourcePolicy"})
#: The actions whose ``Items`` are serialized at once (``_serialized``).
_LISTS = frozenset({"Query", "Scan"})
_lock = threading.Lock()
_generation = [0]
_partitions: dict[tuple, tuple[int, list[tuple], list[Item]]] = {}
_narrowed = threading.local()


def _plain(attr: DynamoType) -> Any:
    return attr.value if attr.type in ("S", "B") else attr.cast_value


def _bump() -> None:
    with _lock:
        _generation[0] += 1
        _partitions.clear()


def forget() -> None:
    """Drop every cached partition: items changed outside a DynamoDB request (the suite's wipe)."""
    _bump()


def _sort_attrs(table: Table, index_name: str) -> tuple[str, list[str]] | None:
    """(the index's hash key, the attributes moto sorts the index by), or None when unusual."""
    index = table.get_index(index_name)
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) != 1:
        return None
    return hashes[0], table._generate_attr_to_sort_by([hashes[0], table.hash_key_attr],
                                                       [ranges[0], table.range_key_attr])


def _partition(table: Table, index_name: str, hash_attr: str, value: DynamoType,
               attrs: list[str]) -> tuple[list[tuple], list[Item]]:
    key = (id(table), index_name, hash_attr, value.type, str(value.value))
    with _lock:
        generation = _generation[0]
        cached = _partitions.get(key)
    if cached is not None and cached[0] == generation:
        return cached[1], cached[2]
    rows = sorted(((tuple(_plain(item.attrs[a]) for a in attrs), item)
                   for item in _all_items(table)
                   if isinstance(item, Item) and all(a in item.attrs for a in attrs)
                   and item.attrs[hash_attr] == value), key=lambda row: row[0])
    keys, items = [row[0] for row in rows], [row[1] for row in rows]
    with _lock:
        if _generation[0] == generation:
            _partitions[key] = (generation, keys, items)
    return keys, items


def _narrow(table: Table, index_name: str | None, start: dict | None, forward: Any,
            hash_conditions: list | None, filter_kwargs: dict, comparison: str | None,
            operands: list, limit: Any) -> list[Item] | None:
    """The partition's items moto's query may read, in index order: those after ``start`` (and,
    for ``begins_with`` on the index's sort key, only those with the prefix), at most ``limit``
    and one more when each one counts (moto stops there); None: let moto do it all."""
    if not index_name or forward is False or filter_kwargs or not hash_conditions \
            or len(hash_conditions) != 1:
        return None
    found = _sort_attrs(table, index_name)
    if found is None or found[0] != hash_conditions[0][0]:
        return None
    hash_attr, attrs = found
    keys, items = _partition(table, index_name, hash_attr, hash_conditions[0][1], attrs)
    low, high = 0, len(items)
    if start:
        if any(a not in start for a in attrs):
            return None
        low = bisect.bisect_right(keys, tuple(_plain(DynamoType(start[a])) for a in attrs))
    counted = comparison is None
    if comparison == "BEGINS_WITH" and len(operands) == 1 and operands[0].type == "S" \
            and len(attrs) > 1:
        head = keys[0][0] if keys else None
        prefix = operands[0].value
        low = max(low, bisect.bisect_left(keys, (head, prefix)))
        high = bisect.bisect_left(keys, (head, prefix + "\U0010ffff"))
        counted = True
    if counted and isinstance(limit, int):
        high = min(high, low + limit + 1)
    return items[low:max(low, high)]


#: What ``install()`` wraps, as it found it (moto's, or another patch's: this one goes last).
_wrapped: dict[str, Any] = {}


def _original_query(*args: Any, **kwargs: Any) -> Any:
    return _wrapped["query"](*args, **kwargs)


def _all_items(table: Table) -> list[Item]:
    return _wrapped["all_items"](table)


def _original_sorted(*args: Any) -> list:
    return _wrapped["sorted_items"](*args)


def _original_call(handler: DynamoHandler) -> Any:
    return _wrapped["call_action"](handler)


def _original_serialized(handler: DynamoHandler, action_result: ActionResult) -> Any:
    return _wrapped["serialized"](handler, action_result)


def _query(self: Table, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
           exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
           index_name: str | None = None, consistent_read: bool = False,
           filter_expression: Any = None, hash_key_conditions: Any = None,
           range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:
    narrowed = _narrow(self, index_name, exclusive_start_key, scan_index_forward,
                       hash_key_conditions, filter_kwargs, range_comparison, range_objs or [], limit)
    _narrowed.items = narrowed
    try:
        return _original_query(self, hash_key, range_comparison, range_objs, limit,
                               exclusive_start_key, scan_index_forward, projection_expressions,
                               index_name, consistent_read, filter_expression,
                               hash_key_conditions=hash_key_conditions,
                               range_key_conditions=range_key_conditions, **filter_kwargs)
    finally:
        _narrowed.items = None


def _all(self: Table) -> list[Item]:
    items = getattr(_narrowed, "items", None)
    return list(items) if items is not None else _all_items(self)


def _sorted(self: Table, hash_key_attrs: list, range_key_attrs: list, items: list) -> list:
    if getattr(_narrowed, "items", None) is not None:
        return items  # already in index order
    return _original_sorted(self, hash_key_attrs, range_key_attrs, items)


def _call_action(self: DynamoHandler) -> Any:
    try:
        action = self._get_action()
    except Exception:  # noqa: BLE001 - unknown: count it as a write
        action = None
    write = action not in _READS
    if write:
        _bump()
    try:
        return _original_call(self)
    finally:
        if write:
            _bump()


def _serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
    """A Query's or Scan's items as JSON at once: they are DynamoDB JSON already, and moto's
    shape-driven serializer spends most of a 1000-item page on them. Everything else (and any
    page with binary values) goes through moto's serializer."""
    result = action_result.result
    if not isinstance(result, dict) or "Items" not in result or self._get_action() not in _LISTS:
        return _original_serialized(self, action_result)
    try:
        items = json.dumps(result["Items"], separators=(",", ":"))
    except TypeError:  # bytes of a binary attribute: moto encodes them
        return _original_serialized(self, action_result)
    status, headers, body = _original_serialized(
        self, ActionResult({k: v for k, v in result.items() if k != "Items"}))
    head = body.decode() if isinstance(body, bytes) else body
    if not head.startswith("{"):
        return _original_serialized(self, action_result)
    joined = "{" + f'"Items":{items}' + ("," + head[1:] if head != "{}" else "}")
    return status, headers, joined


def install() -> None:
    """Patch moto (once) in this process, after any other patch of the same methods (they are
    called through: ``tests/support/emulator.py`` installs this last)."""
    if Table.query is _query:
        return
    _wrapped.update(query=Table.query, all_items=Table.all_items, sorted_items=Table.sorted_items,
                    call_action=DynamoHandler.call_action, serialized=DynamoHandler.serialized)
    Table.query = _query
    Table.all_items = _all
    Table.sorted_items = _sorted
    DynamoHandler.call_action = _call_action
    DynamoHandler.serialized = _serialized
