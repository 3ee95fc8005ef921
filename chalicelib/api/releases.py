"""Routes of a project's releases (admin callers only): one with its provenance, or a page."""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, int_query, query, respond
from chalicelib.build import release_view

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/releases", methods=["GET"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def project_releases(project_id: str) -> Response:
    request = bp.current_request
    access.admin(request)
    items, cursor = release_view.page(
        project_id, limit=int_query(request, "limit", release_view.PAGE_DEFAULT, 1,
                                    release_view.PAGE_MAX), cursor=query(request, "cursor"))
    return respond({"releases": items, "next_cursor": cursor})


@bp.route("/api/v1/project/{project_id}/releases/{version}", methods=["GET"],
          authorizer=access.iam, cors=access.cors)
@handles_errors
def project_release(project_id: str, version: str) -> Response:
    access.admin(bp.current_request)
    return respond(release_view.detail(project_id, version))
