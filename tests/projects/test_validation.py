"""Project validation as a whole: each bad input is a 400 naming its field, through the real route.

The section validators have their own unit tests (``test_fields``, ``test_rollout_fields``,
``test_hooks``, ``test_checks``).
"""
import copy

import pytest

from chalicelib.errors import ValidationError
from chalicelib.projects import validation
from tests.conftest import base_project

LONG = "x" * 300

# (case id, changes to a valid body, the field path the 400 must name)
BAD_INPUTS = [
    ("missing-name", {"name": None}, "name"),
    ("name-uppercase", {"name": "Web"}, "name"),
    ("name-space", {"name": "my app"}, "name"),
    ("name-leading-dash", {"name": "-web"}, "name"),
    ("name-too-long", {"name": "a" * 64}, "name"),
    ("name-not-string", {"name": 12}, "name"),
    ("name-shell", {"name": "$(reboot)"}, "name"),
    ("missing-version", {"version": None}, "version"),
    ("version-space", {"version": "1.0 beta"}, "version"),
    ("version-slash", {"version": "../../etc"}, "version"),
    ("version-backtick", {"version": "`id`"}, "version"),
    ("version-number", {"version": 1.0}, "version"),
    ("version-too-long", {"version": "1" * 200}, "version"),
    ("version-underscore", {"version": "1.0_beta"}, "version"),
    ("unknown-field", {"colour": "red"}, "colour"),
    ("source-bad-type", {"source": {"type": "cvs", "url": "https://x.example.com/r"}}, "source.type"),
    ("source-no-url", {"source": {"type": "git"}}, "source.url"),
    ("source-git-ftp-url", {"source": {"type": "git", "url": "ftp://x.example.com/r"}}, "source.url"),
    ("source-password-in-url", {"source": {"type": "http", "url": "https://u:pw@x.example.com/a.tgz"}},
     "source.url"),
    ("source-s3-no-key", {"source": {"type": "s3", "url": "s3://bucket"}}, "source.url"),
    ("source-bad-ref", {"source": {"type": "git", "url": "https://x.example.com/r", "ref": "--upload-pack=x"}},
     "source.ref"),
    ("source-bad-credentials", {"source": {"type": "git", "url": "https://x.example.com/r",
                                           "credentials": "hunter2"}}, "source.credentials"),
    ("source-not-object", {"source": "https://x.example.com/r"}, "source"),
    ("deb-not-list", {"deb_dependencies": "nginx"}, "deb_dependencies"),
    ("deb-bad-operator", {"deb_dependencies": ["nginx (=> 1.18)"]}, "deb_dependencies[0]"),
    ("deb-bad-name", {"deb_dependencies": ["Nginx"]}, "deb_dependencies[0]"),
    ("deb-bad-version", {"deb_dependencies": ["nginx (>= one)"]}, "deb_dependencies[0]"),
    ("deb-empty-alternative", {"deb_dependencies": ["nginx | "]}, "deb_dependencies[0]"),
    ("deb-huge-list", {"deb_dependencies": ["libx%d" % i for i in range(101)]}, "deb_dependencies"),
    ("depends-not-list", {"depends_on": {"project": "db"}}, "depends_on"),
    ("depends-bad-spec", {"depends_on": [{"project": "db", "version": "about 2"}]}, "depends_on[0].version"),
    ("depends-self-cycle", {"depends_on": [{"project": "web", "version": ">=1"}]}, "depends_on[0].project"),
    ("depends-duplicate", {"depends_on": [{"project": "db"}, {"project": "db"}]}, "depends_on[1].project"),
    ("depends-unknown-key", {"depends_on": [{"project": "db", "when": "now"}]}, "depends_on[0].when"),
    ("scripts-unknown", {"scripts": {"restart": "x"}}, "scripts.restart"),
    ("scripts-not-string", {"scripts": {"start": ["echo"]}}, "scripts.start"),
    ("scripts-nul", {"scripts": {"start": "echo \x00"}}, "scripts.start"),
    ("scripts-too-long", {"scripts": {"start": "x" * (65 * 1024)}}, "scripts.start"),
    ("deploy-at-garbage", {"deploy_at": "tomorrow"}, "deploy_at"),
    ("deploy-at-no-zone", {"deploy_at": "2026-12-01T09:00:00"}, "deploy_at"),
    ("deploy-at-not-utc", {"deploy_at": "2026-12-01T09:00:00+02:00"}, "deploy_at"),
    ("deploy-at-bad-day", {"deploy_at": "2026-02-30T09:00:00Z"}, "deploy_at"),
    ("hosts-missing", {"hosts": None}, "hosts"),
    ("hosts-not-list", {"hosts": "web-1"}, "hosts"),
    ("hosts-duplicate", {"hosts": ["a.example.com", "a.example.com"]}, "hosts[1]"),
    ("hosts-reserved", {"hosts": ["project"]}, "hosts[0]"),
    ("hosts-reserved-reports", {"hosts": ["reports"]}, "hosts[0]"),
    ("hosts-underscore", {"hosts": ["web_1"]}, "hosts[0]"),
    ("hosts-label-too-long", {"hosts": ["a" * 64 + ".example.com"]}, "hosts[0]"),
    ("hosts-trailing-dash", {"hosts": ["web-.example.com"]}, "hosts[0]"),
    ("hosts-injection", {"hosts": ["web;rm -rf /"]}, "hosts[0]"),
    ("hosts-too-many", {"hosts": ["h%d" % i for i in range(5001)]}, "hosts"),
    ("hosts-not-strings", {"hosts": [1, 2]}, "hosts[0]"),
    ("hosts-zone-bad", {"hosts": [{"name": "web-1", "zone": "us east"}]}, "hosts[0].zone"),
    ("hosts-zone-not-string", {"hosts": [{"name": "web-1", "zone": 3}]}, "hosts[0].zone"),
    ("hosts-zoned-no-name", {"hosts": [{"zone": "us-east-1a"}]}, "hosts[0].name"),
    ("hosts-zoned-unknown", {"hosts": [{"name": "web-1", "az": "us-east-1a"}]}, "hosts[0].az"),
    ("hosts-zoned-bad-name", {"hosts": [{"name": "Web_1", "zone": "a"}]}, "hosts[0]"),
    ("waves-not-list", {"rollout": {"waves": "100%"}}, "rollout.waves"),
    ("waves-empty", {"rollout": {"waves": []}}, "rollout.waves"),
    ("waves-not-ending-100", {"rollout": {"waves": [1, "50%"]}}, "rollout.waves[1]"),
    ("waves-decreasing-percent", {"rollout": {"waves": ["50%", "10%", "100%"]}}, "rollout.waves[1]"),
    ("waves-decreasing-count", {"rollout": {"waves": [5, 2, "100%"]}}, "rollout.waves[1]"),
    ("waves-zero", {"rollout": {"waves": [0, "100%"]}}, "rollout.waves[0]"),
    ("waves-bad-percent", {"rollout": {"waves": ["150%"]}}, "rollout.waves[0]"),
    ("waves-bool", {"rollout": {"waves": [True, "100%"]}}, "rollout.waves[0]"),
    ("rollout-bake-negative", {"rollout": {"bake_seconds": -1}}, "rollout.bake_seconds"),
    ("rollout-bake-string", {"rollout": {"bake_seconds": "60"}}, "rollout.bake_seconds"),
    ("rollout-max-failures-bad", {"rollout": {"max_failures": "lots"}}, "rollout.max_failures"),
    ("rollout-auto-promote-string", {"rollout": {"auto_promote": "yes"}}, "rollout.auto_promote"),
    ("rollout-canary-not-a-host", {"rollout": {"canary_hosts": ["db-9.example.com"]}},
     "rollout.canary_hosts[0]"),
    ("rollout-unknown", {"rollout": {"speed": "fast"}}, "rollout.speed"),
    ("rollout-mode", {"rollout": {"rollback_mode": "sometimes"}}, "rollout.rollback_mode"),
    ("notify-bad-arn", {"notify": {"sns_topic_arn": "topic"}}, "notify.sns_topic_arn"),
    ("notify-webhook-not-url", {"notify": {"webhooks": ["not a url"]}}, "notify.webhooks[0].url"),
    ("notify-webhook-javascript", {"notify": {"webhooks": ["javascript:alert(1)"]}}, "notify.webhooks[0].url"),
    ("ci-server-not-string", {"ci_server": {"url": "x"}}, "ci_server"),
    ("apply-at-on-create", {"apply_at": "2030-01-01T00:00:00Z"}, "apply_at"),
]


