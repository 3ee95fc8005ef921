"""Save the local stack's data to disk and put it back: moto's server keeps everything in memory.

``make run`` restores the newest snapshot right after creating the stack (before the API
starts), saves one every ``FABU_SNAPSHOT_SECONDS`` (60) while it runs and a last one when it is
stopped. A snapshot holds every item of every table of the stage, every version of every object of its
buckets, delete markers included (with Content-Type, Cache-Control, Content-Encoding,
Content-Disposition and user metadata), the emulator's SSM parameters and Secrets Manager secrets (the local stand-ins
of build credentials) and, in the snapshot taken at a clean stop only, the messages waiting in
the stage's queues (a crash loses those: see ``docs/operations.md``).

Layout of the state directory (``$FABU_STATE_DIR``, default ``.fabu/state``)::

    current -> snap-20261130T120000Z-4242-3     the newest complete snapshot (a symlink)
    snap-.../manifest.json                      format, time, counts; written last
    snap-.../tables/<table>.jsonl               one item per line, DynamoDB JSON (B as base64)
    snap-.../buckets/<bucket>.jsonl             one object version (or delete marker) per line:
                                                key, version id, ETag, size, blob, headers
    snap-.../blobs/<sha256>                     object bodies, shared (hard links) between snapshots
    snap-.../queues/<queue>.jsonl               messages (clean stop only)
    snap-.../parameters.jsonl, secrets.jsonl

A snapshot is written into ``.tmp-snap-...`` and published by switching the ``current``
symlink atomically, so a crash mid-save leaves the previous snapshot in place. Saving is
incremental for objects: a version the previous snapshot holds is hard-linked from it instead
of downloaded again. S3 gives every restored version a new id: table items that name an old
version id (a string attribute equal to it, e.g. a release's ``s3_version``) are restored
naming the new one.

    python -m infra.snapshot wipe      # `make wipe`: delete the saved state (refused while
                                       # `make run` or `make hosts` runs)
"""
import argparse
import concurrent.futures
import datetime
import itertools
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra import local, snapshot_io as io

FORMAT = 1
CURRENT = "current"
WORKERS = 8


class SnapshotError(Exception):
    """A save or a restore failed; the message names the table, bucket, queue or file."""


@dataclass
class Stage:
    """The resources of one stage on the emulator: what a snapshot covers."""

    tables: list[str]
    buckets: list[str]
    queues: dict[str, str]  # name -> URL
    export_bucket: str = "fabu-local-snapshot-exports"  # scratch space of table exports


def stage_of(created: dict[str, str], template: dict, skip: tuple[str, ...] = ()) -> Stage:
    """The ``Stage`` of ``infra.stack.create_stack``'s answer (logical id -> name or URL), but
    the resources of ``skip`` (logical ids)."""
    from chalicelib import config
    kinds = {logical: resource["Type"] for logical, resource in template["Resources"].items()}

    def of(kind):
        return [v for k, v in created.items() if kinds.get(k) == kind and k not in skip]
    return Stage(tables=sorted(of("AWS::DynamoDB::Table")), buckets=sorted(of("AWS::S3::Bucket")),
                 queues={url.rstrip("/").rsplit("/", 1)[-1]: url for url in of("AWS::SQS::Queue")},
                 export_bucket=config.resource_name("snapshot-exports"))


@dataclass
class Summary:
    """What one save or restore moved, for the line ``make run`` prints."""

    saved_at: str = ""
    items: int = 0
    tables: int = 0
    objects: int = 0
    bytes: int = 0
    messages: int | None = None
    parameters: int = 0
    secrets: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        parts = [f"{self.items} items in {self.tables} tables",
                 f"{self.objects} objects ({self.bytes / 1e6:.1f} MB)"]
        if self.parameters or self.secrets:
            parts.append(f"{self.parameters} parameters and {self.secrets} secrets")
        parts.append("no queue messages (saved at a clean stop only)" if self.messages is None
                     else f"{self.messages} queue messages")
        return f"{', '.join(parts)} in {self.seconds:.1f} s"


def current(state_dir: Path) -> Path | None:
    """The newest complete snapshot, or None when there is none."""
    link = Path(state_dir) / CURRENT
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    if not (target / "manifest.json").is_file():
        raise SnapshotError(f"{link} points at {target}, which holds no manifest.json: the saved "
                            "state is damaged (`make wipe` deletes it)")
    return target


