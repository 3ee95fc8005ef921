"""Fixtures of the host-protocol tests: a client signed as the host ``HOST`` itself."""
import pytest

from tests.support.hosts import HOST_ARN


@pytest.fixture
def host_client(signed_client):
    return signed_client(HOST_ARN)
