"""Count every AWS call a bench's process makes, and the DynamoDB capacity units each one costs.

``Meter.install()`` wraps botocore's ``BaseClient._make_api_call``, the one door every boto3 and
PynamoDB client goes through, so nothing fabu calls escapes the count. Per call it records the
service, the operation, the wall time spent in it, and for DynamoDB the read and write request
units as AWS bills them on demand, computed from the items themselves (moto's
``ConsumedCapacity`` answers are constants):

* reads: a Query or Scan costs the sum of the returned items' sizes rounded up to 4 KB, a GetItem
  or each item of a BatchGetItem its own size rounded up to 4 KB; half of that when eventually
  consistent; a transaction twice;
* writes: each written item costs its size (the larger of before and after) rounded up to 1 KB,
  plus, for every global secondary index it is or was in, a put, a delete, or both when an index
  key changed (projected size rounded up to 1 KB); a failed condition still costs the item's
  size; a transaction twice. Before and after images are read with the original, uncounted call.

Item sizes follow the DynamoDB developer guide ("Item sizes and formats"). ``Meter.section(name)``
attributes calls to a named part of the simulation (host requests, tick, driver, builds...).

The meter's own work (the before and after images of a write, read with extra GetItem calls, and
the size arithmetic) runs in the caller's thread; its CPU time is kept apart (``thread_overhead``,
``overhead``) so that a bench billing a handler's CPU time bills fabu's work only.
"""
import collections
import contextlib
import decimal
import math
import threading
import time

import botocore.client

#: Seconds of AWS latency a bench adds per call to a Lambda handler's measured compute (moto's
#: own time is not AWS's): DynamoDB in-region answers in a few milliseconds.
LATENCY_DEFAULT = 0.006

_READ_OPS = {"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"}
_WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def attribute_size(value: dict) -> int:
    """The size in bytes DynamoDB counts for one attribute value (low-level JSON form)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        digits = decimal.Decimal(inner).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, (bytes, bytearray)) else len(inner) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + attribute_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict | None) -> int:
    """An item's size: attribute names plus values."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


class _Table:
    """What the meter needs of one table: its key names and its global secondary indexes."""

    def __init__(self, description: dict):
        self.keys = [k["AttributeName"] for k in description["KeySchema"]]
        self.indexes = []
        for index in description.get("GlobalSecondaryIndexes", []):
            keys = [k["AttributeName"] for k in index["KeySchema"]]
            projection = index.get("Projection", {})
            self.indexes.append((index["IndexName"], keys, projection.get("ProjectionType", "ALL"),
                                 set(projection.get("NonKeyAttributes", []))))

    def key_of(self, item: dict) -> dict:
        return {k: item[k] for k in self.keys}

    def write_units(self, before: dict | None, after: dict | None) -> int:
        units = max(1, math.ceil(max(item_size(before), item_size(after)) / 1024))
        for _name, keys, projection, included in self.indexes:
            was = before is not None and all(k in before for k in keys)
            now = after is not None and all(k in after for k in keys)
            if not was and not now:
                continue
            size_before = self._projected(before, keys, projection, included) if was else 0
            size_after = self._projected(after, keys, projection, included) if now else 0
            if was and now and all(before[k] == after[k] for k in keys):
                if size_before == size_after and projection == "KEYS_ONLY":
                    continue
                if projection != "KEYS_ONLY" and self._projected_equal(before, after, projection,
                                                                       included):
                    continue
                units += max(1, math.ceil(max(size_before, size_after) / 1024))
                continue
            if was:
                units += max(1, math.ceil(size_before / 1024))
            if now:
                units += max(1, math.ceil(size_after / 1024))
        return units

    def _projected(self, item, keys, projection, included):
        names = set(self.keys) | set(keys)
        if projection == "ALL":
            return item_size(item)
        if projection == "INCLUDE":
            names |= included
        return item_size({n: v for n, v in item.items() if n in names})

    @staticmethod
    def _projected_equal(before, after, projection, included):
        if projection == "ALL":
            return before == after
        return all(before.get(n) == after.get(n) for n in included)


