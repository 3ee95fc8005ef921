"""The README's quickstart, run as a newcomer runs it: its marked code blocks, in order.

Every block after a ``<!-- quickstart: ... -->`` comment of ``README.md`` is run from the
repository's directory, as written, in one shared environment (a temporary ``FABU_HOME``, free
ports through ``FABU_API_PORT``/``FABU_AWS_PORT``/``FABU_APP_PORT``, and the faster tick and
agent period the README's variables table documents): a block marked ``(keeps running)`` (a
terminal of its own: ``make run``, ``make hosts N=3``) in the background, its own process group;
every other block in ``bash -e`` with the ``export`` lines of the blocks before it (the same
terminal); a block marked ``after Ctrl-C`` only once the background ones were stopped with
SIGINT to their process groups, as a terminal's Ctrl-C does. After each block that watches a
rollout, the API says it succeeded on every host of ``examples/project.yaml``.
"""
import random
import re
import signal
import socket
import subprocess
import time

import yaml

from chalicelib.states import HostStatus, RolloutState
from tests.conftest import ROOT
from tests.infra.stackproc import LocalStack, StackProcess, free_ports, port_open

_BLOCK = re.compile(r"<!-- quickstart: (.+?) -->\n```(?:sh|bash)\n(.*?)```", re.S)
BLOCK_SECONDS = 150
#: What make says when the Ctrl-C it got ended its recipe (GNU make 4.x).
_MAKE_INTERRUPTED = re.compile(r"make: \*\*\* \[Makefile:\d+: (run|hosts)\] Interrupt")


def quickstart_blocks(text):
    """``[(label, code)]`` of the README's marked blocks, in order."""
    return [(label.strip(), code) for label, code in _BLOCK.findall(text)]


def _readme():
    with open(f"{ROOT}/README.md", encoding="utf-8") as fh:
        return fh.read()


def _example():
    with open(f"{ROOT}/examples/project.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _bindable(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_app_ports(hosts):
    """A base for FABU_APP_PORT with base+1 .. base+hosts free, below the kernel's ephemeral
    range (a free port from there can be some connection's local port a second later)."""
    for _ in range(200):
        base = random.randrange(20000, 32000)
        if all(_bindable(base + i) for i in range(1, hosts + 1)):
            return base
    raise AssertionError("no free run of ports for the sample app")


def _stopped_cleanly(proc, last_line):
    """Ctrl-C to the terminal's process group: the command says ``last_line`` last and exits 0;
    make, which got the SIGINT too, then ends by it, as in a terminal."""
    code = proc.interrupt()
    out = proc.output
    assert last_line in out, out[-3000:]
    after = out[out.rindex(last_line) + len(last_line):].strip()
    assert code in (0, -signal.SIGINT), (code, out[-3000:])
    assert after == "" or _MAKE_INTERRUPTED.fullmatch(after), out[-3000:]
    assert "Traceback" not in out and "error" not in out.lower(), out[-3000:]
    return out


def _assert_rolled_out(stack, project, version, hosts):
    body = stack.request("GET", f"/api/v1/project/{project}").json()
    rollout = body["rollout"]
    assert (rollout["version"], rollout["state"]) == (version, RolloutState.SUCCEEDED), rollout
    rows = {h["host"]: (h["running_version"], h["status"]) for h in body["hosts_view"]["hosts"]}
    assert rows == {h: (version, HostStatus.SUCCEEDED) for h in hosts}, rows
    waves = rollout["waves"]
    assert len(waves) >= 2 and waves[0]["size"] == 1, waves  # a canary wave of one host first


def test_the_readme_quickstart_reaches_a_finished_canary_rollout(tmp_path):
    blocks = quickstart_blocks(_readme())
    background = [code.strip() for label, code in blocks if "(keeps running)" in label]
    assert background[:2] == ["make run", "make hosts N=3"], blocks
    example = _example()
    project, hosts = example["name"], example["hosts"]
    assert len(hosts) == 3

    stack = running = None
    exports, versions = [], []
    api_port, aws_port = free_ports(2)
    settings = {"FABU_APP_PORT": _free_app_ports(len(hosts)), "FABU_AGENT_SECONDS": 1}
    try:
        for label, code in blocks:
            if "(keeps running)" in label:
                if stack is None:  # terminal 1: make run
                    stack = LocalStack(tmp_path / "fabu", (api_port, aws_port),
                                       argv=["bash", "-c", code], **settings).ready()
                    running = [stack]
                    env = stack.env
                else:               # terminal 2: make hosts
                    hosts_proc = StackProcess(["bash", "-c", code], env)
                    running.append(hosts_proc)
                    hosts_proc.wait_for(f"hosts: {len(hosts)} sandbox hosts", 120)
                continue
            if "after Ctrl-C" in label:
                _stopped_cleanly(running.pop(), "hosts: stopped")
                app_ports = [settings["FABU_APP_PORT"] + i for i in range(1, len(hosts) + 1)]
                assert not any(port_open(p) for p in app_ports), "a sample app outlived make hosts"
                _stopped_cleanly(running.pop(), "fabu: stopped")
                assert not port_open(api_port) and not port_open(aws_port)
            script = "\n".join(exports + [code])
            started = time.monotonic()
            done = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=env, text=True,
                                  capture_output=True, stdin=subprocess.DEVNULL,
                                  timeout=BLOCK_SECONDS)
            context = (f"block {label!r} exited {done.returncode} after "
                       f"{time.monotonic() - started:.0f}s\n{done.stdout[-3000:]}\n"
                       f"{done.stderr[-3000:]}\n" + "\n".join(
                           f"--- {p.argv}:\n{p.output_unlocked()}" for p in running))
            assert done.returncode == 0, context
            exports += [line for line in code.splitlines() if line.startswith("export ")]
            if "fabu watch" in code:
                version = done.stdout.strip().splitlines()[-1]  # what host-1's app answers
                assert f"rollout of {version} succeeded" in done.stdout, context
                _assert_rolled_out(stack, project, version, hosts)
                versions.append(version)
        assert versions[0] == str(example["version"]) and len(set(versions)) == len(versions) >= 2
        assert not running, "the quickstart never says to stop make run and make hosts"
        assert "the next `make run` starts empty" in done.stdout, done.stdout
        assert not (tmp_path / "fabu" / "hosts").exists()
    finally:
        for proc in reversed(running or []):
            if proc.proc.poll() is None:
                proc.kill()
