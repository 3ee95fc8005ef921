"""Shared setup of the benches that need AWS: the local stage's settings and a moto server."""
import json
import logging
import os
import socket

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
