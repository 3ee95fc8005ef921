"""``fabu project``: YAML's number-for-text traps caught before the API, scheduled updates listed,
replaced and cancelled, and the field reference at hand."""
import json

from tests.cli.support import PROJECT_YAML, fabu, write_yaml


def test_an_unquoted_version_is_refused_with_the_quoting_hint(live, tmp_path):
    path = write_yaml(tmp_path, PROJECT_YAML.replace("version: 1.0.0", "version: 1.10"))
    code, out, err = fabu(live, "project", "create", "-f", path)
    assert code == 2, err
    assert 'version: 1.10 is a number in YAML (read as 1.1): quote it: version: "1.10"' in err
    assert live.request("GET", "/api/v1/project/shop").status_code == 404  # never reached the API
    ref = PROJECT_YAML + "source: {type: git, url: 'https://git.example.com/shop.git', ref: 2.0}\n"
    code, out, err = fabu(live, "project", "create", "-f", write_yaml(tmp_path, ref))
    assert code == 2 and 'source.ref: 2.0 is a number in YAML: quote it: ref: "2.0"' in err
    change = tmp_path / "change.json"
    change.write_text('{"version": 2, "depends_on": [{"project": "db", "version": 1.10}]}')
    code, out, err = fabu(live, "project", "update", "shop", "-f", str(change))
    assert code == 2
    assert 'version: 2 is a JSON number: quote it: "version": "2"' in err
    assert 'depends_on[0].version: 1.10 is a JSON number (read as 1.1): quote it: "version": "1.10"' in err


def test_quoted_versions_and_unquoted_yaml_times_go_through(live, tmp_path):
    text = PROJECT_YAML.replace("version: 1.0.0", 'version: "1.10"') + "deploy_at: 2099-01-01T00:00:00Z\n"
    code, out, err = fabu(live, "-o", "json", "project", "create", "-f", write_yaml(tmp_path, text))
    assert code == 0, err
    created = json.loads(out)
    assert created["version"] == "1.10" and created["deploy_at"] == "2099-01-01T00:00:00Z"
    assert created["rollout"]["state"] == "scheduled"


def test_scheduled_updates_from_the_cli(live, tmp_path):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    change = write_yaml(tmp_path, 'version: "2.0.0"\n', "change.yaml")
    code, out, err = fabu(live, "project", "update", "shop", "-f", change,
                          "--apply-at", "2099-01-01T00:00:00Z")
    assert code == 0, err
    assert "scheduled an update of shop for 2099-01-01T00:00:00Z" in err
    assert "pending  update of version scheduled for 2099-01-01T00:00:00Z" in out
    code, out, err = fabu(live, "project", "scheduled", "shop")
    assert code == 0 and "update of shop scheduled for 2099-01-01T00:00:00Z by" in out
    assert '"version": "2.0.0"' in out
    code, out, err = fabu(live, "project", "update", "shop", "-f", change,
                          "--apply-at", "2099-02-01T00:00:00Z")
    assert code == 1 and "HTTP 409" in err and "2099-01-01T00:00:00Z" in err
    assert "scheduled: version at 2099-01-01T00:00:00Z" in err and "--replace" in err
    code, out, err = fabu(live, "project", "update", "shop", "-f", change, "--replace",
                          "--apply-at", "2099-02-01T00:00:00Z")
    assert code == 0, err
    code, out, err = fabu(live, "project", "scheduled")
    assert code == 0 and "shop" in out and "2099-02-01T00:00:00Z" in out and "1.0.0" in out
    code, out, err = fabu(live, "project", "cancel-scheduled", "shop")
    assert code == 0 and "cancelled the update of shop scheduled for 2099-02-01T00:00:00Z" in out
    code, out, err = fabu(live, "project", "scheduled", "shop")
    assert code == 0 and "no update of shop is scheduled" in out
    code, out, err = fabu(live, "project", "cancel-scheduled", "shop")
    assert code == 1 and "HTTP 404: project 'shop' has no scheduled update to cancel" in err
    code, out, err = fabu(live, "project", "list", "--scheduled")
    assert code == 0 and "no scheduled updates" in out


def test_the_field_reference_is_at_hand(live):
    code, out, err = fabu(live, "project", "create", "--help")
    assert code == 0 and "docs/fields.md" in out
    code, out, err = fabu(live, "project", "fields")
    assert code == 0 and out.startswith("# Project fields") and "`rollout.bake_seconds`" in out
