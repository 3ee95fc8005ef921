"""Measure the deploy-script renderer against a bare render of the same template (fabu issue 4).

Target: rendering the script for a host with 10 pending projects (``render_deploy_script``: item
checks, Debian dependency parsing, base64 of the user scripts, then the render) costs at most
1.5x a bare ``template.render()`` of the same compiled template with the same, already prepared,
data. Both sides run in alternating blocks of one run, so machine noise hits both alike; the
template is compiled before timing starts. Prints both medians and the ratio.

    .venv/bin/python bench/bench_render.py [--rounds 2000]
"""
import argparse
import hashlib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib.hosts.script import prepare_context, render_deploy_script, render_prepared  # noqa: E402

TARGET = 1.5


def pending_projects(count=10):
    """``count`` realistic deploy items: dependencies, all six scripts, a presigned URL."""
    items = []
    for i in range(count):
        items.append({
            "kind": "deploy", "project": f"svc-{i}", "version": f"2.{i}.0",
            "deploy_id": f"d-{i:04d}-{hashlib.sha1(str(i).encode()).hexdigest()[:12]}",
            "artifact": {"url": f"https://fabu-releases.s3.amazonaws.com/svc-{i}/2.{i}.0.tgz"
                                "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900"
                                "&X-Amz-Signature=" + "ab" * 32,
                         "sha256": hashlib.sha256(str(i).encode()).hexdigest(), "size": 10_000_000},
            "deb_dependencies": ["nginx (>= 1.18)", "libssl3", "default-jre | openjdk-17-jre (>= 17)"],
            "scripts": {name: f"#!/bin/bash\n# {name} of svc-{i}\nsystemctl {name} svc-{i} || exit 1\n" * 4
                        for name in ("start", "stop", "test", "pre_deploy", "post_deploy", "health")},
            "health_timeout": 60, "health_interval": 5, "auto_rollback": True,
            "keep_releases": 5, "min_free_mb": 100,
        })
    return items


def _timed(function, rounds):
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    items = pending_projects()
    context = prepare_context("web-1.example.com", items, generated_at="2026-11-26T12:00:00Z")
    full = lambda: render_deploy_script("web-1.example.com", items,  # noqa: E731
                                        generated_at="2026-11-26T12:00:00Z")
    bare = lambda: render_prepared(context)  # noqa: E731
    assert full() == bare()          # same output; also compiles the template before timing
    full_samples, bare_samples = [], []
    block = 50
    for _ in range(max(1, args.rounds // block)):
        full_samples += _timed(full, block)
        bare_samples += _timed(bare, block)
    full_ms = statistics.median(full_samples) * 1000
    bare_ms = statistics.median(bare_samples) * 1000
    ratio = full_ms / bare_ms
    size = len(full().encode())
    print(f"render_deploy_script, 10 projects: median {full_ms:.3f} ms ({size} bytes of script)")
    print(f"bare template.render(), same data: median {bare_ms:.3f} ms")
    print(f"ratio {ratio:.2f}x (target <= {TARGET}x): {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
