"""Every state name of fabu, spelled once: host items, rollouts, releases, phases, reports.

The values are the strings stored in DynamoDB and shown by the API, so a member compares equal to
its string (``HostStatus.PENDING == "pending"``) and serialises as one. The groups below are the
only definitions of "done", "failed", "in flight" and "active"; the web console's
``web/src/js/states.js`` is generated from this module (``python -m chalicelib.states``) and a
test keeps the two equal.
"""
import enum
import json


class HostStatus(enum.StrEnum):
    """Where one host stands in one project (``HostState.status``)."""
    IDLE = "idle"                          # nothing to do
    WAITING = "waiting"                    # in a wave not yet released
    PENDING = "pending"                    # deploy released, not yet handed out
    IN_PROGRESS = "in_progress"            # script handed out, lease running
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"                          # lease expired, or silent when released
    SKIPPED = "skipped"                    # already at the target version
    ROLLBACK_PENDING = "rollback_pending"  # a rollback released, not yet handed out
    ROLLED_BACK = "rolled_back"
    DRAINING = "draining"                  # out of its target groups, connections draining
    LEFT = "left"                          # no longer in the fleet (terminated, stopped, detached)


class RolloutState(enum.StrEnum):
    """The state of one rollout (``Rollout.state``)."""
    SCHEDULED = "scheduled"              # until deploy_at
    WAITING_RELEASE = "waiting_release"  # release, dependencies or busy hosts hold the start
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"
    ROLLING_BACK = "rolling_back"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


class ReleaseState(enum.StrEnum):
    """The state of one release's artifact (``Release.state``)."""
    QUEUED = "queued"
    BUILDING = "building"
    AWAITING_ARTIFACT = "awaiting_artifact"  # no source: waits for a CI upload
    READY = "ready"
    FAILED = "failed"


class DrainState(enum.StrEnum):
    """Where a host stands with its target groups (``HostState.drain["state"]``)."""
    DRAINING = "draining"      # being deregistered, connections draining
    OUT = "out"                # out of every group: its deploy may be handed out
    KEPT_OUT = "kept_out"      # lost, or failed without rolling itself back: left out of service
    REGISTERED = "registered"  # back in every group


class DeployKind(enum.StrEnum):
    """What a host item asks the host to do."""
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class Phase(enum.StrEnum):
    """The phases of the deploy script, in the order it runs them."""
    PRE_DEPLOY = "pre-deploy"
    DO_DEPLOY = "do-deploy"
    POST_DEPLOY = "post-deploy"
    ROLLBACK = "rollback"


class ReportStatus(enum.StrEnum):
    """The status of one phase report."""
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


#: Host items whose deploy has ended, well or not.
HOST_DONE = frozenset({HostStatus.SUCCEEDED, HostStatus.FAILED, HostStatus.LOST,
                       HostStatus.SKIPPED, HostStatus.ROLLED_BACK})
#: Host items that count against ``max_failures``.
HOST_FAILED = frozenset({HostStatus.FAILED, HostStatus.LOST})
#: Host items released and not yet reported back.
HOST_IN_FLIGHT = frozenset({HostStatus.DRAINING, HostStatus.PENDING, HostStatus.IN_PROGRESS,
                            HostStatus.ROLLBACK_PENDING})
#: Host items a poll hands out.
HOST_PENDING = (HostStatus.PENDING, HostStatus.ROLLBACK_PENDING)
#: Host items of hosts that left the fleet: in no group above; they count in no wave total,
#: threshold, progress or drift (readers of a project's items leave them out).
HOST_GONE = frozenset({HostStatus.LEFT})
#: The status the project view shows for a listed host that has no item yet (never stored).
HOST_UNKNOWN = "unknown"
#: Host items not yet at rest (drift is only judged on the others).
HOST_UNSETTLED = frozenset({HostStatus.WAITING}) | HOST_IN_FLIGHT

#: Phase reports of a phase that went well (``skipped``: nothing was needed) / went wrong.
REPORT_WENT_WELL = (ReportStatus.OK, ReportStatus.SKIPPED)
REPORT_WENT_WRONG = (ReportStatus.FAILED, ReportStatus.INTERRUPTED)

#: Releases being built from their source (a CI upload for them is refused).
RELEASE_BUILDING = frozenset({ReleaseState.QUEUED, ReleaseState.BUILDING})

#: Rollouts the tick drives (they carry ``active_pk``).
ROLLOUT_ACTIVE = (RolloutState.SCHEDULED, RolloutState.WAITING_RELEASE, RolloutState.RUNNING,
                  RolloutState.PAUSED, RolloutState.HALTED, RolloutState.ROLLING_BACK)
#: Rollouts that have not started their first wave yet.
ROLLOUT_NOT_STARTED = (RolloutState.SCHEDULED, RolloutState.WAITING_RELEASE)
#: Rollouts whose hosts may be mid-deploy: deleting the project then needs ``?force=true``.
ROLLOUT_IN_PROGRESS = (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.HALTED,
                       RolloutState.ROLLING_BACK)
#: Rollouts that have ended.
ROLLOUT_FINAL = (RolloutState.SUCCEEDED, RolloutState.ROLLED_BACK, RolloutState.SUPERSEDED,
                 RolloutState.CANCELLED)


def as_json() -> dict:
    """Every enumeration and group as plain lists: what the console's ``states.js`` holds."""
    def values(members):
        return [str(m) for m in members]
    return {
        "HostStatus": values(HostStatus), "RolloutState": values(RolloutState),
        "ReleaseState": values(ReleaseState), "DeployKind": values(DeployKind),
        "DrainState": values(DrainState),
        "Phase": values(Phase), "ReportStatus": values(ReportStatus),
        "HOST_DONE": sorted(values(HOST_DONE)), "HOST_FAILED": sorted(values(HOST_FAILED)),
        "HOST_IN_FLIGHT": sorted(values(HOST_IN_FLIGHT)), "HOST_PENDING": values(HOST_PENDING),
        "HOST_UNSETTLED": sorted(values(HOST_UNSETTLED)), "HOST_UNKNOWN": HOST_UNKNOWN,
        "HOST_GONE": sorted(values(HOST_GONE)),
        "RELEASE_BUILDING": sorted(values(RELEASE_BUILDING)),
        "REPORT_WENT_WELL": values(REPORT_WENT_WELL), "REPORT_WENT_WRONG": values(REPORT_WENT_WRONG),
        "ROLLOUT_ACTIVE": values(ROLLOUT_ACTIVE), "ROLLOUT_NOT_STARTED": values(ROLLOUT_NOT_STARTED), "ROLLOUT_IN_PROGRESS": values(ROLLOUT_IN_PROGRESS),
        "ROLLOUT_FINAL": values(ROLLOUT_FINAL),
    }


def console_module() -> str:
    """The text of ``web/src/js/states.js``."""
    lines = ["// Generated by `python -m chalicelib.states` from chalicelib/states.py: do not edit.",
             "// Every state name the API returns, and the groups the console styles by."]
    for name, members in as_json().items():
        lines.append(f"export const {name} = Object.freeze({json.dumps(members)});")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(console_module(), end="")