class Meter:
    """Every AWS call of this process, by section, service and operation."""

    def __init__(self):
        self.calls = collections.Counter()       # (section, service, op) -> calls
        self.read_units = collections.Counter()  # section -> RRU
        self.write_units = collections.Counter()  # section -> WRU
        self.aws_seconds = collections.Counter()  # section -> wall time inside AWS calls
        self._tables: dict[str, _Table] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._original = None
        self.overhead = 0.0  # CPU seconds of the meter's own work, every thread

    # -- attribution -------------------------------------------------------------------------
    @contextlib.contextmanager
    def section(self, name: str):
        """Attribute the calls made inside the block (this thread) to ``name``."""
        previous = getattr(self._local, "section", None)
        self._local.section = name
        try:
            yield
        finally:
            self._local.section = previous

    def current(self) -> str:
        return getattr(self._local, "section", None) or "other"

    def add(self, section: str, service: str, operation: str, count: int = 1) -> None:
        """Count a call made outside botocore (e.g. a host's download of a presigned S3 URL)."""
        with self._lock:
            self.calls[(section, service, operation)] += count

    def thread_overhead(self) -> float:
        """CPU seconds this thread spent in the meter's own work so far (not the metered calls)."""
        return getattr(self._local, "overhead", 0.0)

    def thread_aws_seconds(self) -> float:
        """Wall time this thread spent inside AWS calls so far (for a handler's own compute)."""
        return getattr(self._local, "aws_seconds", 0.0)

    # -- the hook ----------------------------------------------------------------------------
    def install(self) -> "Meter":
        self._original = original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client, operation_name, api_params):
            return meter._call(client, original, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = metered
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original

    def _call(self, client, original, operation, params):
        cpu_entered = time.thread_time()
        service = client.meta.service_model.endpoint_prefix
        section = self.current()
        befores = None
        if service == "dynamodb" and operation in _WRITE_OPS:
            befores = self._images(client, original, operation, params)
        started, cpu_started = time.perf_counter(), time.thread_time()
        failed = None
        try:
            response = original(client, operation, params)
        except botocore.exceptions.ClientError as exc:
            failed, response = exc, None
        elapsed = time.perf_counter() - started
        call_cpu = time.thread_time() - cpu_started
        self._local.aws_seconds = self.thread_aws_seconds() + elapsed
        reads = writes = 0.0
        if service == "dynamodb" and response is not None and operation in _READ_OPS:
            reads = self._read_units(operation, params, response)
        if service == "dynamodb" and befores is not None:
            afters = self._images(client, original, operation, params) if failed is None else None
            writes = self._write_units(operation, befores, afters)
        with self._lock:
            self.calls[(section, service, operation)] += 1
            self.aws_seconds[section] += elapsed
            self.read_units[section] += reads
            self.write_units[section] += writes
        overhead = time.thread_time() - cpu_entered - call_cpu
        self._local.overhead = self.thread_overhead() + overhead
        with self._lock:
            self.overhead += overhead
        if failed is not None:
            raise failed
        return response

    # -- capacity units ----------------------------------------------------------------------
    def _table(self, client, original, name: str) -> _Table:
        if name not in self._tables:
            self._tables[name] = _Table(original(client, "DescribeTable", {"TableName": name})["Table"])
        return self._tables[name]

    @staticmethod
    def _read_units(operation, params, response) -> float:
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if operation in ("Query", "Scan"):
            size = sum(item_size(i) for i in response.get("Items", []))
            return max(1, math.ceil(size / 4096)) * factor
        if operation == "GetItem":
            return max(1, math.ceil(item_size(response.get("Item")) / 4096)) * factor
        if operation == "BatchGetItem":
            units = 0.0
            for table, items in response.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead")
                units += sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) * (
                    1.0 if consistent else 0.5)
            return units
        # TransactGetItems: twice a strongly consistent read of each item
        return sum(2 * max(1, math.ceil(item_size(r.get("Item")) / 4096))
                   for r in response.get("Responses", []))

    def _targets(self, operation, params):
        """(table name, key, transactional, put item or None) of every item a write touches."""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            item = params.get("Item")
            yield params["TableName"], params.get("Key"), False, item
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        yield table, None, False, request["PutRequest"]["Item"]
                    else:
                        yield table, request["DeleteRequest"]["Key"], False, None
        else:  # TransactWriteItems
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                if kind == "ConditionCheck":
                    yield body["TableName"], body["Key"], True, None
                else:
                    yield body["TableName"], body.get("Key"), True, body.get("Item")

    def _images(self, client, original, operation, params):
        images = []
        for table_name, key, _transactional, put in self._targets(operation, params):
            table = self._table(client, original, table_name)
            key = key or table.key_of(put)
            got = original(client, "GetItem", {"TableName": table_name, "Key": key,
                                               "ConsistentRead": True})
            images.append((table, got.get("Item")))
        return images

    def _write_units(self, operation, befores, afters) -> float:
        transactional = operation == "TransactWriteItems"
        units = 0.0
        for index, (table, before) in enumerate(befores):
            if afters is None:  # a failed condition (or a cancelled transaction) still costs
                units += max(1, math.ceil(item_size(before) / 1024))
                continue
            units += table.write_units(before, afters[index][1])
        return units * (2 if transactional else 1)

    # -- totals ------------------------------------------------------------------------------
    def totals(self, sections=None) -> dict:
        """Calls per (service, operation), and the read/write units, over ``sections``."""
        keep = (lambda s: True) if sections is None else (lambda s: s in sections)
        calls = collections.Counter()
        for (section, service, op), n in self.calls.items():
            if keep(section):
                calls[(service, op)] += n
        return {"calls": calls,
                "read_units": sum(v for s, v in self.read_units.items() if keep(s)),
                "write_units": sum(v for s, v in self.write_units.items() if keep(s))}
