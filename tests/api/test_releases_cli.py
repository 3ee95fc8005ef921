"""``fabu release show|list`` and ``fabu watch``'s header: what a release was built from and the
commits it brings, through the CLI against the live stack."""
from chalicelib.build import releases, worker
from tests.build.test_provenance import History
from tests.cli.support import fabu


def _build(project, version):
    release = releases.get(project, version)
    worker.handle_build_message({"project": project, "version": version,
                                 "build_id": release.build_id})


def test_the_cli_shows_a_releases_provenance_its_commits_and_watch_names_them(live, tmp_path):
    history = History(tmp_path / "repo.git")
    first = history.commit("first")
    fix = history.commit("fix the login", [first], author="Alice Liddell")
    history.point("refs/tags/v1", first)
    history.point("refs/tags/v2", fix)
    source = {"type": "git", "url": (tmp_path / "repo.git").as_uri(), "ref": "v1"}
    project = {"name": "shop", "version": "1.0.0", "hosts": ["shop-1.example.com"],
               "scripts": {"start": "true", "stop": "true"}, "source": source}
    assert live.request("POST", "/api/v1/project", project).status_code == 201
    _build("shop", "1.0.0")
    assert live.request("PUT", "/api/v1/project/shop",
                        {"version": "1.1.0", "source": dict(source, ref="v2")}).status_code == 200
    _build("shop", "1.1.0")

    code, out, err = fabu(live, "release", "show", "shop", "1.1.0")
    assert code == 0, err
    assert f"built from git {fix[:7]} 'fix the login'" in out
    assert "1 commit since 1.0.0:" in out
    assert f"  {fix[:7]} fix the login (Alice Liddell, 2023-11-14)" in out
    code, out, err = fabu(live, "release", "list", "shop")
    assert code == 0 and f"1.0.0: built from git {first[:7]} 'first'" in out, err
    code, out, err = fabu(live, "release", "show", "shop", "9.9.9")
    assert code == 1 and "no release 9.9.9 of shop" in err

    code, out, err = fabu(live, "watch", "shop", "--timeout", "0.5", "--interval", "0.2")
    assert code == 9, out  # the hosts never deploy: it gives up, having named the release (on
    # stderr, with the progress bars)
    assert f"1.1.0: built from git {fix[:7]} 'fix the login', 1 commit since 1.0.0" in err
