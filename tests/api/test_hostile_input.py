"""Nothing a client sends becomes a 500: deep JSON, lone surrogates, forged cursors, huge items.

Every request goes through the routes (the ``api`` client signs like an SDK); each answer is a
4xx naming the field (or the cause), and nothing is stored.
"""
import json

import pytest

from chalicelib import pagination
from chalicelib.errors import ValidationError
from chalicelib.models import MAX_PROJECT_ITEM_BYTES
from tests.conftest import base_project

HOST = "web-1.example.com"
HOST_ARN = f"arn:aws:iam::000000000000:user/fabu-hosts/{HOST}"


def _raw(body: dict, **replace: str) -> str:
    """``body`` as JSON text, each placeholder value replaced by raw JSON text (escapes kept)."""
    text = json.dumps(body)
    for placeholder, raw in replace.items():
        text = text.replace(json.dumps(placeholder), raw)
    return text


# --- nesting ---------------------------------------------------------------------------------

def test_a_body_nested_too_deep_is_a_400_not_a_recursion_error(api):
    for body in ("[" * 100_000 + "]" * 100_000,
                 '{"a":' * 40_000 + "1" + "}" * 40_000,
                 '{"name": "web", "description": ' + "[" * 65 + "]" * 65 + "}"):
        got = api.post("/api/v1/project", body)
        assert got.status == 400, (body[:40], got)
        assert got.json["fields"] == {"": "is nested deeper than 64 levels"}
        assert "more than 64 levels deep" in got.json["error"]
    update = api.put("/api/v1/project/web", "[" * 100_000)
    assert (update.status, update.json["fields"]) == (400, {"": "is nested deeper than 64 levels"})


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    script = "echo '" + "[{" * 5000 + "'"
    got = api.post("/api/v1/project", base_project(scripts={"start": script}))
    assert got.status == 201, got


def test_nesting_within_the_limit_reaches_validation(api):
    got = api.post("/api/v1/project", base_project(description=[[[["deep"]]]]))
    assert got.status == 400 and got.json["fields"] == {"description": "must be a string"}


def test_numbers_json_has_no_name_for_are_refused(api):
    for text in ('{"name": NaN}', '{"name": -Infinity}', '{"name": 1e999}',
                 '{"name": ' + "9" * 5000 + "}"):
        got = api.post("/api/v1/project", text)
        assert got.status == 400 and got.json["fields"] == {"": "is not valid JSON"}, (text, got)


# --- text that is not Unicode ----------------------------------------------------------------

def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_its_path(api):
    cases = [
        (_raw(base_project(scripts={"start": "S"}), S='"echo \\ud800"'), "scripts.start"),
        (_raw(base_project(hosts=["a.example.com", "b.example.com", "c.example.com", "H"]),
              H='"\\udfff.example.com"'), "hosts[3]"),
        (_raw(base_project(description="D"), D='"fine \\ud83d then broken"'), "description"),
        ('{"name": "web", "version": "1.0", "hosts": [], "scripts": {"\\ud800x": "echo"}}',
         "scripts.\\ud800x"),
        ('{"\\udc80": 1}', "\\udc80"),
    ]
    for body, field in cases:
        got = api.post("/api/v1/project", body)
        assert got.status == 400, (field, got)
        assert field in got.json["fields"] and "not valid Unicode" in got.json["fields"][field]
    assert api.get("/api/v1/project/web").status == 404


def test_a_proper_surrogate_pair_is_text_and_is_kept(api):
    got = api.post("/api/v1/project", _raw(base_project(description="D"), D='"ship it \\ud83d\\ude80"'))
    assert got.status == 201, got
    assert api.get("/api/v1/project/web").json["description"] == "ship it \U0001F680"


def test_lone_surrogates_are_refused_on_every_body_route(api, signed_client):
    assert api.post("/api/v1/project", base_project()).status == 201
    update = api.put("/api/v1/project/web", '{"description": "x\\ud800"}')
    assert (update.status, list(update.json["fields"])) == (400, ["description"])
    upload = api.post("/api/v1/project/web/artifact", '{"version": "1.0.0", "sha256": "\\ud800"}')
    assert (upload.status, list(upload.json["fields"])) == (400, ["sha256"])
    host = signed_client(HOST_ARN)
    report = host.post(f"/api/v1/{HOST}/report",
                       '{"project": "web", "deploy_id": "d-1", "phase": "start", "output": "\\udfff"}')
    assert (report.status, list(report.json["fields"])) == (400, ["output"])
    assert api.get("/api/v1/project/web").json.get("description") is None


def test_bodies_that_are_not_utf8_json_objects_are_400(api):
    for body in (b"\xff\xfe\x00garbage", b'"just a string"', b"[1, 2]", b"{"):
        got = api.post("/api/v1/project", body)
        assert got.status == 400 and "" in got.json["fields"], (body, got)


