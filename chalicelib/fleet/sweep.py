"""The tick's Describe calls: one paged sweep per distinct selector, whichever projects share it.

* each distinct tag set (``selectors.tags_key``): ``DescribeInstances`` filtered on every
  ``tag:<key>`` and ``instance-state-name = running``, ``MaxResults`` ``PAGE_SIZE`` a page,
  following ``NextToken`` up to ``MAX_PAGES`` pages (past that the sweep fails: "more than N
  pages", its projects keep their members);
* every distinct Auto Scaling group of every project, together: ``DescribeAutoScalingGroups`` with
  up to ``GROUPS_PER_CALL`` names a call; an instance is a member while its ``LifecycleState``
  is ``InService`` (``Pending``, ``Terminating``, ``Detached``, ``Standby``... are not: their
  state is kept to say why a member left), a name AWS does not know is that group's error.

Sweeps run concurrently (``WORKERS``) within the caller's deadline; a sweep that fails (throttled
past the client's retries, denied, unfinished at the deadline) is an error for its selector
only, never an empty result. Host names are instance ids; zones are Availability Zones.
"""
import concurrent.futures
import dataclasses
import functools
import threading
import time
from collections.abc import Iterable, Iterator, Mapping

import boto3
import botocore.client
from botocore.config import Config

from chalicelib import config
from chalicelib.fleet import selectors
from chalicelib.rollout import failures

#: ``DescribeInstances``' ``MaxResults`` (EC2's largest) and the most pages one tag sweep reads.
PAGE_SIZE = 1000
MAX_PAGES = 500
#: ``DescribeAutoScalingGroups``: names (and ``MaxRecords``) a call, Auto Scaling's largest.
GROUPS_PER_CALL = 100
#: Sweeps running at once.
WORKERS = 8
RUNNING = "running"
IN_SERVICE = "InService"
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3,
                 read_timeout=10)


@functools.lru_cache(maxsize=None)
def client(service: str) -> "botocore.client.BaseClient":
    """The ``ec2`` or ``autoscaling`` client the sweep reads with (short timeouts: the tick)."""
    return boto3.session.Session().client(service, region_name=config.region(), config=_CONFIG)


@dataclasses.dataclass
class Found:
    """What one selector found: ``members`` (instance id → zone), or why it could not tell
    (``error``); ``others``: instances of a group that are not ``InService``, and their state."""
    members: dict[str, str] = dataclasses.field(default_factory=dict)
    others: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str | None = None


@dataclasses.dataclass
class Sweep:
    """One tick's sweep: per tag set (``selectors.tags_key``) and per group name, and the calls."""
    tags: dict[str, Found] = dataclasses.field(default_factory=dict)
    groups: dict[str, Found] = dataclasses.field(default_factory=dict)
    calls: dict[str, int] = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1

    def of(self, fleet: Mapping) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """A project's members (id → zone), the non-``InService`` states of its groups'
        instances, and every error of its selectors (empty when the sweep can be trusted)."""
        members, others, errors = {}, {}, []
        tags = selectors.tags_of(fleet)
        if tags:
            found = self.tags.get(selectors.tags_key(tags)) or Found(error="not swept")
            if found.error:
                errors.append(f"EC2 instances with {selectors.describe({'ec2_tags': tags})}: "
                              f"{found.error}")
            members.update(found.members)
        for name in selectors.groups_of(fleet):
            found = self.groups.get(name) or Found(error="not swept")
            if found.error:
                errors.append(f"Auto Scaling group {name}: {found.error}")
            members.update(found.members)
            others.update(found.others)
        return members, others, errors


