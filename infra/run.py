"""``make run``: the whole of fabu on one machine, its data kept from one run to the next.

Starts moto's server on 127.0.0.1:${FABU_AWS_PORT:-4566} (unless ``AWS_ENDPOINT_URL`` already
points at a running emulator), creates every resource of ``infra/resources.json`` there, puts
back the data saved by the previous run (``infra.snapshot``; ``FABU_WIPE=1``, i.e.
``make run WIPE=1``, deletes it first), makes sure an admin key exists in
``$FABU_HOME/principals.json`` and ``$FABU_HOME/credentials``, starts ``chalice local --stage
local`` on ${FABU_API_PORT:-8000} and the host protocol's Function URL front (``infra.function_url``)
on ${FABU_HOST_FRONT_PORT:-API port + 1}, publishes the web console and the sample app, then runs the
scheduled and queue handlers every ${FABU_TICK_SECONDS:-10} seconds and saves the data every
${FABU_SNAPSHOT_SECONDS:-60} seconds.

The emulator and the API run in sessions of their own, so the terminal's Ctrl-C (SIGINT; SIGTERM
and SIGHUP alike) reaches only this process: it lets the current tick finish, stops the API,
saves the data, stops the emulator (TERM, then KILL after a few seconds), says ``fabu: stopped``
and exits 0. A second Ctrl-C stops at once without the last save. A child that exits on its own
is an error (exit 1, with the end of its log).
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

from infra import local

ROOT = local.ROOT
ADMIN_ARN = "arn:aws:iam::000000000000:user/fabu-admin"
REGION = "us-east-1"
STOP_GRACE_SECONDS = 5


def say(message: str) -> None:
    print(f"fabu: {message}", flush=True)


class StartError(Exception):
    """The stack could not start; the message says why and what to do."""


def _die_with_parent() -> None:
    """In the child, before exec (Linux): the kernel TERMs it when ``make run`` dies, even by
    KILL, so a crashed run leaves no emulator or API holding the ports."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C and SIGTERM still stop the children


class Child:
    """A process this run started, in its own session (its own process group)."""

    def __init__(self, name: str, argv: list[str], log: Path, **kwargs) -> None:
        self.name, self.log = name, log
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_die_with_parent,
                                         **kwargs)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").rstrip().splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in text)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """TERM the process group, KILL it after ``grace`` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            if not self.alive():
                return
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


