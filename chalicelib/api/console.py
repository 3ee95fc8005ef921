"""Routes the web console needs beyond the project API (admin callers only): a host's report.

``GET /api/v1/project/{id}/hosts/{host}/report`` answers the phase reports (output included) of
the host's current deploy of that project: one GetItem on ``HostState`` and one Query on
``Report`` by ``deploy_id``.
"""
from chalice import Blueprint
from pynamodb.exceptions import DoesNotExist

from chalicelib.api import access
from chalicelib.errors import NotFound
from chalicelib.api.http import handles_errors, respond
from chalicelib.models import HostState, Report
from chalicelib.projects.validation import format_time

bp = Blueprint(__name__)

#: The order in which the deploy script runs its phases (reports sort by it, not by name).
_PHASE_ORDER = {"pre-deploy": 0, "do-deploy": 1, "post-deploy": 2, "rollback": 3}



def _report_dict(report):
    return {"phase": report.phase, "status": report.status, "exit_code": int(report.exit_code),
            "output": report.output or "", "truncated": bool(report.truncated),
            "version": report.version, "running_version": report.running_version,
            "received_at": format_time(report.received_at)}


def host_report(project_id, host):
    """The host's current deploy of ``project_id`` and its phase reports, in script order."""
    try:
        state = HostState.get(host, project_id)
    except DoesNotExist:
        raise NotFound(f"host {host!r} has no state in project {project_id!r}") from None
    reports = []
    if state.deploy_id:
        reports = sorted((_report_dict(r) for r in Report.query(state.deploy_id)),
                         key=lambda r: (_PHASE_ORDER.get(r["phase"], 9), r["received_at"] or ""))
    return {"project": project_id, "host": host, "deploy_id": state.deploy_id,
            "deploy_kind": state.deploy_kind, "status": state.status,
            "target_version": state.target_version, "running_version": state.running_version,
            "reports": reports}


@bp.route("/api/v1/project/{project_id}/hosts/{host}/report", methods=["GET"],
          authorizer=access.iam, cors=access.cors)
@handles_errors
def get_host_report(project_id, host):
    access.admin(bp.current_request)
    return respond(host_report(project_id, host.lower()))
