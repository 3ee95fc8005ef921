"""The release routes (one release with its provenance, a page of them), a CI upload's commit, and
"what's changing" in a new rollout's notifications."""
import hashlib

import pytest
import requests

from chalicelib.build import releases, worker
from tests.build.test_provenance import History
from tests.conftest import base_project
from tests.support.receiver import Receiver, notify_runner

SECRET = "s3cret-for-tests"


@pytest.fixture
def repo(tmp_path):
    """v1 = "first"; v2 = v1 + "fix the login" (Alice) + "add search" (Bob)."""
    history = History(tmp_path / "repo.git")
    first = history.commit("first")
    fix = history.commit("fix the login", [first], author="Alice Liddell")
    search = history.commit("add search", [fix], author="Bob Builder")
    history.point("refs/tags/v1", first)
    history.point("refs/tags/v2", search)
    return {"url": (tmp_path / "repo.git").as_uri(), "first": first, "fix": fix, "search": search}


def _build(version):
    release = releases.get("web", version)
    worker.handle_build_message({"project": "web", "version": version,
                                 "build_id": release.build_id})


def _two_releases(api, repo, **project):
    source = {"type": "git", "url": repo["url"], "ref": "v1"}
    assert api.post("/api/v1/project", base_project(source=source, **project)).status == 201
    _build("1.0.0")
    changed = api.put("/api/v1/project/web", {"version": "1.1.0", "source": dict(source, ref="v2")})
    assert changed.status == 200, changed


def test_a_release_shows_what_it_was_built_from_and_what_changed(api, repo):
    _two_releases(api, repo)
    _build("1.1.0")
    got = api.get("/api/v1/project/web/releases/1.1.0")
    assert got.status == 200, got
    body = got.json
    assert (body["version"], body["state"], body["built_from"]) == (
        "1.1.0", "ready", f"git {repo['search'][:7]} 'add search'")
    prov = body["provenance"]
    assert (prov["type"], prov["commit"], prov["ref"], prov["subject"]) == (
        "git", repo["search"], "v2", "add search")
    assert [(c["sha"], c["subject"], c["author"]) for c in prov["changes"]["commits"]] == [
        (repo["search"], "add search", "Bob Builder"),
        (repo["fix"], "fix the login", "Alice Liddell")]
    assert prov["changes"]["previous_version"] == "1.0.0"
    first = api.get("/api/v1/project/web/releases/1.0.0").json
    assert first["provenance"]["commit"] == repo["first"] and "changes" not in first["provenance"]


def test_the_release_list_is_newest_first_paged_and_without_commit_lists(api, repo):
    _two_releases(api, repo)
    _build("1.1.0")
    page = api.get("/api/v1/project/web/releases?limit=1")
    assert page.status == 200, page
    [newest] = page.json["releases"]
    assert newest["version"] == "1.1.0" and newest["built_from"].startswith("git ")
    assert newest["provenance"]["changes"] == {
        "previous_version": "1.0.0", "previous_commit": repo["first"], "total": 2,
        "truncated": False}
    cursor = page.json["next_cursor"]
    rest = api.get(f"/api/v1/project/web/releases?limit=1&cursor={cursor}").json
    assert [r["version"] for r in rest["releases"]] == ["1.0.0"]


def test_unknown_releases_and_projects_are_404s_naming_them(api, repo):
    _two_releases(api, repo)
    missing = api.get("/api/v1/project/web/releases/9.9.9")
    assert (missing.status, missing.json["error"]) == (404, "no release 9.9.9 of web")
    nope = api.get("/api/v1/project/nope/releases/1.0.0")
    assert (nope.status, nope.json["error"]) == (404, "no project named 'nope'")
    assert api.get("/api/v1/project/nope/releases").status == 404
    bad = api.get("/api/v1/project/web/releases?limit=500")
    assert bad.status == 400 and "limit" in bad.json["fields"]
    queued = api.get("/api/v1/project/web/releases/1.1.0").json
    assert (queued["state"], queued["provenance"], queued["built_from"]) == ("queued", None, None)


def test_only_admins_read_releases(api, repo, signed_client):
    _two_releases(api, repo)
    host = signed_client("arn:aws:iam::123456789012:user/web-1.example.com")
    assert host.get("/api/v1/project/web/releases/1.0.0").status == 403


def test_a_ci_upload_records_the_commit_ci_names(api):
    assert api.post("/api/v1/project", base_project()).status == 201
    tarball = b"built by CI"
    digest = hashlib.sha256(tarball).hexdigest()
    commit = {"sha": "A1B2C3D4E5F6" * 3 + "abcd", "subject": "add search", "ref": "main",
              "url": "https://git.example.com/web/commit/a1b2c3d"}
    grant = api.post("/api/v1/project/web/artifact",
                     {"version": "2.0.0", "sha256": digest, "commit": commit})
    assert grant.status == 201, grant
    assert requests.put(grant.json["upload_url"], data=tarball, timeout=10).status_code == 200
    assert api.post("/api/v1/project/web/artifact/complete", {"version": "2.0.0"}).json[
        "state"] == "ready"
    body = api.get("/api/v1/project/web/releases/2.0.0").json
    sha = commit["sha"].lower()
    assert body["provenance"] == {"type": "ci", "revision": sha, "commit": sha,
                                  "subject": "add search", "ref": "main", "url": commit["url"]}
    assert body["built_from"] == f"ci {sha[:7]} 'add search'"


@pytest.mark.parametrize("commit, field", [
    ({"sha": "xyz"}, "commit.sha"),
    ({"sha": "abc12"}, "commit.sha"),
    ({"sha": "a" * 40, "subject": "s" * 201}, "commit.subject"),
    ({"sha": "a" * 40, "url": "https://user:pw@git.example.com/x"}, "commit.url"),
    ({"sha": "a" * 40, "author": "me"}, "commit.author"),
    ("a" * 40, "commit"),
])
def test_a_ci_commit_is_checked_field_by_field(api, commit, field):
    assert api.post("/api/v1/project", base_project()).status == 201
    answer = api.post("/api/v1/project/web/artifact",
                      {"version": "2.0.0", "sha256": "0" * 64, "commit": commit})
    assert answer.status == 400 and field in answer.json["fields"], answer


def test_a_new_rollouts_notification_says_whats_changing(aws, api, repo, monkeypatch):
    run = notify_runner(aws["resources"], monkeypatch)
    with Receiver(SECRET) as receiver:
        _two_releases(api, repo, notify={"webhooks": [{"url": receiver.url, "secret": SECRET}]})
        _build("1.1.0")
        run()
    started = [b for b in receiver.accepted
               if b["kind"] == "rollout.started" and b["event"]["detail"]["version"] == "1.1.0"]
    assert started, "\n".join(b["text"] for b in receiver.accepted)
    text = started[0]["text"]
    assert f"Built from git {repo['search'][:7]} 'add search'." in text
    assert "What's changing since 1.0.0: 2 commits" in text
    assert text.index("add search (Bob Builder") < text.index("fix the login (Alice Liddell")
    assert [c["subject"] for c in started[0]["changes"]["commits"]] == ["add search",
                                                                        "fix the login"]
