"""``make run``: the whole of fabu on one machine.

Starts moto's server on 127.0.0.1:${FABU_AWS_PORT:-4566} (unless ``AWS_ENDPOINT_URL`` already
points at a running emulator), creates every resource of ``infra/resources.json`` there, makes
sure an admin key exists in ``.fabu/principals.json`` and ``.fabu/credentials``, starts
``chalice local --stage local`` on ${FABU_API_PORT:-8000}, publishes the web console to the UI
bucket, and runs the scheduled and queue handlers every ${FABU_TICK_SECONDS:-10} seconds.
Ctrl-C stops everything it started.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FABU_DIR = os.path.join(ROOT, ".fabu")
ADMIN_ARN = "arn:aws:iam::000000000000:user/fabu-admin"
REGION = "us-east-1"


def say(message):
    print("fabu: %s" % message, flush=True)


def _wait_for(url, seconds, what, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit("fabu: %s exited with code %s" % (what, proc.returncode))
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers: good enough
        except OSError:
            time.sleep(0.2)
    raise SystemExit("fabu: %s did not come up at %s within %ds" % (what, url, seconds))


def _port_free(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_emulator(env, children):
    """Use ``AWS_ENDPOINT_URL`` if given, else start moto's server; return the endpoint."""
    if env.get("AWS_ENDPOINT_URL"):
        say("using the emulator at %s (AWS_ENDPOINT_URL)" % env["AWS_ENDPOINT_URL"])
        return env["AWS_ENDPOINT_URL"]
    port = int(env.get("FABU_AWS_PORT", "4566"))
    endpoint = "http://127.0.0.1:%d" % port
    if not _port_free(port):
        raise SystemExit("fabu: port %d is taken. Stop what runs there, set FABU_AWS_PORT to "
                         "another port, or set AWS_ENDPOINT_URL=%s to use it as the emulator"
                         % (port, endpoint))
    log = open(os.path.join(FABU_DIR, "moto.log"), "ab")
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"),
                             "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    children.append(proc)
    _wait_for(endpoint + "/moto-api/", 30, "moto server", proc)
    say("started moto server at %s (log: .fabu/moto.log)" % endpoint)
    return endpoint


def ensure_admin(principals_path, credentials_path):
    """Create the admin key on first run; keep it on later runs. Returns the access key id."""
    from chalicelib.auth import principals
    data = {}
    if os.path.exists(principals_path):
        with open(principals_path) as fh:
            data = json.load(fh)
    found = next(((k, v["secret_access_key"]) for k, v in data.items()
                  if v.get("arn") == ADMIN_ARN), None)
    if found is None:
        minted = principals.add_principal(ADMIN_ARN, path=principals_path)
        found = (minted.access_key_id, minted.secret_access_key)
        say("minted the admin key %s" % found[0])
    key, secret = found
    tmp = credentials_path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write("[fabu-admin]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = %s\n"
                 % (key, secret, REGION))
    os.replace(tmp, credentials_path)
    return key


def start_api(env, port, children):
    log = open(os.path.join(FABU_DIR, "api.log"), "ab")
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "chalice"), "local",
                             "--stage", "local", "--host", "127.0.0.1", "--port", str(port),
                             "--no-autoreload"], cwd=ROOT, env=env, stdout=log, stderr=log)
    children.append(proc)
    _wait_for("http://127.0.0.1:%d/api/v1/project" % port, 60, "chalice local", proc)
    return proc


def publish_ui(endpoint, api_url):
    try:
        from infra import publish_ui
    except ImportError:
        return None
    return publish_ui.publish(endpoint=endpoint, api_url=api_url)


def stage_env(endpoint):
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", REGION),
                "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "test"),
                "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "test"),
                "FABU_PRINCIPALS": os.path.abspath(env.get("FABU_PRINCIPALS",
                                                           os.path.join(FABU_DIR, "principals.json")))})
    env.pop("AWS_PROFILE", None)
    return env


def main():
    os.makedirs(FABU_DIR, exist_ok=True)
    children = []

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        api_port = int(os.environ.get("FABU_API_PORT", "8000"))
        if not _port_free(api_port):
            raise SystemExit("fabu: port %d is taken: set FABU_API_PORT to another port" % api_port)
        endpoint = start_emulator(os.environ, children)
        env = stage_env(endpoint)
        os.environ.update(env)
        sys.path.insert(0, ROOT)
        from infra import stack
        stack.create_stack("fabu", "local")
        say("created the tables, buckets, queues and topic of infra/resources.json")
        ensure_admin(env["FABU_PRINCIPALS"], os.path.join(FABU_DIR, "credentials"))
        start_api(env, api_port, children)
        api_url = "http://127.0.0.1:%d" % api_port
        ui_url = publish_ui(endpoint, api_url)
        say("API      %s/api/v1/" % api_url)
        say("UI       %s" % (ui_url or "(no web console built yet)"))
        say("admin    profile fabu-admin in %s (principals: %s)"
            % (os.path.join(FABU_DIR, "credentials"), env["FABU_PRINCIPALS"]))
        say("try      AWS_SHARED_CREDENTIALS_FILE=.fabu/credentials .venv/bin/fabu --profile "
            "fabu-admin --endpoint %s project list" % api_url)
        say("ticking the scheduled and queue handlers every %ss; Ctrl-C stops everything"
            % os.environ.get("FABU_TICK_SECONDS", "10"))
        tick_forever(children)
    except KeyboardInterrupt:
        say("stopping")
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.terminate()
        for proc in children:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def tick_forever(children):
    from app import app
    from infra.ticker import Ticker
    ticker = Ticker(app, ROOT)
    period = float(os.environ.get("FABU_TICK_SECONDS", "10"))
    while True:
        for proc in children:
            if proc.poll() is not None:
                raise SystemExit("fabu: a child process exited (code %s); see .fabu/*.log"
                                 % proc.returncode)
        ticker.run_once()
        time.sleep(period)


if __name__ == "__main__":
    main()