class Signals:
    """Ctrl-C, SIGTERM and SIGHUP, by phase: ``start`` aborts; ``run`` stops gracefully (a second
    one aborts); ``save`` aborts the last save; ``teardown`` only says it is nearly done."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.phase = "start"
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        first = not self.stop.is_set()
        self.stop.set()
        if self.phase == "teardown":
            say("stopping the emulator and the API (a few seconds at most)")
        elif self.phase == "run" and first:
            say("stopping (Ctrl-C again to stop at once, without saving)")
        else:
            raise KeyboardInterrupt


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_for(url: str, seconds: float, child: Child) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not child.alive():
            raise StartError(f"{child.name} exited with code {child.proc.returncode} while "
                             f"starting; the end of {child.log}:\n{child.tail()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers: good enough
        except OSError:
            time.sleep(0.2)
    raise StartError(f"{child.name} did not answer at {url} within {seconds:.0f}s; see {child.log}")


def ensure_admin(principals_path: Path, credentials_path: Path) -> str:
    """Create the admin key on first run; keep it on later runs. Returns the access key id."""
    import json
    from chalicelib.auth import principals
    data = json.loads(principals_path.read_text()) if principals_path.exists() else {}
    found = next(((k, v["secret_access_key"]) for k, v in data.items() if v.get("arn") == ADMIN_ARN),
                 None)
    if found is None:
        minted = principals.add_principal(ADMIN_ARN, path=str(principals_path))
        found = (minted.access_key_id, minted.secret_access_key)
        say(f"minted the admin key {found[0]}")
    key, secret = found
    tmp = credentials_path.with_name(credentials_path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(f"[fabu-admin]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
                 f"region = {REGION}\n")
    os.replace(tmp, credentials_path)
    return key


def stage_env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", REGION),
                "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "test"),
                "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "test"),
                "FABU_PRINCIPALS": str(local.principals_path())})
    env.pop("AWS_PROFILE", None)
    return env


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        raise StartError(f"{name} must be a number of seconds, not {os.environ[name]!r}") from None
    if value <= 0:
        raise StartError(f"{name} must be more than 0 seconds")
    return value


def _port(name: str, default: int) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise StartError(f"{name} must be a TCP port (1-65535), not {text!r}")
    return int(text)


class Stack:
    """One ``make run``: start, tick until stopped, stop."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self.home = local.home()
        self.children: dict[str, Child] = {}
        self.saver = None  # an infra.saver.Saver once the data is restored

    # --- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        api_port = _port("FABU_API_PORT", 8000)
        if not _port_free(api_port):
            raise StartError(f"port {api_port} is taken: stop what runs there or set FABU_API_PORT "
                             "to another port")
        front = self._front_socket(api_port)
        endpoint = self._emulator(api_port)
        os.environ.update(stage_env(endpoint))
        sys.path.insert(0, str(ROOT))
        from infra import saver, snapshot, stack
        created = stack.create_stack("fabu", "local")
        say("created the tables, buckets, queues and topic of infra/resources.json")
        if "moto" in self.children:
            try:
                self.saver = saver.restore_and_save(created, _seconds("FABU_SNAPSHOT_SECONDS", 60))
            except snapshot.SnapshotError as exc:
                raise StartError(
                    f"restoring the saved data from {local.state_dir()} failed: {exc}. Nothing "
                    "was started and the saved data is untouched: fix the cause, or start empty "
                    "with `make wipe` (or `make run WIPE=1`), which deletes it") from None
        else:
            say(f"the data stays in {endpoint} (AWS_ENDPOINT_URL): fabu neither saves nor restores it")
        ensure_admin(local.principals_path(), local.credentials_path())
        self.children["api"] = Child(
            "the API (chalice local)",
            [str(Path(sys.executable).parent / "chalice"), "local", "--stage", "local", "--host",
             "127.0.0.1", "--port", str(api_port), "--no-autoreload"],
            self.home / "api.log", cwd=ROOT, env=dict(os.environ))
        api_url = f"http://127.0.0.1:{api_port}"
        _wait_for(f"{api_url}/api/v1/project", 60, self.children["api"])
        if front is not None:  # its socket is bound since the start: no other process took it
            port = front.getsockname()[1]
            self.children["front"] = Child(
                "the host front (Function URL)",
                [sys.executable, "-m", "infra.function_url", "--port", str(port), "--fd",
                 str(front.fileno())], self.home / "front.log", cwd=ROOT, env=dict(os.environ),
                pass_fds=(front.fileno(),))
            front.close()
            _wait_for(f"http://127.0.0.1:{port}/", 30, self.children["front"])
        from infra import examples, publish_ui
        ui_url = publish_ui.publish(endpoint=endpoint, api_url=api_url)
        sample = examples.publish()
        if self.saver is not None:
            self.saver.start()
        self._banner(api_url, ui_url, sample)

    def _front_socket(self, api_port: int) -> socket.socket | None:
        """The host front's listening socket on ``FABU_HOST_FRONT_PORT`` (default API port + 1),
        bound now; None (said) when the default port is taken: the API goes on without it."""
        port = _port("FABU_HOST_FRONT_PORT", api_port + 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            if port == api_port:
                raise OSError("it is the API's port")
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            return sock
        except OSError as exc:
            sock.close()
            if os.environ.get("FABU_HOST_FRONT_PORT"):
                raise StartError(f"port {port} (FABU_HOST_FRONT_PORT, the host front's) is taken "
                                 f"({exc.strerror or exc}): stop what runs there or set it to "
                                 "another port") from None
            say(f"the host front (Function URL) is not started: port {port} (API port + 1) is "
                "taken; set FABU_HOST_FRONT_PORT to a free port to have it")
            return None

    def _emulator(self, api_port: int) -> str:
        if os.environ.get("AWS_ENDPOINT_URL"):
            say(f"using the emulator at {os.environ['AWS_ENDPOINT_URL']} (AWS_ENDPOINT_URL)")
            return os.environ["AWS_ENDPOINT_URL"]
        port = _port("FABU_AWS_PORT", 4566)
        endpoint = f"http://127.0.0.1:{port}"
        if port == api_port or not _port_free(port):
            raise StartError(f"port {port} is taken. Stop what runs there, set FABU_AWS_PORT to "
                             f"another port, or set AWS_ENDPOINT_URL={endpoint} to use it as the "
                             "emulator")
        self.children["moto"] = Child(
            "the emulator (moto server)",
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            self.home / "moto.log")
        _wait_for(f"{endpoint}/moto-api/", 30, self.children["moto"])
        say(f"started moto server at {endpoint} (log: {self.home / 'moto.log'})")
        return endpoint

    def _banner(self, api_url: str, ui_url: str | None, sample: str) -> None:
        credentials = local.credentials_path()
        say(f"API      {api_url}/api/v1/")
        if "front" in self.children:
            say(f"hostURL  {local.front_url(os.environ.get('AWS_DEFAULT_REGION', REGION))}/api/v1/ "
                "(the host protocol's Function URL front: make hosts FRONT=url)")
        say(f"UI       {ui_url or '(no web console built yet: make web)'}")
        say(f"admin    profile fabu-admin in {credentials} (keys: {local.principals_path()})")
        say(f"sample   examples/project.yaml builds from {sample}")
        say(f"CLI      export FABU_API_URL={api_url} AWS_SHARED_CREDENTIALS_FILE={credentials} "
            "AWS_PROFILE=fabu-admin PATH=\"$PWD/.venv/bin:$PATH\"")
        say("hosts    make hosts N=3   (in another terminal: sandbox hosts running the agent)")
        say(f"ticking the scheduled and queue handlers every "
            f"{os.environ.get('FABU_TICK_SECONDS', '10')}s; Ctrl-C stops everything")

    # --- run -----------------------------------------------------------------------------------

    def tick_until_stopped(self) -> int:
        """0 when asked to stop; 1 when a child exited on its own."""
        from app import app
        from infra.ticker import Ticker
        ticker = Ticker(app, str(ROOT))
        period = _seconds("FABU_TICK_SECONDS", 10)
        next_tick = time.monotonic()
        while not self.signals.stop.is_set():
            dead = next((c for c in self.children.values() if not c.alive()), None)
            if dead is not None:
                say(f"error: {dead.name} exited on its own with code {dead.proc.returncode}; "
                    f"the end of {dead.log}:\n{dead.tail()}")
                return 1
            if time.monotonic() >= next_tick:
                try:
                    ticker.run_once()
                except Exception as exc:  # the emulator went away mid-tick: the check above says so
                    say(f"a tick failed: {type(exc).__name__}: {exc}")
                next_tick = time.monotonic() + period
            self.signals.stop.wait(min(1.0, max(0.0, next_tick - time.monotonic())))
        return 0

    # --- stop ----------------------------------------------------------------------------------

    def stop(self, signals: Signals, save: bool) -> int:
        """Stop the API, save the data (when ``save`` and the emulator lives), stop the rest."""
        code = 0
        signals.phase = "save"
        try:
            for name in ("front", "api"):  # nothing writes while the data is saved
                if name in self.children:
                    self.children[name].stop()
            if self.saver is not None and save:
                if self.children["moto"].alive():
                    code = self.saver.final()
                else:
                    say(f"the emulator is gone: the data saved at {self.saver.last_saved} is kept")
        except KeyboardInterrupt:
            say("stopped without the last save: the data saved at "
                f"{self.saver.last_saved if self.saver else '(never)'} is kept")
        finally:
            signals.phase = "teardown"
            for child in reversed(list(self.children.values())):
                child.stop()
        return code


def main() -> int:
    signals = Signals()
    try:
        with local.exclusive("run.lock", "make run"):
            stack = Stack(signals)
            try:
                stack.start()
            except KeyboardInterrupt:
                say("interrupted while starting: nothing was saved (the saved data is untouched)")
                stack.stop(signals, save=False)
                say("stopped")
                return 0
            except StartError as exc:
                say(f"error: {exc}")
                stack.stop(signals, save=False)
                return 1
            except Exception as exc:  # a bug or an emulator error: say it, stop what was started
                traceback.print_exc()
                say(f"error while starting: {type(exc).__name__}: {exc}")
                stack.stop(signals, save=False)
                return 1
            signals.phase = "run"
            try:
                code = stack.tick_until_stopped()
            except KeyboardInterrupt:
                code = 0
            code = max(code, stack.stop(signals, save=True))
            say("stopped" if code == 0 else "stopped after an error (exit 1)")
            return code
    except local.Busy as exc:
        say(f"error: {exc}: stop it first, or give this one its own FABU_HOME and ports")
        return 1


if __name__ == "__main__":
    sys.exit(main())
