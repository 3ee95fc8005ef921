"""The four host routes, without chalice: check the caller, call one domain function, answer.

Every front serves the host protocol through these functions: the Chalice app's Blueprint
(``chalicelib.api.hosts``: ``chalice local``) and HostFront's handler
(``chalicelib.hostfront.handler``: the Function URL, and on AWS the REST API's host routes), so
a route answers the same status, headers and body whichever front a host calls. Each route
imports its domain module on first use: a poll never loads the deploy script's renderer (Jinja)
or the report's transaction code.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.hostfront import identity, inputs

#: The routes served, as the host front's 404 names them.
HOST_ROUTES = ("GET /api/v1/{host}", "GET /api/v1/{host}/deploy", "POST /api/v1/{host}/report",
               "GET /api/v1/{host}/config")
SCRIPT_HEADERS = {"Content-Type": "text/x-shellscript; charset=utf-8", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class Reply:
    """A route's answer: a dict is sent as JSON (``Content-Type: application/json``), a str as
    it is with ``headers``."""

    status: int
    body: dict | str
    headers: dict[str, str] = field(default_factory=dict)


def poll(context: Mapping, host: str, current: str | None) -> Reply:
    """``GET /api/v1/{host}[?current=...]``: 200 with what is pending or draining, or 204."""
    identity.host_caller(context, host)
    current = inputs.check_query("current", current)
    from chalicelib.hosts import poll as polling
    summary = polling.poll(host.lower(), current=current)
    if summary is None:
        return Reply(204, "")
    return Reply(200, summary)


def deploy_script(context: Mapping, host: str) -> Reply:
    """``GET /api/v1/{host}/deploy``: lease the ready items and answer their script."""
    identity.host_caller(context, host)
    from chalicelib.hosts import deploy
    return Reply(200, deploy.deploy_script(host.lower()), dict(SCRIPT_HEADERS))


def report(context: Mapping, host: str, raw_body: bytes | str | None) -> Reply:
    """``POST /api/v1/{host}/report``: record one phase's report (idempotent)."""
    identity.host_caller(context, host)
    body = inputs.parse_json_body(raw_body)
    from chalicelib.hosts import reports
    return Reply(200, reports.report(host.lower(), body))


def secret_config(context: Mapping, host: str, deploy_id: str | None) -> Reply:
    """``GET /api/v1/{host}/config?deploy_id=...``: the secret config of the deploy the host
    holds the lease of (never cached: ``Cache-Control: no-store``)."""
    identity.host_caller(context, host)
    deploy_id = inputs.check_query("deploy_id", deploy_id)
    from chalicelib.hosts import config
    return Reply(200, config.secret_config(host.lower(), deploy_id),
                 {"Cache-Control": "no-store", "Pragma": "no-cache"})
