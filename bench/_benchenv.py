"""Shared setup of the benches that need AWS: the local stage's settings and a moto server."""
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(prefix="fabubench"):
    """Apply the local stage's environment; start moto's server unless AWS_ENDPOINT_URL is set.

    Returns the server (call ``.stop()`` at the end) or None when an emulator was given.
    """
    stage_env = json.load(open(os.path.join(ROOT, ".chalice", "config.json")))["stages"]["local"][
        "environment_variables"]
    for key, value in stage_env.items():
        os.environ.setdefault(key, value)
    os.environ["FABU_PREFIX"] = prefix
    if os.environ.get("AWS_ENDPOINT_URL"):
        return None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import ThreadedMotoServer
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:%d" % port
    return server


def server_process(module: str = "moto.server") -> subprocess.Popen | None:
    """An AWS emulator (``moto.server``, or the suite's ``tests.support.emulator``) in its own
    process, so the bench's CPU time is fabu's alone and no GIL is shared with it, with
    ``AWS_ENDPOINT_URL`` pointed at it; None when ``AWS_ENDPOINT_URL`` already names one."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return None
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            os.environ["AWS_ENDPOINT_URL"] = url
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the emulator ({module}) did not start")

