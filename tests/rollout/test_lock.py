"""The rollout lock: one holder at a time; a control waits for it, then answers 409."""
import pytest

ROLLOUT_ID = "20261105T085500.000000Z-abc123"


@pytest.fixture
def rollout(aws):
    from chalicelib.models import Rollout
    Rollout("web", ROLLOUT_ID, version="2.0.0", state="running", waves=[1], active_pk="active").save()
    return lambda: Rollout.get("web", ROLLOUT_ID)


def test_a_held_lock_is_refused_until_its_owner_releases_it(rollout):
    from chalicelib.rollout import lock
    assert lock.acquire(rollout(), "t-one")
    assert not lock.acquire(rollout(), "t-two")
    lock.release(rollout(), "t-two")                  # not the owner: nothing changes
    assert rollout().lock_owner == "t-one"
    lock.release(rollout(), "t-one")
    assert rollout().lock_owner is None
    assert lock.acquire(rollout(), "t-two")


def test_a_stale_read_cannot_take_the_lock(rollout):
    from chalicelib.rollout import lock
    stale = rollout()
    assert lock.acquire(rollout(), "t-one")
    lock.release(rollout(), "t-one")
    assert not lock.acquire(stale, "t-two")           # its seq is old: someone wrote since


def test_a_control_waits_for_the_lock_then_answers_409(rollout):
    from chalicelib.errors import Conflict, NotFound
    from chalicelib.rollout import lock
    assert lock.acquire(rollout(), "t-tick")
    with pytest.raises(Conflict) as refused:
        with lock.locked("web", wait=0.2):
            pass
    assert "is busy (a tick or another control holds it)" in str(refused.value)
    lock.release(rollout(), "t-tick")
    with lock.locked("web") as held:
        assert held.rollout_id == ROLLOUT_ID and rollout().lock_owner.startswith("c-")
    assert rollout().lock_owner is None
    with pytest.raises(NotFound):
        with lock.locked("nope"):
            pass
