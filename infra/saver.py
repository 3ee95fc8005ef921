"""Keep ``make run``'s data on disk: restore it at start, save it every minute and at stop.

``restore_and_save`` runs once the stack exists and before the API starts: it deletes the saved
data first when ``FABU_WIPE`` is set (``make run WIPE=1``), restores the newest snapshot of
``$FABU_STATE_DIR`` (``infra.snapshot``) and returns a ``Saver``. The saver writes a snapshot every
``FABU_SNAPSHOT_SECONDS`` on a thread of its own (ticks go on meanwhile; a failed save is said and
retried, the previous snapshot stays), and ``final()`` writes the last one, queue messages
included, once the API has stopped.
"""
import os
import threading

from infra import local, snapshot
from infra.snapshot_io import Clients


#: Resources ``make run`` fills again at every start: the console's bucket (``publish_ui``).
NOT_SAVED = ("UIBucket",)


def say(message: str) -> None:
    print(f"fabu: {message}", flush=True)


class Saver:
    """Periodic and final snapshots of one stage; one save at a time."""

    def __init__(self, state_dir, stage: snapshot.Stage, clients: Clients, period: float,
                 last_saved: str = "(never)") -> None:
        self.state_dir, self.stage, self.clients, self.period = state_dir, stage, clients, period
        self.last_saved = last_saved
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fabu-saver", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.save()
            except Exception as exc:  # said, retried next period; the previous snapshot stays
                say(f"saving the data failed: {type(exc).__name__}: {exc}; the snapshot of "
                    f"{self.last_saved} is kept, next try in {self.period:g}s")

    def save(self, queues: bool = False) -> snapshot.Summary:
        with self._lock:
            summary = snapshot.save(self.state_dir, self.stage, self.clients, queues=queues)
            self.last_saved = summary.saved_at
        return summary

    def final(self) -> int:
        """The last snapshot (queue messages too); 0 when saved, 1 when it failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            summary = self.save(queues=True)
        except Exception as exc:
            say(f"error: the last save failed: {type(exc).__name__}: {exc}; the snapshot of "
                f"{self.last_saved} is kept")
            return 1
        say(f"saved the data to {self.state_dir}: {summary.text()}")
        for note in summary.notes:
            say(f"warning: {note}")
        return 0


def restore_and_save(created: dict[str, str], period: float) -> Saver:
    """Restore the saved data into the new stack; raise ``SnapshotError`` saying what failed."""
    from infra.stack import emulator_session, load_template
    state = local.state_dir()
    if (os.environ.get("FABU_WIPE") or "").lower() in ("1", "true", "yes"):
        if snapshot.wipe(state):
            say(f"deleted the saved data in {state} (WIPE=1)")
    stage = snapshot.stage_of(created, load_template(), skip=NOT_SAVED)
    clients = Clients.from_session(emulator_session())
    summary = snapshot.restore(state, stage, clients)
    if summary is None:
        say(f"no saved data in {state}: starting empty")
        last = "(never)"
    else:
        say(f"restored the data saved at {summary.saved_at} from {state}: {summary.text()}")
        last = summary.saved_at
    say(f"saving it every {period:g}s and at Ctrl-C; `make wipe` deletes it")
    return Saver(state, stage, clients, period, last)
