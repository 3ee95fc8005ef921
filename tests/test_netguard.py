"""The network rule at the API's door (400 naming the field) and again when a build runs.

``stage_api(stage, **settings)`` is the API with the local stage's configuration but
``FABU_STAGE=stage`` and the given settings, as a deployed stage would have them in
``.chalice/config.json``; builds of a non-local stage use that stage's queue and bucket, which
``dev_stack`` creates on the suite's emulator.
"""
import json
import os
import urllib.parse

import pytest

from tests.conftest import (ADMIN_KEY, ADMIN_SECRET, ROOT, SignedClient, base_project,
                            boto_client, drain)
from tests.support.builds import archive_site, http_server

EMULATOR = os.environ["AWS_ENDPOINT_URL"]
EMULATOR_PORT = urllib.parse.urlsplit(EMULATOR).port


@pytest.fixture(scope="module")
def dev_stack(moto_server):
    """The resources of stage ``dev`` (queues, buckets; tables stay the local ones)."""
    from infra import stack
    return stack.create_stack("fabu", "dev")


@pytest.fixture
def stage_api(aws, tmp_path):
    """``make(stage, **settings)`` → ``(signed admin client, chalice test client)``."""
    from chalice.test import Client

    from app import app
    with open(os.path.join(ROOT, ".chalice", "config.json")) as f:
        base = json.load(f)
    made = []

    def make(stage="dev", **settings):
        config = json.loads(json.dumps(base))
        config["stages"]["local"]["environment_variables"].update(FABU_STAGE=stage, **settings)
        project_dir = tmp_path / f"stage-{len(made)}"
        (project_dir / ".chalice").mkdir(parents=True)
        (project_dir / ".chalice" / "config.json").write_text(json.dumps(config))
        client = Client(app, stage_name="local", project_dir=str(project_dir))
        made.append(client)
        return SignedClient(client, ADMIN_KEY, ADMIN_SECRET), client
    return make


def _create(client, **fields):
    return client.post("/api/v1/project", base_project(**fields))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("kind", ["http", "git"])
def test_a_source_at_the_emulator_is_a_400_naming_source_url(api, host, kind):
    url = f"http://{host}:{EMULATOR_PORT}/moto-api/data.json"
    response = _create(api, source={"type": kind, "url": url})
    assert response.status == 400, response
    message = response.json["fields"]["source.url"]
    assert message.startswith("refused: ")
    assert message.endswith(f"127.0.0.1:{EMULATOR_PORT}, the stage's own AWS endpoint "
                            "(AWS_ENDPOINT_URL); never allowed" if host == "localhost" else
                            f"127.0.0.1:{EMULATOR_PORT} is the stage's own AWS endpoint "
                            "(AWS_ENDPOINT_URL); never allowed")
    assert list(response.json["fields"]) == ["source.url"]
    assert api.get("/api/v1/project/web").status == 404


METADATA = [
    ("source.url", {"source": {"type": "http", "url": "https://169.254.169.254/latest/meta-data/"}},
     "169.254.169.254 is a link-local address"),
    ("notify.webhooks[0].url", {"notify": {"webhooks": [{"url": "https://[fd00:ec2::254]/x"}]}},
     "fd00:ec2::254 is an AWS-internal address"),
    ("notify.webhooks[1].url", {"notify": {"webhooks": [
        "https://hooks.example.com/ok", "https://169.254.170.2/v2/credentials"]}},
     "169.254.170.2 is a link-local address"),
    ("gates.before_wave.url", {"gates": {"before_wave": {"url": "https://[::ffff:169.254.169.254]/"}}},
     "::ffff:169.254.169.254 is 169.254.169.254, a link-local address"),
    ("gates.after.url", {"gates": {"after": "https://0.0.0.0:8443/"}},
     "0.0.0.0 is a 'this network' address"),
]


@pytest.mark.parametrize("stage", ["local", "dev"])
@pytest.mark.parametrize("field, body, reason", METADATA, ids=[m[0] for m in METADATA])
def test_metadata_addresses_are_a_400_naming_the_field_in_every_stage(stage_api, stage, field,
                                                                      body, reason):
    client, _ = stage_api(stage, FABU_ALLOWED_NETWORKS="0.0.0.0/0,::/0")  # no setting opens them
    response = _create(client, **body)
    assert response.status == 400, response
    assert list(response.json["fields"]) == [field]
    assert response.json["fields"][field].startswith(f"refused: {reason}")
    assert response.json["fields"][field].endswith("; never allowed")


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_plain_http_metadata_webhooks_and_gates_are_refused_for_the_address(stage_api, stage):
    """Outside local an http:// webhook is also the wrong scheme; the address is named first."""
    client, _ = stage_api(stage)
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    response = _create(client, notify={"webhooks": [url]}, gates={"before_wave": url, "after": url})
    assert response.status == 400, response
    fields = response.json["fields"]
    assert set(fields) == {"notify.webhooks[0].url", "gates.before_wave.url", "gates.after.url"}
    for message in fields.values():
        assert message.startswith("refused: 169.254.169.254 is a link-local address (169.254.0.0/16: "
                                  "the instance metadata service")
        assert message.endswith("never allowed" if stage == "local" else
                                "never allowed; also, the scheme must be one of https")


