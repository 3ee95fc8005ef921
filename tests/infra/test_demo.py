"""``make demo`` end to end: real agents, a git source built by the worker, two rollouts.

The demo runs as ``make demo`` runs it (``python -m infra.demo``) against the live local stack;
this test plays ``make run``'s ticker with ``live.tick()`` in a thread, and shortens the demo's
timings and fleet (5 hosts instead of 12: still three waves) through its environment knobs.
"""
import os
import subprocess
import sys
import threading
import time

from tests.conftest import ADMIN_KEY, ADMIN_SECRET, ROOT

DEMO_TIMEOUT = 150
HOSTS = 5


def _tick_until(live, stop):
    while not stop.is_set():
        live.tick()
        stop.wait(0.5)


def test_demo_succeeds_with_1_0_0_then_rolls_2_0_0_back(live, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"FABU_API_URL": live.url, "AWS_ACCESS_KEY_ID": ADMIN_KEY,
                "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "FABU_PRINCIPALS": str(live.principals_path), "FABU_DEMO_DIR": str(tmp_path / "demo"),
                "FABU_DEMO_AGENT_SECONDS": "1", "FABU_DEMO_BAKE_SECONDS": "1",
                "FABU_DEMO_POLL_SECONDS": "0.5", "FABU_DEMO_TIMEOUT": str(DEMO_TIMEOUT),
                "FABU_DEMO_HOSTS": str(HOSTS)})
    stop = threading.Event()
    ticker = threading.Thread(target=_tick_until, args=(live, stop), daemon=True)
    ticker.start()
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "infra.demo"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=DEMO_TIMEOUT + 30)
    finally:
        stop.set()
        ticker.join(timeout=30)
    took = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    succeeded = out.index(f"demo: rollout of 1.0.0: succeeded; hosts run {{'1.0.0': {HOSTS}}}")
    rolled_back = out.index(f"demo: rollout of 2.0.0: rolled back; hosts run {{'1.0.0': {HOSTS}}}")
    assert succeeded < rolled_back
    assert took < DEMO_TIMEOUT
    # why 2.0.0 was rolled back: the canary's failed check, as the host reported it
    assert "demo-01.fabu.test: post-deploy failed (exit 1):" in proc.stderr
    assert "check: /healthz answered 500" in proc.stderr
    others = (tmp_path / "demo" / f"demo-{HOSTS:02d}.fabu.test" / "root" / "demo" / "current" / ".fabu-version")
    assert others.read_text().strip() == "1.0.0"