def run(fleets: Iterable[Mapping], deadline: float) -> Sweep:
    """Sweep every distinct selector of ``fleets`` once, by ``deadline`` (``time.monotonic``)."""
    sweep = Sweep()
    tag_sets: dict[str, dict] = {}
    groups: dict[str, None] = {}
    for fleet in fleets:
        tags = selectors.tags_of(fleet)
        if tags:
            tag_sets.setdefault(selectors.tags_key(tags), tags)
        groups.update(dict.fromkeys(selectors.groups_of(fleet)))
    names = list(groups)
    chunks = [names[i:i + GROUPS_PER_CALL] for i in range(0, len(names), GROUPS_PER_CALL)]
    if not tag_sets and not chunks:
        return sweep
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(WORKERS, len(tag_sets) + len(chunks)), thread_name_prefix="sweep")
    try:
        tasks = {pool.submit(_tagged, sweep, tags, deadline): ("tags", key)
                 for key, tags in tag_sets.items()}
        tasks.update({pool.submit(_groups, sweep, chunk, deadline): ("groups", tuple(chunk))
                      for chunk in chunks})
        done, _ = concurrent.futures.wait(tasks, timeout=max(deadline - time.monotonic(), 0))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    late = "not finished within the fleet sync's time budget (tried again next tick)"
    for future, (kind, key) in tasks.items():
        failed = late if future not in done else _error(future)
        if kind == "tags":
            sweep.tags[key] = Found(error=failed) if failed else future.result()
        else:
            for name in key:
                sweep.groups[name] = Found(error=failed) if failed else future.result()[name]
    return sweep


def _error(future: concurrent.futures.Future) -> str | None:
    exc = future.exception()
    return None if exc is None else failures.describe(exc)


def _pages(sweep: Sweep | None, service: str, action: str, kwargs: dict, what: str,
           deadline: float | None = None) -> Iterator[dict]:
    """The pages of one Describe call, following ``NextToken`` (at most ``MAX_PAGES``; each one
    counted on ``sweep``), within ``deadline``; ``what`` names a page in the overflow error."""
    call, token = getattr(client(service), action), None
    name = "".join(part.title() for part in action.split("_"))
    for _ in range(MAX_PAGES):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("not finished within the fleet sync's time budget")
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        if sweep is not None:
            sweep.count(name)
        yield page
        token = page.get("NextToken")
        if not token:
            return
    raise OverflowError(f"more than {MAX_PAGES} pages of {what}")


def _tagged(sweep: Sweep, tags: Mapping[str, str], deadline: float) -> Found:
    """The running instances carrying every tag of ``tags`` (paged)."""
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(tags.items())]
    filters.append({"Name": "instance-state-name", "Values": [RUNNING]})
    found = Found()
    for page in _pages(sweep, "ec2", "describe_instances", {"Filters": filters, "MaxResults": PAGE_SIZE},
                       f"{PAGE_SIZE} instances: narrow the tags", deadline):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                if (instance.get("State") or {}).get("Name", RUNNING) == RUNNING:
                    found.members[instance["InstanceId"]] = \
                        (instance.get("Placement") or {}).get("AvailabilityZone") or ""
    return found


def _groups(sweep: Sweep, names: list[str], deadline: float) -> dict[str, Found]:
    """Each group of ``names`` (at most ``GROUPS_PER_CALL``): its ``InService`` instances."""
    result = {name: Found(error=f"no Auto Scaling group named {name!r} in {config.region()}")
              for name in names}
    for page in _pages(sweep, "autoscaling", "describe_auto_scaling_groups",
                       {"AutoScalingGroupNames": names, "MaxRecords": GROUPS_PER_CALL},
                       "Auto Scaling groups", deadline):
        for group in page.get("AutoScalingGroups", []):
            name = group["AutoScalingGroupName"]
            found = Found()
            for instance in group.get("Instances", []):
                state = instance.get("LifecycleState") or ""
                if state == IN_SERVICE:
                    found.members[instance["InstanceId"]] = instance.get("AvailabilityZone") or ""
                else:
                    found.others[instance["InstanceId"]] = f"{state} in Auto Scaling group {name}"
            result[name] = found
    return result


def missing_groups(names: list[str]) -> list[str]:
    """The names of ``names`` Auto Scaling does not know (for the save-time check; an AWS
    error propagates)."""
    known: set[str] = set()
    for start in range(0, len(names), GROUPS_PER_CALL):
        for page in _pages(None, "autoscaling", "describe_auto_scaling_groups",
                           {"AutoScalingGroupNames": names[start:start + GROUPS_PER_CALL],
                            "MaxRecords": GROUPS_PER_CALL}, "Auto Scaling groups"):
            known |= {g["AutoScalingGroupName"] for g in page.get("AutoScalingGroups", [])}
    return [name for name in names if name not in known]
