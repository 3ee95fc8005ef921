"""The dispatcher: source types, urls carrying passwords, credential references resolved at fetch."""
import pytest

from chalicelib import secrets
from chalicelib.build import sources


def test_unknown_type_names_the_known_ones(dest):
    with pytest.raises(sources.SourceError) as err:
        sources.fetch({"type": "cvs", "url": "cvs://example.com/repo"}, dest)
    assert str(err.value) == ("unknown source type 'cvs'; use one of "
                              "ftp, ftps, git, http, https, s3, svn")
    assert not err.value.retryable


def test_a_source_without_url_is_refused(dest):
    with pytest.raises(sources.SourceError, match="^the source has no url$"):
        sources.fetch({"type": "git"}, dest)


def test_inline_password_in_the_url_is_refused(dest):
    with pytest.raises(sources.SourceError, match="source.credentials"):
        sources.fetch({"type": "http", "url": "https://ci:hunter2@example.com/a.tgz"}, dest)


def test_a_missing_credential_reference_fails_before_any_download(dest, aws_env):
    with pytest.raises(secrets.SecretError, match="'ssm:/nope' does not exist"):
        sources.fetch({"type": "http", "url": "http://127.0.0.1:9/a.tgz",
                       "credentials": "ssm:/nope"}, dest)


def test_secrets_manager_token_and_missing_reference(aws_env):
    aws_env.client("secretsmanager").create_secret(Name="fabu/git", SecretString="tok-123")
    creds = secrets.resolve_credentials("secretsmanager:fabu/git")
    assert (creds.username, creds.password) == (None, "tok-123")
    assert "tok-123" not in repr(creds)
    with pytest.raises(secrets.SecretError, match="'ssm:/nope' does not exist"):
        secrets.resolve("ssm:/nope")
    with pytest.raises(secrets.SecretError, match="not an inline value"):
        secrets.resolve("hunter2")