def read_manifest(snapshot: Path) -> dict:
    try:
        manifest = json.loads((snapshot / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"cannot read {snapshot / 'manifest.json'}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise SnapshotError(f"{snapshot} has format {manifest.get('format')!r}; this fabu reads "
                            f"format {FORMAT} only (`make wipe` deletes it)")
    return manifest


_counter = itertools.count(1)


def save(state_dir: Path, stage: Stage, clients: io.Clients, *, queues: bool = False) -> Summary:
    """Write a new snapshot and make it ``current``; the previous one stays until then.

    ``queues=True`` also moves the waiting messages into the snapshot (receiving and deleting
    them): only for the last save before the emulator stops.
    """
    started = time.monotonic()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    previous = current(state_dir)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    name = f"snap-{stamp:%Y%m%dT%H%M%SZ}-{os.getpid()}-{next(_counter)}"
    tmp = state_dir / f".tmp-{name}"
    summary = Summary(saved_at=stamp.isoformat(timespec="seconds"))
    manifest = {"format": FORMAT, "saved_at": summary.saved_at, "tables": {}, "buckets": {},
                "queues": None}
    budget = io.ByteBudget(io.max_snapshot_bytes())
    try:
        for sub in ("tables", "buckets", "blobs", "queues"):
            (tmp / sub).mkdir(parents=True)
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            io.ensure_bucket(clients.s3, stage.export_bucket)
            saved = pool.map(lambda t: _save_table(clients, stage, t, tmp), stage.tables)
            manifest["tables"] = dict(zip(stage.tables, saved))
            old = io.object_index(previous) if previous else {}
            for bucket in stage.buckets:
                manifest["buckets"][bucket] = io.save_bucket(
                    clients.s3, bucket, tmp, previous, old.get(bucket, {}), pool, budget)
        manifest["parameters"] = io.save_parameters(clients.ssm, tmp / "parameters.jsonl")
        manifest["secrets"] = io.save_secrets(clients.secrets, tmp / "secrets.jsonl")
        if queues:
            manifest["queues"] = {}
            for queue, url in stage.queues.items():
                count, note = io.save_queue(clients.sqs, url, tmp / "queues" / f"{queue}.jsonl")
                manifest["queues"][queue] = {"messages": count}
                if note:
                    summary.notes.append(f"queue {queue}: {note}")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        _publish(state_dir, name, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(state_dir, keep=name)
    _fill(summary, manifest)
    summary.seconds = time.monotonic() - started
    return summary


def _save_table(clients: io.Clients, stage: Stage, table: str, tmp: Path) -> dict:
    """``{"items": count, "key": [attribute names]}`` of one table written to the snapshot."""
    described = clients.ddb.describe_table(TableName=table)["Table"]
    path = tmp / "tables" / f"{table}.jsonl"
    count = io.export_table(clients.ddb, clients.s3, table, described["TableArn"],
                            stage.export_bucket, path)
    if count is None:
        count = io.save_table(clients.ddb, table, path)
    return {"items": count, "key": io.key_of(described)}


def _publish(state_dir: Path, name: str, tmp: Path) -> None:
    """``tmp`` becomes ``name``, then ``current`` points at it (one atomic rename)."""
    os.rename(tmp, state_dir / name)
    link = state_dir / f".{CURRENT}.new"
    with io.suppress_missing():
        link.unlink()
    os.symlink(name, link)
    os.replace(link, state_dir / CURRENT)


def _prune(state_dir: Path, keep: str) -> None:
    """Delete every snapshot but ``keep``, and what crashed saves left behind."""
    for entry in state_dir.iterdir():
        if entry.name != keep and (entry.name.startswith("snap-") or entry.name.startswith(".tmp-snap-")):
            shutil.rmtree(entry, ignore_errors=True)


def _fill(summary: Summary, manifest: dict) -> None:
    summary.tables = len(manifest["tables"])
    summary.items = sum(t["items"] for t in manifest["tables"].values())
    summary.objects = sum(b["objects"] for b in manifest["buckets"].values())
    summary.bytes = sum(b["bytes"] for b in manifest["buckets"].values())
    summary.parameters = manifest.get("parameters", 0)
    summary.secrets = manifest.get("secrets", 0)
    if manifest.get("queues") is not None:
        summary.messages = sum(q["messages"] for q in manifest["queues"].values())


def restore(state_dir: Path, stage: Stage, clients: io.Clients) -> Summary | None:
    """Put the ``current`` snapshot into the (empty) stage; None when nothing was saved.

    Raises ``SnapshotError`` naming what failed; the snapshot itself is never changed. After
    writing, the count of every table and bucket is checked against the manifest.
    """
    started = time.monotonic()
    snapshot = current(Path(state_dir))
    if snapshot is None:
        return None
    manifest = read_manifest(snapshot)
    _check_fits(manifest, stage, snapshot, clients.ddb)
    summary = Summary(saved_at=manifest["saved_at"])
    _step("parameters", lambda: io.restore_parameters(clients.ssm, snapshot / "parameters.jsonl"))
    _step("secrets", lambda: io.restore_secrets(clients.secrets, snapshot / "secrets.jsonl"))
    versions: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        for bucket in manifest["buckets"]:  # first: the tables name the objects' new version ids
            _step(f"bucket {bucket}", lambda b=bucket: versions.update(io.restore_bucket(
                clients.s3, b, snapshot, pool)))
        futures = {pool.submit(io.restore_table, clients.ddb, table,
                               snapshot / "tables" / f"{table}.jsonl", versions): f"table {table}"
                   for table in manifest["tables"]}
        _wait_all(futures)
    for queue, info in (manifest.get("queues") or {}).items():
        if info["messages"]:
            _step(f"queue {queue}", lambda q=queue: io.restore_queue(
                clients.sqs, stage.queues[q], snapshot / "queues" / f"{q}.jsonl"))
    _verify(manifest, clients)
    _fill(summary, manifest)
    summary.seconds = time.monotonic() - started
    return summary


def _check_fits(manifest: dict, stage: Stage, snapshot: Path, ddb) -> None:
    """Every table, bucket and queue of the snapshot exists, each table with the same key."""
    missing = ([f"table {t}" for t in manifest["tables"] if t not in stage.tables]
               + [f"bucket {b}" for b in manifest["buckets"] if b not in stage.buckets]
               + [f"queue {q}" for q in (manifest.get("queues") or {}) if q not in stage.queues])
    if missing:
        raise SnapshotError(f"{snapshot} holds {', '.join(missing)}, which infra/resources.json "
                            "no longer defines for this stage")
    changed = []
    for table, info in manifest["tables"].items():
        now = io.key_of(ddb.describe_table(TableName=table)["Table"])
        if info.get("key") and info["key"] != now:
            changed.append(f"table {table} (saved with key {'/'.join(info['key'])}, now "
                           f"{'/'.join(now)})")
    if changed:
        raise SnapshotError(f"the key of {', '.join(changed)} changed since the data was saved "
                            "(infra/resources.json): its items cannot be restored as they are")


def _step(what: str, action) -> None:
    try:
        action()
    except SnapshotError as exc:
        raise SnapshotError(f"{what}: {exc}") from None
    except Exception as exc:  # an AWS or file error: name the resource, keep the cause
        raise SnapshotError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _wait_all(futures: dict) -> None:
    failures = []
    for future in concurrent.futures.as_completed(futures):
        try:
            future.result()
        except Exception as exc:
            failures.append(f"{futures[future]}: {type(exc).__name__}: {exc}")
    if failures:
        raise SnapshotError("; ".join(sorted(failures)))


def _verify(manifest: dict, clients: io.Clients) -> None:
    """Every table and bucket holds as many items/objects as the manifest says."""
    wrong = []
    for table, info in manifest["tables"].items():
        got = io.count_items(clients.ddb, table)
        if got != info["items"]:
            wrong.append(f"table {table} has {got} items after the restore, the snapshot {info['items']}")
    for bucket, info in manifest["buckets"].items():
        got = io.count_objects(clients.s3, bucket)
        if got != info["objects"]:
            wrong.append(f"bucket {bucket} has {got} objects after the restore, the snapshot "
                         f"{info['objects']}")
    if wrong:
        raise SnapshotError("; ".join(wrong))


def wipe(state_dir: Path) -> bool:
    """Delete the saved state; False when there was none."""
    state_dir = Path(state_dir)
    if not state_dir.exists():
        return False
    shutil.rmtree(state_dir)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The saved data of the local stack (make run).")
    parser.add_argument("command", choices=["wipe", "show"],
                        help="wipe: delete the saved state and the sandbox hosts (`make wipe`); "
                             "show: what the newest snapshot holds")
    args = parser.parse_args(argv)
    state = local.state_dir()
    if args.command == "show":
        snapshot = current(state)
        if snapshot is None:
            print(f"no saved state in {state}")
            return 0
        summary = Summary(saved_at=read_manifest(snapshot)["saved_at"])
        _fill(summary, read_manifest(snapshot))
        print(f"{snapshot} (saved {summary.saved_at}): {summary.text().rsplit(' in ', 1)[0]}")
        return 0
    for lock, command in (("run.lock", "make run"), ("hosts.lock", "make hosts")):
        if local.is_locked(lock):
            print(f"fabu: {command} is running with {local.home()}: stop it first (Ctrl-C), then "
                  "wipe; it would save its data again when it stops", file=sys.stderr)
            return 1
    removed = [str(path) for path in (state, local.hosts_dir()) if wipe(path)]
    print(f"fabu: deleted {' and '.join(removed)}; the next `make run` starts empty "
          "(the keys in principals.json and credentials are kept)" if removed
          else f"fabu: nothing to wipe in {local.home()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
