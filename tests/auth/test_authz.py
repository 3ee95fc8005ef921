"""Who may call what: hosts their own routes, admins the project routes, nobody else anything."""

import pytest

from chalicelib.auth.authz import (
    Caller,
    Forbidden,
    admin_patterns,
    pattern_problem,
    caller_from_context,
    host_user_arn,
    require_admin,
    require_host,
)

ADMINS = ["arn:aws:iam::123456789012:user/fabu-admin", "arn:aws:sts::123456789012:assumed-role/Ops/*"]


def _context(arn):
    return {"identity": {"userArn": arn, "sourceIp": "10.0.0.1"}}


@pytest.mark.parametrize(
    ("arn", "host"),
    [
        ("arn:aws:iam::123456789012:user/fabu-hosts/web-1", "web-1"),
        ("arn:aws:iam::000000000000:user/fabu-hosts/db-1.prod.example.com", "db-1.prod.example.com"),
        ("arn:aws:sts::123456789012:assumed-role/fabu-host/web-2", "web-2"),
        ("arn:aws-cn:sts::123456789012:assumed-role/fabu-host/web-3", "web-3"),
        ("arn:aws:iam::123456789012:user/fabu-hosts/Web-4", "web-4"),  # DNS names ignore case
    ],
)
def test_host_arns_are_the_host_they_name(arn, host):
    assert caller_from_context(_context(arn), ADMINS) == Caller(arn=arn, kind="host", host=host)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/fabu-admin",
        "arn:aws:sts::123456789012:assumed-role/Ops/alice",
    ],
)
def test_listed_or_matching_arns_are_admins(arn):
    assert caller_from_context(_context(arn), ADMINS) == Caller(arn=arn, kind="admin")


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/fabu-admin-2",  # admin-looking, not listed
        "arn:aws:iam::123456789012:user/Fabu-Admin",  # patterns are case-sensitive
        "arn:aws:iam::999999999999:user/fabu-admin",  # the listed name in another account
        "arn:aws:sts::123456789012:assumed-role/ops/alice",
        "arn:aws:iam::123456789012:user/other-hosts/web-1",
        "arn:aws:sts::123456789012:assumed-role/fabu-hostx/web-1",
        "arn:aws:iam::123456789012:role/fabu-host",  # the role itself never calls
    ],
)
def test_anyone_else_is_forbidden(arn):
    with pytest.raises(Forbidden, match="neither a fabu host nor a listed admin"):
        caller_from_context(_context(arn), ADMINS)


@pytest.mark.parametrize("context", [{}, {"identity": {"sourceIp": "127.0.0.1"}}, {"identity": None}])
def test_a_request_without_an_iam_identity_is_forbidden(context):
    with pytest.raises(Forbidden, match="no IAM identity"):
        caller_from_context(context, ADMINS)


def test_a_host_arn_stays_a_host_even_when_an_admin_glob_matches_it():
    caller = caller_from_context(
        _context("arn:aws:iam::123456789012:user/fabu-hosts/web-1"), ["arn:aws:iam::123456789012:*"]
    )
    assert caller.kind == "host"
    with pytest.raises(Forbidden):
        require_admin(caller)


def test_a_host_may_call_only_its_own_routes():
    web1 = Caller(arn=host_user_arn("web-1"), kind="host", host="web-1")
    require_host(web1, "web-1")
    with pytest.raises(Forbidden, match=r"host web-1 may only call /api/v1/web-1/\.\.\."):
        require_host(web1, "web-2")
    with pytest.raises(Forbidden, match="not the project routes"):
        require_admin(web1)


def test_admins_may_call_project_routes_but_host_routes_only_when_allowed():
    admin = Caller(arn=ADMINS[0], kind="admin")
    require_admin(admin)
    with pytest.raises(Forbidden, match="only host web-1 may call"):
        require_host(admin, "web-1")
    require_host(admin, "web-1", allow_admin=True)


def test_admin_patterns_come_from_a_comma_separated_setting():
    setting = " arn:aws:iam::1:user/a ,arn:aws:iam::1:user/ops/*,, "
    assert admin_patterns({"FABU_ADMIN_ARNS": setting}) == [
        "arn:aws:iam::1:user/a",
        "arn:aws:iam::1:user/ops/*",
    ]
    assert admin_patterns({}) == []


def test_host_user_arn_is_what_the_classifier_reads_back():
    arn = host_user_arn("web-9")
    assert arn == "arn:aws:iam::000000000000:user/fabu-hosts/web-9"
    assert caller_from_context(_context(arn), []).host == "web-9"