def _body(changes):
    body = base_project()
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def test_there_are_at_least_forty_distinct_bad_inputs():
    assert len({case for case, _, _ in BAD_INPUTS}) >= 40


@pytest.mark.parametrize("case,changes,field", BAD_INPUTS, ids=[c for c, _, _ in BAD_INPUTS])
def test_bad_input_is_400_naming_the_field(api, case, changes, field):
    response = api.post("/api/v1/project", _body(changes))
    assert response.status == 400, response
    assert field in response.json["fields"], response.json
    assert response.json["error"]
    assert api.get("/api/v1/project/web").status == 404  # nothing half-written


def test_all_problems_are_reported_at_once():
    with pytest.raises(ValidationError) as caught:
        validation.validate_project({"name": "Bad", "version": "a b", "hosts": ["project"]})
    assert set(caught.value.fields) == {"name", "version", "hosts[0]"}


def test_good_body_gets_rollout_defaults():
    clean = validation.validate_project(base_project(rollout={"waves": [1, "50%", "100%"]}))
    assert clean["rollout"]["waves"] == [1, "50%", "100%"]
    assert clean["rollout"]["auto_rollback"] is True
    assert clean["depends_on"] == [] and clean["source"] is None


def test_update_cannot_rename_or_move_canaries_off_the_host_list(api):
    api.post("/api/v1/project", base_project(rollout={"canary_hosts": ["web-1.example.com"]}))
    rename = api.put("/api/v1/project/web", {"name": "other"})
    assert rename.status == 400 and "name" in rename.json["fields"]
    orphan = api.put("/api/v1/project/web", {"hosts": ["web-2.example.com"]})
    assert orphan.status == 400 and "rollout.canary_hosts[0]" in orphan.json["fields"]
    assert api.get("/api/v1/project/web").json["hosts"] == ["web-1.example.com", "web-2.example.com"]


