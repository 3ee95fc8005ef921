"""s3 sources: one object or every object under a prefix."""
import pytest

from chalicelib.build import sources
from tests.support.builds import tree_listing


def _fetch(source, dest, **kwargs):
    return tree_listing(sources.fetch(source, dest, **kwargs))


def test_s3_object_and_prefix(aws_env, dest, tmp_path):
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="ci-output")
    s3.put_object(Bucket="ci-output", Key="builds/7/app.jar", Body=b"jar")
    s3.put_object(Bucket="ci-output", Key="builds/7/conf/app.ini", Body=b"ini")
    assert _fetch({"type": "s3", "url": "s3://ci-output/builds/7/app.jar"}, dest) == {"app.jar": b"jar"}
    other = tmp_path / "other"
    other.mkdir()
    assert _fetch({"type": "s3", "url": "s3://ci-output/builds/7/"}, other) == {
        "app.jar": b"jar", "conf": "/", "conf/app.ini": b"ini"}
    with pytest.raises(sources.SourceError, match="nothing found at s3://ci-output/builds/8"):
        sources.fetch({"type": "s3", "url": "s3://ci-output/builds/8"}, tmp_path / "x")


def test_s3_key_without_slash_is_read_as_a_prefix_and_a_missing_bucket_is_final(aws_env, dest):
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="ci-prefix")
    s3.put_object(Bucket="ci-prefix", Key="builds/7/app.jar", Body=b"jar")
    assert _fetch({"type": "s3", "url": "s3://ci-prefix/builds/7"}, dest) == {"app.jar": b"jar"}
    with pytest.raises(sources.SourceError) as err:
        sources.fetch({"type": "s3", "url": "s3://no-such-bucket/x/"}, dest)
    assert str(err.value) == "nothing found at s3://no-such-bucket/x/ (NoSuchBucket)"
    assert not err.value.retryable