# --- query and path parameters ---------------------------------------------------------------

def test_an_overlong_query_parameter_is_a_400_naming_it(api):
    got = api.get("/api/v1/project/web/events?since=" + "2" * 5000)
    assert got.status == 400 and got.json["fields"] == {"since": "is longer than 4096 characters"}


def test_an_overlong_path_parameter_is_a_400_not_a_dynamodb_key_error(api):
    got = api.get("/api/v1/project/" + "w" * 3000)
    assert got.status == 400 and got.json["fields"] == {"project_id": "is longer than 255 characters"}


def test_an_if_match_that_is_no_etag_of_ours_is_a_400(api):
    assert api.post("/api/v1/project", base_project()).status == 201
    for value in ("²", "１２", "3" * 40, 'W/"-1"', "1.5"):
        got = api.put("/api/v1/project/web", {"description": "x"}, headers={"If-Match": value})
        assert got.status == 400, (value, got)
        assert got.json["fields"] == {"If-Match": "is not an ETag this API issued"}
    assert api.get("/api/v1/project/web").json["rev"] == 1


def test_a_limit_must_be_ascii_digits(api):
    for query in ("limit=%EF%BC%91%EF%BC%92", "limit=1_0", "limit=0x10", "limit="):
        got = api.get(f"/api/v1/project?{query}")
        assert got.status == 400, (query, got)
        assert got.json["fields"] == {"limit": "must be a whole number"}


# --- cursors ---------------------------------------------------------------------------------

def _unsigned(key: dict) -> str:
    """A cursor as a client could forge it: the key, base64url-encoded, no valid MAC."""
    import base64
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.fixture
def three_projects(api):
    for name in ("aaa", "bbb", "ccc"):
        assert api.post("/api/v1/project", base_project(name=name)).status == 201
    return ["aaa", "bbb", "ccc"]


