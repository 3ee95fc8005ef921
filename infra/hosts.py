"""``make hosts N=3``: sandbox hosts running the real cron agent against the running local stack.

Host ``<name>`` (``host-1`` .. ``host-N``, or the names of ``HOSTS="web-1 web-2"``) lives in
``$FABU_HOME/hosts/<name>/`` (``.fabu/hosts/``): its ``agent.env`` (the API of ``make run`` on
``FABU_API_PORT``, its own key minted into the principals file as ``fabu local host-key`` does
and reused on later runs), its ``FABU_ROOT`` (``root/``) and ``agent.log`` (everything the
agent printed). Every ``FABU_AGENT_SECONDS`` (3) each host runs ``agent/fabu-agent.sh`` as cron
would, with ``APP_PORT`` (``FABU_APP_PORT`` + the host's number: where the sample app listens)
in its environment, and one line is printed per thing it does::

    12:00:03 host-1: polled: nothing to do (only changes are printed from now on)
    12:00:21 host-1: deploying hello: (none) → 1.0.0
    12:00:22 host-1: hello 1.0.0 succeeded
    12:01:40 host-2: hello 1.1.0 failed in post-deploy: health exited with code 1; rolling back to 1.0.0

A host's disk outlives ``make hosts``, like a real host's: at start each host starts the apps
it ran (every project's current ``start``, as at boot); Ctrl-C lets running deploys finish (up
to ``FABU_HOSTS_GRACE_SECONDS``, 20), stops the agents, stops the apps (``stop``, as at
shutdown), says ``hosts: stopped`` and exits 0. ``make wipe`` deletes the hosts with the data.

``make hosts N=3 TAGS="app=hello"`` (or ``ASG=name``) runs hosts that are emulator EC2 instances
named by instance id, and follows them as they come and go; the same command again with a larger
N is a scale-out (``infra.fleet_hosts``, ``docs/fleets.md``).
"""
import argparse
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.exceptions

from infra import local
from infra.demo import AGENT, HOST_ARN
from infra.host_output import RunReader

MAX_HOSTS = 50
REGION = "us-east-1"
AGENT_TIMEOUT_SECONDS = 3600
SCRIPT_TIMEOUT_SECONDS = 30

_print_lock = threading.Lock()


def say(message: str) -> None:
    with _print_lock:
        print(f"hosts: {message}", flush=True)


def host_line(host: str, message: str) -> None:
    with _print_lock:
        print(f"{time.strftime('%H:%M:%S')} {host}: {message}", flush=True)


def _number(name: str, default: float) -> float:
    text = os.environ.get(name) or str(default)
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"hosts: {name} must be a number, not {text!r}") from None
    if value <= 0:
        raise SystemExit(f"hosts: {name} must be more than 0")
    return value


def host_names(count: int | None, names: str | None) -> list[str]:
    """``host-1..count``, or the names of ``names`` (spaces or commas); SystemExit saying why not."""
    from chalicelib.projects.fields import host_name_problem
    chosen = names.replace(",", " ").split() if names else [f"host-{i}" for i in range(1, (count or 0) + 1)]
    if not 1 <= len(chosen) <= MAX_HOSTS:
        raise SystemExit(f"hosts: asked for {len(chosen)} hosts; make hosts runs 1 to {MAX_HOSTS} "
                         "(each one is an agent run every few seconds on this machine)")
    for name in chosen:
        problem = host_name_problem(name)
        if problem:
            raise SystemExit(f"hosts: {name!r} {problem}")
    if len(set(chosen)) != len(chosen):
        raise SystemExit("hosts: HOSTS names a host twice")
    return chosen


