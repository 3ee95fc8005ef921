"""What the CLI tests share: running ``fabu`` (in-process or as the installed script) and files."""
import hashlib
import os
import subprocess
import sys

from click.testing import CliRunner

from tests.conftest import ADMIN_KEY, ADMIN_SECRET

FABU = os.path.join(os.path.dirname(sys.executable), "fabu")


def fabu(live, *args, key=ADMIN_KEY, secret=ADMIN_SECRET, endpoint=None, env=None, timeout=60,
         process=False):
    """Run ``fabu --endpoint <live> ARGS`` with keys in the environment; (code, stdout, stderr)."""
    run_env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
               "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PROFILE": None,
               "AWS_SESSION_TOKEN": None, "COLUMNS": "200"}
    run_env.update(env or {})
    argv = ["--endpoint", endpoint or live.url, *args]
    if process:
        full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full.update({k: v for k, v in run_env.items() if v is not None})
        proc = subprocess.run([FABU, *argv], env=full, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr
    from fabu_cli.commands import cli
    result = CliRunner().invoke(cli, argv, env=run_env, prog_name="fabu")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback a user would have seen
    return result.exit_code, result.stdout, result.stderr


def write_yaml(tmp_path, text, name="project.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


PROJECT_YAML = """\
name: shop
version: 1.0.0
hosts: [shop-1.example.com, shop-2.example.com, shop-3.example.com]
scripts:
  start: echo start
  stop: echo stop
rollout:
  waves: [1, "100%"]
  bake_seconds: 0
"""


def ready_release(project, version):
    """Storage-boundary setup: what the build worker would have produced."""
    from chalicelib.models import Release
    body = b"tarball"
    Release(project, version, state="ready", s3_key=f"releases/{project}/{version}.tgz",
            sha256=hashlib.sha256(body).hexdigest(), size=len(body)).save()