@pytest.mark.parametrize("raw,status", [
    (b"{not json", 400), (b"[1, 2]", 400), (b"", 400), (b"\xff\xfe", 400),
])
def test_malformed_bodies_are_400_not_500(api, raw, status):
    assert api.post("/api/v1/project", raw).status == status


def test_a_debian_version_with_an_underscore_is_refused_naming_version():
    with pytest.raises(ValidationError) as caught:
        validation.validate_project(base_project(version="1.0_rc1"))
    assert caught.value.fields == {
        "version": "must be a version such as 1.4.2 or 2.0~rc1 (letters, digits, . + ~ : -)"}


def test_the_summary_names_the_first_problem_and_counts_the_rest():
    with pytest.raises(ValidationError) as caught:
        validation.validate_project({"name": "Bad", "version": "a b", "hosts": ["project"]})
    assert caught.value.message.startswith("invalid project: name must be a slug")
    assert caught.value.message.endswith("(and 2 more)")


def test_a_create_fills_every_default_and_keeps_given_rollout_settings():
    clean = validation.validate_project(base_project(rollout={"bake_seconds": 60}))
    assert clean["rollout"]["bake_seconds"] == 60
    assert clean["rollout"]["waves"] == ["100%"] and clean["rollout"]["max_failures"] == 0
    assert (clean["source"], clean["ci_server"], clean["deploy_at"]) == (None, None, None)
    assert (clean["deb_dependencies"], clean["scripts"], clean["notify"], clean["gates"]) == (
        [], {"start": "echo start", "stop": "echo stop"}, {}, {})