class Host(threading.Thread):
    """One sandbox host: its directory, its key, and its cron (a loop of agent runs)."""

    def __init__(self, name: str, index: int, api_url: str, stop: threading.Event) -> None:
        super().__init__(name=f"host-{name}", daemon=True)
        self.host, self.api_url, self.stop_event = name, api_url, stop
        self.dir = local.hosts_dir() / name
        self.root = self.dir / "root"
        self.app_port = int(_number("FABU_APP_PORT", 8100)) + index
        self.interval = _number("FABU_AGENT_SECONDS", 3)
        self.proc = None
        self._quiet = None     # the last quiet line printed (None after a run that did something)
        self._polled = False   # said once that idle polls are not printed

    # --- setup ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """``agent.env`` with the host's key (reused when the principals file still has it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        env_file = self.dir / "agent.env"
        old = read_env(env_file)
        key, secret = old.get("AWS_ACCESS_KEY_ID"), old.get("AWS_SECRET_ACCESS_KEY")
        if not _known(key, secret, HOST_ARN % self.host):
            from chalicelib.auth import principals
            minted = principals.add_principal(HOST_ARN % self.host, path=str(local.principals_path()))
            key, secret = minted.access_key_id, minted.secret_access_key
        values = {"FABU_API_URL": self.api_url, "FABU_REGION": REGION, "FABU_HOST": self.host,
                  "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                  "FABU_ROOT": str(self.root), "FABU_SPLAY": "0"}
        tmp = env_file.with_name("agent.env.tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write("".join(f"{name}='{value}'\n" for name, value in values.items()))
        os.replace(tmp, env_file)

    def base_env(self) -> dict[str, str]:
        """What cron gives a job (with ``APP_PORT``, as a crontab variable would set it), plus
        the file the agent reads."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir),
                "LANG": "C.UTF-8", "FABU_AGENT_ENV": str(self.dir / "agent.env"),
                "APP_PORT": str(self.app_port)}

    # --- the cron ------------------------------------------------------------------------------

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self._run_agent()
            except Exception as exc:  # this host stops; the others go on
                host_line(self.host, f"stopped: {type(exc).__name__}: {exc}")
                return
            self.stop_event.wait(max(0.2, self.interval - (time.monotonic() - started)))

    def _run_agent(self) -> None:
        reader = RunReader(lambda text: host_line(self.host, text))
        self.proc = subprocess.Popen(["bash", str(AGENT)], env=self.base_env(), cwd=self.dir,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + AGENT_TIMEOUT_SECONDS
        with open(self.dir / "agent.log", "a", encoding="utf-8") as log:
            for line in _lines(self.proc, deadline):
                log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
                reader.feed(line)
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            host_line(self.host, f"the agent ran over {AGENT_TIMEOUT_SECONDS}s: killed")
        quiet = reader.finish(self.proc.wait())
        if quiet is None:
            self._quiet = None
        elif quiet != self._quiet:
            first_poll = quiet.startswith("polled") and not self._polled
            host_line(self.host, f"{quiet} (only changes are printed from now on)" if first_poll
                      else quiet)
            self._polled = self._polled or first_poll
            self._quiet = quiet

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- boot and shutdown ---------------------------------------------------------------------

    def apps(self, script: str, verb: str) -> None:
        """Run ``script`` (start, stop) of every project's current release on this host."""
        for project_dir in sorted(p for p in self.root.iterdir() if (p / "current").is_symlink()):
            release = (project_dir / "current").resolve()
            path = next((p for p in (project_dir / ".fabu-scripts" / release.name / script,
                                     release / ".fabu-scripts" / script) if p.is_file()), None)
            if path is None:
                continue
            marker = release / ".fabu-version"
            version = marker.read_text().strip() if marker.is_file() else release.name
            env = {k: v for k, v in read_env(self.dir / "agent.env").items() if not k.startswith("AWS_")}
            env.update(self.base_env(), FABU_PROJECT=project_dir.name, FABU_VERSION=version,
                       FABU_PREVIOUS_VERSION="", FABU_RELEASE_DIR=str(release), FABU_SCRIPT=script,
                       FABU_PHASE="boot" if script == "start" else "shutdown")
            try:
                done = subprocess.run(["bash", str(path)], cwd=release, env=env, text=True,
                                      capture_output=True, stdin=subprocess.DEVNULL,
                                      timeout=SCRIPT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                host_line(self.host, f"{project_dir.name} {version}: {script} ran over "
                                     f"{SCRIPT_TIMEOUT_SECONDS}s")
                continue
            if done.returncode == 0:
                host_line(self.host, f"{verb} {project_dir.name} {version}")
            else:
                last = (done.stderr.strip() or done.stdout.strip() or "(no output)").splitlines()[-1]
                host_line(self.host, f"{project_dir.name} {version}: {script} exited with code "
                                     f"{done.returncode}: {last}")


def _lines(proc: subprocess.Popen, deadline: float):
    """The agent's output lines as they come; ends when it exits (even if a daemon it started
    kept the pipe open) or at ``deadline``."""
    fd = proc.stdout.fileno()
    pending = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        chunk = os.read(fd, 65536) if ready else b""
        if ready and not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
        if not ready and proc.poll() is not None:
            break
    proc.stdout.close()
    if pending:
        yield pending.decode("utf-8", "replace")


def read_env(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip().strip("'") for k, v in pairs}


def _known(key: str | None, secret: str | None, arn: str) -> bool:
    path = local.principals_path()
    if not key or not path.is_file():
        return False
    entry = json.loads(path.read_text()).get(key) or {}
    return entry.get("arn") == arn and entry.get("secret_access_key") == secret


def wait_for_api(url: str, seconds: float, stop: threading.Event) -> bool:
    deadline, said = time.monotonic() + seconds, False
    while time.monotonic() < deadline and not stop.is_set():
        try:
            urllib.request.urlopen(f"{url}/api/v1/project", timeout=2)
            return True
        except urllib.error.HTTPError:
            return True  # it answers (403 unsigned): it is up
        except OSError:
            if not said:
                say(f"waiting for the API at {url} (start `make run` first, with the same "
                    "FABU_API_PORT)")
                said = True
            stop.wait(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sandbox hosts running the fabu agent (make hosts).")
    parser.add_argument("--count", type=int, default=3, help="hosts host-1 .. host-COUNT")
    parser.add_argument("--hosts", help="host names instead (spaces or commas between them)")
    parser.add_argument("--tags", help="emulator instances with these tags (key=value ...): "
                                       "infra/fleet_hosts.py")
    parser.add_argument("--group", help="the instances of this emulator Auto Scaling group")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(local.ROOT))
    fleet = None
    if args.tags or args.group:
        from infra import fleet_hosts
        fleet = (fleet_hosts.parse_tags(args.tags) if args.tags else None, args.group)
        try:
            names = fleet_hosts.scale(args.count, *fleet)
        except (botocore.exceptions.EndpointConnectionError, ConnectionError) as exc:
            raise SystemExit(f"hosts: no emulator ({exc}): is `make run` running?") from None
        if local.is_locked("hosts.lock"):  # a second run only scales: the first one follows
            say(f"{len(names)} instances running; the running `make hosts` runs their agents")
            return 0
        if not names:
            raise SystemExit("hosts: N must be at least 1 for the first make hosts")
    else:
        names = host_names(args.count, args.hosts)
    api_url = f"http://127.0.0.1:{os.environ.get('FABU_API_PORT') or 8000}"
    agent_url = local.hosts_api_url()  # the REST API, or the Function URL front (FRONT=url)
    stop = threading.Event()
    phase = {"now": "run"}

    def on_signal(_signum, _frame):
        if phase["now"] == "apps":
            say("stopping the apps (a few seconds at most)")
        elif stop.is_set():
            raise KeyboardInterrupt
        else:
            stop.set()
            say("stopping: letting running deploys finish (Ctrl-C again to stop at once)")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        with local.exclusive("hosts.lock", "make hosts"):
            if not wait_for_api(api_url, _number("FABU_HOSTS_WAIT_SECONDS", 60), stop):
                if stop.is_set():
                    say("stopped")
                    return 0
                say(f"error: no API at {api_url}: is `make run` running with FABU_API_PORT="
                    f"{os.environ.get('FABU_API_PORT') or 8000}?")
                return 3
            hosts = [Host(name, i, agent_url, threading.Event() if fleet else stop)
                     for i, name in enumerate(names, 1)]
            for host in hosts:
                host.prepare()
                host.apps("start", "booted: started")
            say(f"{len(hosts)} sandbox hosts ({', '.join(names)}) under {local.hosts_dir()}, "
                f"polling {agent_url} every {hosts[0].interval:g}s; apps on ports "
                f"{hosts[0].app_port}-{hosts[-1].app_port}; Ctrl-C stops them")
            for host in hosts:
                host.start()
            if fleet:
                _follow(fleet, hosts, agent_url, stop)
            stop.wait()
            for host in hosts:
                host.stop_event.set()
            _shutdown(hosts, phase)
            say("stopped")
            return 0
    except local.Busy as exc:
        say(f"error: {exc}")
        return 1


def _follow(fleet: tuple, hosts: list[Host], api_url: str, stop: threading.Event) -> None:
    """A fleet's instances as they come and go: an agent each (``infra.fleet_hosts.follow``)."""
    from infra import fleet_hosts
    by_name = {host.host: host for host in hosts}

    def joined(name: str) -> None:
        host = Host(name, len(hosts) + 1, api_url, threading.Event())
        host.prepare()
        hosts.append(host)
        by_name[name] = host
        host_line(name, f"instance running: agent started (app port {host.app_port})")
        host.start()

    def gone(name: str) -> None:
        if name in by_name:
            by_name[name].stop_event.set()
            host_line(name, "instance gone: agent stopped")

    threading.Thread(target=fleet_hosts.follow, daemon=True, name="follow", args=(
        *fleet, stop, joined, gone, set(by_name), say)).start()


def _shutdown(hosts: list[Host], phase: dict) -> None:
    grace = _number("FABU_HOSTS_GRACE_SECONDS", 20)
    try:
        deadline = time.monotonic() + grace
        for host in hosts:
            host.join(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        pass
    for host in hosts:
        if host.is_alive():
            host_line(host.host, "deploy cut short (the next run reports it as interrupted)")
            host.kill()
            host.join(5)
    phase["now"] = "apps"
    for host in hosts:
        host.apps("stop", "shut down: stopped")


if __name__ == "__main__":
    sys.exit(main())
