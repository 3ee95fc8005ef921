"""The rollout tests' fleet: 100 simulated hosts (``tests/support/fleet.py``) speaking the API."""
import pytest

from tests.support.fleet import FLEET_HOSTS, Fleet


@pytest.fixture
def fleet(signed_client):
    return Fleet(signed_client, FLEET_HOSTS)
