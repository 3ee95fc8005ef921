"""A project's releases as the release routes show them: one with its provenance, or a page.

``detail`` is one release with everything it records about its source (``provenance``: the
revision and, for git, the commits since the previous release, at most 100); ``page`` is a page
of the project's releases, newest first (one Query on ``created-index``), each with its
provenance summed up (``changes`` as counts, no commit list) so a page stays small.
"""
from pynamodb.exceptions import DoesNotExist

from chalicelib import pagination, versions
from chalicelib.build import provenance, releases
from chalicelib.errors import NotFound, ValidationError
from chalicelib.models import Project, Release

#: Releases per page: default and most.
PAGE_DEFAULT, PAGE_MAX = 20, 50
_CURSOR_KEYS = ("project", "version", "created_at")


def detail(project_id: str, version: str) -> dict:
    """The release ``version`` of ``project_id`` with its full provenance; 404 naming either."""
    _project(project_id)
    if not isinstance(version, str) or not versions.is_valid(version):
        raise ValidationError(f"version {str(version)[:60]!r} is not a version such as 1.4.2",
                              {"version": "must be a version such as 1.4.2"})
    try:
        release = Release.get(project_id, version, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"no release {version} of {project_id}", {"version": "no such release"}) \
            from None
    prov = release.provenance
    return dict(releases.to_dict(release), provenance=prov, built_from=provenance.describe(prov))


def page(project_id: str, *, limit: int = PAGE_DEFAULT,
         cursor: str | None = None) -> tuple[list[dict], str | None]:
    """A page of the project's releases, newest first, and the next page's cursor (None: last)."""
    _project(project_id)
    limit = max(1, min(PAGE_MAX, limit))
    start = pagination.decode(cursor, keys=_CURSOR_KEYS)
    result = Release.created_index.query(project_id, scan_index_forward=False, limit=limit,
                                         page_size=limit, last_evaluated_key=start)
    items = [dict(releases.to_dict(r), provenance=provenance.summary(r.provenance),
                  built_from=provenance.describe(r.provenance)) for r in result]
    return items, pagination.encode(result.last_evaluated_key)


def _project(project_id):
    try:
        Project.get(project_id, attributes_to_get=["id"])
    except DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None