def test_cursors_page_through_every_project_once(api, three_projects):
    seen, cursor = [], None
    while True:
        got = api.get("/api/v1/project?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert got.status == 200, got
        seen += [p["id"] for p in got.json["projects"]]
        cursor = got.json["next_cursor"]
        if not cursor:
            break
    assert seen == three_projects


def test_a_forged_cursor_is_a_400_naming_cursor(api, three_projects):
    forged = [
        _unsigned({"id": {"S": "bbb"}, "list_pk": {"S": "project"}}),  # right shape, not ours
        _unsigned({"id": {"S": "bbb"}}),
        _unsigned({"id": {"N": "NaN"}, "list_pk": {"S": "project"}}),
        _unsigned([1, 2, 3]),
        "A" * 22 + _unsigned({"id": {"S": "x" * 5000}}),
        "x" * 3000,
        "not-a-cursor",
    ]
    for cursor in forged:
        got = api.get(f"/api/v1/project?limit=1&cursor={cursor}")
        assert got.status == 400, (cursor[:40], got)
        assert list(got.json["fields"]) == ["cursor"]
    assert api.get("/api/v1/project?cursor=").status == 200  # empty: the first page


def test_an_edited_or_newline_terminated_cursor_is_a_400(api, three_projects):
    cursor = api.get("/api/v1/project?limit=1").json["next_cursor"]
    assert api.get(f"/api/v1/project?limit=1&cursor={cursor}").status == 200
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    for bad in (flipped, cursor + "%0A", cursor[:-2]):
        got = api.get(f"/api/v1/project?limit=1&cursor={bad}")
        assert (got.status, list(got.json["fields"])) == (400, ["cursor"]), bad


def test_a_cursor_only_goes_back_to_the_query_that_issued_it(api, three_projects):
    from chalicelib import events
    for n in range(3):
        events.record("aaa", "test.step", "tester", {"n": n})
    projects_cursor = api.get("/api/v1/project?limit=1").json["next_cursor"]
    events_cursor = api.get("/api/v1/project/aaa/events?limit=1").json["next_cursor"]
    assert api.get(f"/api/v1/project/aaa/events?limit=1&cursor={events_cursor}").status == 200
    assert api.get(f"/api/v1/project/aaa/events?limit=5&cursor={events_cursor}").status == 200
    for path in (f"/api/v1/project/aaa/events?cursor={projects_cursor}",  # another route
                 f"/api/v1/project/bbb/events?cursor={events_cursor}",  # another project
                 f"/api/v1/project/aaa/events?order=asc&cursor={events_cursor}",  # another query
                 f"/api/v1/project?cursor={events_cursor}"):
        got = api.get(path)
        assert (got.status, list(got.json["fields"])) == (400, ["cursor"]), path


def test_a_cursor_signed_with_another_stage_key_is_refused(api, three_projects, monkeypatch):
    cursor = api.get("/api/v1/project?limit=1").json["next_cursor"]
    monkeypatch.setenv("FABU_CURSOR_KEY", "rotated stage key")
    assert api.get(f"/api/v1/project?limit=1&cursor={cursor}").status == 400
    fresh = api.get("/api/v1/project?limit=1").json["next_cursor"]
    assert api.get(f"/api/v1/project?limit=1&cursor={fresh}").status == 200


def test_a_cursor_names_exactly_the_keys_its_caller_pages():
    with pagination.bound_to("route"):
        cursor = pagination.encode({"id": {"S": "a"}, "list_pk": {"S": "project"}})
        assert pagination.decode(cursor, keys=("id", "list_pk"))["id"] == {"S": "a"}
        with pytest.raises(ValidationError) as refused:
            pagination.decode(cursor, keys=("scope", "sk"))
    assert refused.value.fields.keys() == {"cursor"}


# --- the stored size of a project ------------------------------------------------------------

def _wide_script(kilobytes: int) -> str:
    """A script of ``kilobytes`` KB of UTF-8 whose JSON escapes are 3x as long (é → \\u00e9)."""
    return "é" * (kilobytes * 512)


def _utf8(body: dict) -> bytes:
    """The body as a client would send it: UTF-8, no \\u escapes (so it stays under 256 KB)."""
    return json.dumps(body, ensure_ascii=False).encode()


def test_a_project_too_large_to_store_is_a_413_naming_the_size_and_the_limit(api):
    # 3 x 60 KB of scripts: a 180 KB body (under the 256 KB limit) that is ~540 KB stored.
    body = base_project(scripts={name: _wide_script(60) for name in ("start", "stop", "test")})
    assert len(_utf8(body)) < 256 * 1024
    got = api.post("/api/v1/project", _utf8(body))
    assert got.status == 413, got
    assert f"the limit is {MAX_PROJECT_ITEM_BYTES} bytes" in got.json["error"]
    size = int(got.json["error"].split(" bytes stored")[0].rsplit(" ", 1)[1])
    assert size > MAX_PROJECT_ITEM_BYTES
    assert api.get("/api/v1/project/web").status == 404


def test_an_update_past_the_stored_size_is_a_413_and_changes_nothing(api):
    assert api.post("/api/v1/project", base_project(scripts={"start": _wide_script(60)})).status == 201
    before = api.get("/api/v1/project/web").json
    got = api.put("/api/v1/project/web", _utf8({"scripts": {"start": _wide_script(60),
                                                            "stop": _wide_script(60)}}))
    assert got.status == 413, got
    after = api.get("/api/v1/project/web").json
    assert (after["rev"], after["scripts"]) == (before["rev"], before["scripts"])


def test_a_scheduled_update_counts_with_the_settings_it_waits_beside(api):
    # Each alone fits; the settings and the waiting changes together would not.
    assert api.post("/api/v1/project", _utf8(base_project(scripts={
        "start": _wide_script(40), "stop": _wide_script(40)}))).status == 201
    got = api.put("/api/v1/project/web", _utf8({"scripts": {"start": _wide_script(60)},
                                                "apply_at": "2099-01-01T00:00:00Z"}))
    assert got.status == 413, got
    assert "scheduled update" in got.json["error"]
    assert api.get("/api/v1/project/web").json["pending"] is None


# --- what API Gateway may hand the function: decoded parameters that are not Unicode ----------

def _gateway_event(resource, path, path_params, query):
    """A REST API proxy event as API Gateway sends it after its IAM authorizer said yes."""
    from tests.conftest import ADMIN_ARN
    return {"resource": resource, "path": path, "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {"Host": ["abc.execute-api.us-east-1.amazonaws.com"]},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": path_params or None, "stageVariables": None,
            "requestContext": {"resourcePath": resource, "httpMethod": "GET", "path": f"/api{path}",
                               "accountId": "000000000000", "requestId": "gw-req-1",
                               "identity": {"userArn": ADMIN_ARN}},
            "body": None, "isBase64Encoded": False}


def test_parameters_that_are_not_unicode_are_a_400_naming_them(aws, monkeypatch):
    from app import app
    monkeypatch.setenv("FABU_LOCAL_SIGV4", "")  # as on AWS: API Gateway checked the signature
    cases = [
        (_gateway_event("/api/v1/project", "/api/v1/project", {}, {"cursor": ["\ud800abc"]}),
         "cursor"),
        (_gateway_event("/api/v1/project/{project_id}/events", "/api/v1/project/web/events",
                        {"project_id": "web"}, {"since": ["2026\udfff"]}), "since"),
        (_gateway_event("/api/v1/project/{project_id}", "/api/v1/project/w%ED%A0%80",
                        {"project_id": "w\ud800"}, {}), "project_id"),
    ]
    for event, field in cases:
        answer = app(event, None)
        assert answer["statusCode"] == 400, answer
        body = json.loads(answer["body"])
        assert list(body["fields"]) == [field] and "not valid Unicode" in body["fields"][field]