def test_an_update_gets_no_defaults_and_drops_id_and_apply_at():
    clean = validation.validate_project({"id": "web", "version": "2.0",
                                         "apply_at": "2030-01-01T00:00:00Z"}, partial=True)
    assert clean == {"version": "2.0"}


def test_the_body_is_left_as_it_was_and_defaults_are_never_shared():
    body = base_project(notify={"webhooks": ["https://h.example.com/x"]}, gates={"after": "https://g.example.com/"})
    before = copy.deepcopy(body)
    first = validation.validate_project(body, local=True)
    assert body == before
    assert first["gates"] == {"after": {"url": "https://g.example.com/"}}
    first["rollout"]["canary_hosts"].append("web-1.example.com")
    first["rollout"]["waves"].insert(0, 1)
    second = validation.validate_project(base_project())
    assert second["rollout"]["canary_hosts"] == [] and second["rollout"]["waves"] == ["100%"]


def test_merged_settings_are_checked_across_fields():
    with pytest.raises(ValidationError) as caught:
        validation.validate_merged({"hosts": [f"h{i}.example.com" for i in range(20)], "rollout": {
            "waves": [5, "10%", "100%"], "canary_hosts": ["b.example.com"]}})
    assert caught.value.fields == {
        "rollout.waves[1]": "reaches fewer hosts (2) than the wave before it (5)",
        "rollout.canary_hosts[0]": "is not one of the project's hosts"}
    validation.validate_merged({"hosts": ["a.example.com"], "rollout": {"canary_hosts": ["a.example.com"]}})


def test_a_trailing_newline_never_passes_a_pattern(api, signed_client):
    # ``re.match`` with ``^...$`` accepts "web\n" ($ matches before a final newline); every
    # pattern is a fullmatch. One kind per line, through the routes that take it.
    sha = "0" * 64
    cases = [
        ({"name": "web\n"}, "name"),
        ({"hosts": ["web-1.example.com\n"]}, "hosts[0]"),
        ({"version": "1.0.0\n"}, "version"),
        ({"rollout": {"waves": ["50%\n", "100%"]}}, "rollout.waves[0]"),
        ({"depends_on": [{"project": "db\n"}]}, "depends_on[0].project"),
        ({"notify": {"sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:deploys\n"}},
         "notify.sns_topic_arn"),
        ({"source": {"type": "git", "url": "https://git.example.com/r", "ref": "v1\n"}},
         "source.ref"),
        ({"source": {"type": "git", "url": "https://git.example.com/r",
                     "credentials": "ssm:/fabu/local/key\n"}}, "source.credentials"),
    ]
    for changes, field in cases:
        got = api.post("/api/v1/project", _body(changes))
        assert got.status == 400 and field in got.json["fields"], (changes, got)
    assert api.post("/api/v1/project", base_project()).status == 201
    upload = api.post("/api/v1/project/web/artifact", {"version": "1.0.0\n", "sha256": sha})
    assert (upload.status, list(upload.json["fields"])) == (400, ["version"])
    upload = api.post("/api/v1/project/web/artifact", {"version": "1.0.0", "sha256": sha + "\n"})
    assert (upload.status, list(upload.json["fields"])) == (400, ["sha256"])
    host = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/web-1.example.com")
    report = host.post("/api/v1/web-1.example.com/report", {
        "project": "web", "version": "1.0.0", "deploy_id": "d-1\n", "phase": "pre_deploy",
        "status": "ok"})
    assert report.status == 400 and "deploy_id" in report.json["fields"], report
    cursor = api.get("/api/v1/project/web/events?limit=1").json["next_cursor"]
    got = api.get(f"/api/v1/project/web/events?limit=1&cursor={cursor}%0A")
    assert (got.status, list(got.json["fields"])) == (400, ["cursor"])
    assert api.get("/api/v1/project").json["projects"][0]["id"] == "web"  # nothing else stored
