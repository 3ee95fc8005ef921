"""Benchmark the release packager against GNU `tar czf` on the same tree (fabu issue 5).

Targets: packing an ~80 MB tree of ~5,000 files takes at most 1.3x GNU tar's time in the same
run; the packager's peak RSS stays under 150 MB and flat (within 20%) when the tree grows 4x.
Each build runs in a fresh subprocess so `ru_maxrss` is its own. Sinks: a local file; the S3
multipart writer with a client that drops the parts (memory of the packager alone); and moto's
in-process S3 (time only: moto holds every uploaded byte in its own memory). Run: `.venv/bin/python bench/bench_build.py`
(about two minutes; `--quick` uses a 20 MB tree).
"""
import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_POOL = None


def _pool():
    """4 MB of text-like lines with random binary runs, ~50% compressible, built once."""
    global _POOL
    if _POOL is None:
        rnd = random.Random(7)
        words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rnd.randint(2, 10)))
                 for _ in range(2000)]
        chunks, size = [], 0
        while size < 4 * 1024 * 1024:
            chunk = rnd.randbytes(64) if rnd.random() < 0.3 else \
                b" ".join(rnd.choices(words, k=16)) + b"\n"
            chunks.append(chunk)
            size += len(chunk)
        _POOL = b"".join(chunks)
    return _POOL


def generate_tree(root: Path, files: int, total_bytes: int, seed: int = 42) -> None:
    """Deterministic semi-compressible files (slices of the pool) in 50 x 7 directories."""
    rnd = random.Random(seed)
    pool = _pool()
    average = total_bytes // files
    for i in range(files):
        directory = root / f"pkg{i % 50:02d}" / f"mod{i % 7}"
        directory.mkdir(parents=True, exist_ok=True)
        size = max(1, min(int(rnd.expovariate(1 / average)), 40 * average, len(pool) // 2))
        start = rnd.randrange(len(pool) - size)
        (directory / f"file{i}.dat").write_bytes(pool[start:start + size])


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def run_gnu_tar(tree: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["tar", "czf", str(out), "-C", str(tree), "."], check=True)
    return time.perf_counter() - start


def run_packager(tree: Path, out: Path, sink: str) -> dict:
    """Run one build in a child process; return its own timing and peak RSS."""
    done = subprocess.run([sys.executable, __file__, "--child", sink, str(tree), str(out)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(sink, tree, out):
    sys.path.insert(0, str(ROOT))
    from chalicelib.build import packaging
    if sink == "file":
        start = time.perf_counter()
        with open(out, "wb") as f:
            sha, size = packaging.write_tarball(tree, f)
        seconds = time.perf_counter() - start
    elif sink == "null-s3":
        start = time.perf_counter()
        artifact = packaging.build_tarball(tree, bucket="bench", key="r.tgz",
                                           max_bytes=10 * 1024 ** 3, s3=_NullS3())
        seconds = time.perf_counter() - start
        sha, size = artifact.sha256, artifact.size
    else:
        from moto import mock_aws
        os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                          AWS_DEFAULT_REGION="us-east-1")
        os.environ.pop("AWS_ENDPOINT_URL", None)
        with mock_aws():
            from chalicelib import aws
            aws.client("s3").create_bucket(Bucket="bench")
            start = time.perf_counter()
            artifact = packaging.build_tarball(tree, bucket="bench", key="r.tgz",
                                               max_bytes=10 * 1024 ** 3)
            seconds = time.perf_counter() - start
            sha, size = artifact.sha256, artifact.size
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "sha256": sha, "size": size}))


class _NullS3:
    """An S3 client that accepts and drops every part: the multipart path without a server.

    moto keeps uploaded objects in its own memory, so its RSS says nothing about the packager's.
    """

    def create_multipart_upload(self, **kwargs):
        return {"UploadId": "bench"}

    def upload_part(self, **kwargs):
        return {"ETag": f'"{kwargs["PartNumber"]}"'}

    def complete_multipart_upload(self, **kwargs):
        return {}

    def abort_multipart_upload(self, **kwargs):
        return {}

    def put_object(self, **kwargs):
        return {}


def _baseline_rss():
    """Peak RSS of a child that only imports the packager (and moto), to separate code from work."""
    code = (f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); "
            "import chalicelib.build.packaging, moto; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MB tree instead of 80 MB")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per tool (best kept)")
    args = parser.parse_args()
    files, total = (1250, 20_000_000) if args.quick else (5000, 80_000_000)
    work = Path(tempfile.mkdtemp(prefix="fabu-bench-"))
    try:
        tree, big = work / "tree", work / "tree4x"
        generate_tree(tree, files, total)
        print(f"tree: {files} files, {tree_size(tree) / 1e6:.1f} MB")
        gnu = min(run_gnu_tar(tree, work / "gnu.tgz") for _ in range(args.repeat))
        runs = [run_packager(tree, work / "py.tgz", "file") for _ in range(args.repeat)]
        ours = min(r["seconds"] for r in runs)
        print(f"GNU tar czf: {gnu:.2f}s  ({(work / 'gnu.tgz').stat().st_size / 1e6:.1f} MB)")
        print(f"fabu packager (file sink): {ours:.2f}s  ({runs[0]['size'] / 1e6:.1f} MB)  "
              f"ratio {ours / gnu:.2f}x (target <= 1.3x)")
        assert len({r["sha256"] for r in runs}) == 1, "packager output is not reproducible"
        print(f"reproducible: {len(runs)} builds, one sha256 {runs[0]['sha256'][:16]}...")
        null = run_packager(tree, work / "unused", "null-s3")
        s3 = run_packager(tree, work / "unused", "s3")
        print(f"fabu packager (S3 multipart, parts dropped): {null['seconds']:.2f}s  "
              f"ratio {null['seconds'] / gnu:.2f}x")
        print(f"fabu packager (moto in-process S3): {s3['seconds']:.2f}s  "
              f"ratio {s3['seconds'] / gnu:.2f}x (moto's own request handling included)")

        for i in range(4):
            generate_tree(big / f"copy{i}", files, total, seed=100 + i)
        print(f"tree x4: {4 * files} files, {tree_size(big) / 1e6:.1f} MB")
        file_big = run_packager(big, work / "py4x.tgz", "file")
        null_big = run_packager(big, work / "unused", "null-s3")
        print(f"peak RSS, imports alone: {_baseline_rss():.0f} MB")
        for label, small, large in (("file sink", runs[0], file_big),
                                    ("S3 multipart sink", null, null_big)):
            print(f"peak RSS, {label}: {small['rss_mb']:.0f} MB -> {large['rss_mb']:.0f} MB on the "
                  f"4x tree ({large['rss_mb'] / small['rss_mb'] - 1:+.0%}; targets <= 150 MB, "
                  f"within 20%)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
