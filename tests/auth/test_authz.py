"""Who may call what: hosts their own routes, admins the project routes, nobody else anything."""

import pytest

from chalicelib.auth.authz import (
    Caller,
    Forbidden,
    admin_patterns,
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
        "arn:aws:iam::123456789012:user/fabu-hosts/team/web-1",  # nested path: not a host
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