def test_outside_local_loopback_and_private_addresses_need_the_setting(stage_api, dev_stack):
    body = {"source": {"type": "http", "url": "http://127.0.0.1:8080/app.tgz"},
            "notify": {"webhooks": [{"url": "https://10.1.2.3/hook"}]},
            "gates": {"before_wave": "https://192.168.5.10/approve",
                      "after": "https://[fd12:3456::1]/audit"}}
    client, _ = stage_api("dev")
    response = _create(client, **body)
    assert response.status == 400, response
    assert response.json["fields"] == {
        "source.url": "refused: 127.0.0.1 is a loopback address (127.0.0.0/8); allowed outside "
                      "stage local only inside a network listed in FABU_ALLOWED_NETWORKS",
        "notify.webhooks[0].url": "refused: 10.1.2.3 is a private address (10.0.0.0/8); allowed "
                                  "outside stage local only inside a network listed in "
                                  "FABU_ALLOWED_NETWORKS",
        "gates.before_wave.url": "refused: 192.168.5.10 is a private address (192.168.0.0/16); "
                                 "allowed outside stage local only inside a network listed in "
                                 "FABU_ALLOWED_NETWORKS",
        "gates.after.url": "refused: fd12:3456::1 is a unique local address (fc00::/7); allowed "
                           "outside stage local only inside a network listed in "
                           "FABU_ALLOWED_NETWORKS"}
    client, _ = stage_api("dev", FABU_ALLOWED_NETWORKS="10.1.0.0/16,192.168.5.10/32")
    response = _create(client, **body)
    assert set(response.json["fields"]) == {"source.url", "gates.after.url"}
    client, _ = stage_api(
        "dev", FABU_ALLOWED_NETWORKS="10.1.0.0/16, 192.168.5.10/32,127.0.0.1/32,fd12::/16")
    assert _create(client, **body).status == 201
    local, _ = stage_api("local")
    assert _create(local, **dict(body, name="web-local")).status == 201


def test_an_invalid_allowed_networks_entry_refuses_naming_it(stage_api):
    client, _ = stage_api("prod", FABU_ALLOWED_NETWORKS="10.0.0.0/8,10.1.0.0/33")
    response = _create(client, source={"type": "http", "url": "http://10.1.2.3/app.tgz"})
    assert response.status == 400
    assert "FABU_ALLOWED_NETWORKS has an invalid entry '10.1.0.0/33'" in \
        response.json["fields"]["source.url"]


@pytest.mark.parametrize("kind", ["git", "svn"])
def test_file_sources_only_in_the_local_stage(stage_api, dev_stack, kind):
    client, _ = stage_api("dev")
    response = _create(client, source={"type": kind, "url": "file:///srv/repo"})
    assert response.status == 400
    assert "source.url" in response.json["fields"]
    local, _ = stage_api("local")
    assert _create(local, source={"type": kind, "url": "file:///srv/repo"}).status == 201


def test_a_release_queued_while_allowed_fails_when_built_after_the_setting_changed(
        stage_api, dev_stack, tmp_path):
    """The rule is applied again when the build runs: no byte is fetched from an address the
    stage no longer allows, and the release says which address and why."""
    sqs = boto_client("sqs")
    drain(sqs, dev_stack["BuildQueue"])
    seen = []
    with http_server(archive_site(tmp_path), seen=seen) as base:
        before, _ = stage_api("dev", FABU_ALLOWED_NETWORKS="127.0.0.1/32")
        response = _create(before, source={"type": "http", "url": f"{base}/app-1.0.tar.gz"})
        assert response.status == 201, response
        assert response.json["release"]["state"] == "queued"
        messages = drain(sqs, dev_stack["BuildQueue"])
        assert len(messages) == 1
        after, worker = stage_api("dev")  # the setting no longer lists 127.0.0.1
        event = worker.events.generate_sqs_event(message_bodies=[messages[0]["Body"]],
                                                 queue_name="fabu-dev-builds")
        worker.lambda_.invoke("build_worker", event)
        release = after.get("/api/v1/project/web").json["release"]
    assert seen == []
    assert release["state"] == "failed"
    assert release["error"] == (
        f"refused to fetch {base}/app-1.0.tar.gz: 127.0.0.1 is a loopback address (127.0.0.0/8); "
        "allowed outside stage local only inside a network listed in FABU_ALLOWED_NETWORKS")