def test_a_refusal_is_a_fabu_error_answered_403_with_its_reason():
    from chalicelib.errors import FabuError
    refusal = Forbidden("only host web-1 may call /api/v1/web-1/...")
    assert isinstance(refusal, FabuError) and refusal.status == 403
    assert refusal.body() == {"error": "only host web-1 may call /api/v1/web-1/..."}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/fabu-hosts/eu/web-1",  # a nested path is no host
        "arn:aws:iam::123456789012:user/fabu-hosts/",
        "arn:aws:iam::123456789012:user/fabu-hosts/web_1",  # not a host name
        "arn:aws:iam::123456789012:user/fabu-hosts/project",  # reserved by the API
        "arn:aws:iam::123456789012:user/fabu-hosts/web-1\n",
        "arn:aws:sts::123456789012:assumed-role/fabu-host/alice@example.com",
        "arn:aws:sts::123456789012:assumed-role/fabu-host/a/b",
        "arn:aws:iam::12345:user/fabu-hosts/web-1",  # not a 12-digit account
    ],
)
def test_an_arn_under_the_host_paths_that_is_not_one_host_is_refused_even_for_an_admin_glob(arn):
    with pytest.raises(Forbidden, match="under the fabu host path but is not one host"):
        caller_from_context(_context(arn), ["arn:aws:iam::123456789012:*", "arn:aws:sts::*", "*"])


def test_the_account_placeholder_is_the_apis_own_account():
    env = {"FABU_STAGE": "prod", "FABU_ADMIN_ARNS": "arn:aws:sts::{account}:assumed-role/fabu-admin/*"}
    patterns = admin_patterns(env, account="123456789012")
    assert patterns == ["arn:aws:sts::123456789012:assumed-role/fabu-admin/*"]
    mine = "arn:aws:sts::123456789012:assumed-role/fabu-admin/alice"
    assert caller_from_context(_context(mine), patterns).kind == "admin"
    with pytest.raises(Forbidden, match="neither a fabu host nor a listed admin"):
        caller_from_context(_context(mine.replace("123456789012", "999999999999")), patterns)
    assert admin_patterns(env, account=None) == []  # unknown account: nobody, never everybody


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:sts::*:assumed-role/fabu-admin/*",  # any account
        "arn:aws:sts::12345678901?:assumed-role/fabu-admin/*",
        "arn:aws:*:123456789012:role/x",  # a glob before the account can cross ':'
        "arn:aws:iam:::user/alice",  # no account at all
        "*",
        "arn:aws:sts::[0-9]*:assumed-role/x/*",
    ],
)
def test_outside_local_a_pattern_not_pinned_to_one_account_is_ignored_and_logged(pattern, caplog):
    from chalicelib.auth import authz
    assert pattern_problem(pattern)
    authz._refused_patterns.discard(pattern)  # logged once per process: forget earlier tests
    env = {"FABU_STAGE": "prod", "FABU_ADMIN_ARNS": f"{pattern},arn:aws:iam::123456789012:user/ok"}
    with caplog.at_level("ERROR", logger="chalicelib.auth.authz"):
        assert admin_patterns(env, account="123456789012") == ["arn:aws:iam::123456789012:user/ok"]
        admin_patterns(env, account="123456789012")
    assert [r.getMessage() for r in caplog.records].count(
        f"FABU_ADMIN_ARNS: ignoring {pattern!r}: {pattern_problem(pattern)}") == 1
    with pytest.raises(Forbidden):
        caller_from_context(_context("arn:aws:sts::999999999999:assumed-role/fabu-admin/eve"),
                            admin_patterns(env, account="123456789012"))
    # The local stage keeps its globs (its keys live in a file on the developer's machine).
    assert pattern in admin_patterns({"FABU_STAGE": "local", "FABU_ADMIN_ARNS": pattern})


def test_the_shipped_stages_pin_every_admin_pattern_to_the_apis_account():
    import json
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stages = json.load(open(os.path.join(root, ".chalice", "config.json")))["stages"]
    for name in ("dev", "prod"):
        env = dict(stages[name]["environment_variables"])
        raw = [p.strip() for p in env["FABU_ADMIN_ARNS"].split(",") if p.strip()]
        assert raw and all(p.split(":")[4] == "{account}" for p in raw), name
        assert len(admin_patterns(env, account="123456789012")) == len(raw), name


# --- through the routes ------------------------------------------------------------------------

def test_over_the_api_a_nested_host_path_is_refused_even_when_an_admin_glob_matches_it(
        api, signed_client, monkeypatch):
    monkeypatch.setenv("FABU_ADMIN_ARNS", "arn:aws:iam::000000000000:user/*")
    nested = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/eu/web-1")
    got = nested.get("/api/v1/project")
    assert got.status == 403 and "under the fabu host path but is not one host" in got.json["error"]
    assert nested.get("/api/v1/web-1").status == 403
    assert nested.post("/api/v1/project", {"name": "x"}).status == 403
    host = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/web-1")
    assert host.get("/api/v1/project").status == 403  # a host is never an admin
    assert host.get("/api/v1/web-1").status == 204
    assert api.get("/api/v1/project").status == 200  # user/fabu-admin: the glob's admin


def test_over_the_api_the_account_placeholder_is_the_apis_own_account(api, signed_client, monkeypatch):
    monkeypatch.setenv("FABU_ADMIN_ARNS", "arn:aws:iam::{account}:user/fabu-admin")
    assert api.get("/api/v1/project").status == 200  # 000000000000: the local API's account
    foreign = signed_client("arn:aws:iam::999999999999:user/fabu-admin")
    assert foreign.get("/api/v1/project").status == 403
