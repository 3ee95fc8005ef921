"""The real local stack (moto server + `chalice local`) over HTTP: the round trip a user makes."""
import requests

from tests.conftest import base_project


def test_create_get_update_delete_round_trip_over_http(live):
    created = live.request("POST", "/api/v1/project", base_project())
    assert created.status_code == 201, created.text
    etag = created.headers["ETag"]
    got = live.request("GET", "/api/v1/project/web")
    assert got.status_code == 200 and got.json()["version"] == "1.0.0"
    updated = live.request("PUT", "/api/v1/project/web", {"version": "1.1.0"}, headers={"If-Match": etag})
    assert updated.status_code == 200, updated.text
    stale = live.request("PUT", "/api/v1/project/web", {"version": "1.2.0"}, headers={"If-Match": etag})
    assert stale.status_code == 409
    assert live.request("DELETE", "/api/v1/project/web").status_code == 200
    assert live.request("GET", "/api/v1/project/web").status_code == 404


def test_unsigned_requests_are_refused_with_a_reason(live):
    response = requests.get(live.url + "/api/v1/project", timeout=10)
    assert response.status_code == 403
    assert "Authorization" in response.json()["error"] or "missing" in response.json()["error"]


def test_bad_input_is_400_with_fields_over_http(live):
    response = live.request("POST", "/api/v1/project", base_project(name="Bad Name", hosts=["project"]))
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "name" in fields and "hosts[0]" in fields


def test_host_key_polls_its_own_route_only(live):
    key, secret = live.add_host("web-1.example.com")
    assert live.request("GET", "/api/v1/web-1.example.com", key=key, secret=secret).status_code == 204
    assert live.request("GET", "/api/v1/web-2.example.com", key=key, secret=secret).status_code == 403
    assert live.request("GET", "/api/v1/project", key=key, secret=secret).status_code == 403
