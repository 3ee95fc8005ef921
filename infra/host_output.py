"""Turn what one agent run prints into the few lines ``make hosts`` shows for it.

The agent (``fabu-agent: ...``) and the deploy script (``fabu: ...``, see
``chalicelib/templates/deploy-lib.sh``) print what they do; ``RunReader`` is fed those lines as
they come and says, per project of the run: deploying (from → to), succeeded, already running,
failed (phase and first error; rolled back to what), rolled back on request, interrupted.
``finish`` ends the run: it reports a failure no line explained, and returns the "quiet" line of
a run that did nothing (a poll with nothing to do, or the agent's own error), which the caller
prints only when it changes.
"""
import re
from collections.abc import Callable

#: The phase a user script runs in (``running <script> of <release>``).
PHASE_OF_SCRIPT = {"pre_deploy": "pre-deploy", "stop": "do-deploy", "start": "do-deploy",
                   "test": "post-deploy", "health": "post-deploy", "post_deploy": "post-deploy"}

_DEPLOYING = re.compile(r"fabu: deploying (\S+) (\S+) \(running: (.*)\)")
_DEPLOYED = re.compile(r"fabu: (\S+) (\S+) is deployed")
_ALREADY = re.compile(r"fabu: (\S+) is already running (\S+); nothing to do")
_RUNNING = re.compile(r"fabu: running (\w+) of .*")
_AUTO_ROLLBACK = re.compile(r"fabu: rolling back (\S+) to (.*?): ([a-z-]+) failed: (.*)")
_ASKED_ROLLBACK = re.compile(r"fabu: rollback of (\S+) to (\S+) requested(?:: (.*))?")
_ROLLED_BACK = re.compile(r"fabu: rolled back to (.+)")
_NOT_RUNNING = re.compile(r"fabu: no previous release: (\S+) is not running")
_INTERRUPTED = re.compile(r"fabu: (\S+ \S+ was interrupted during \S+).*")


class RunReader:
    """The story of one agent run, told through ``emit`` as it happens."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.project = self.version = self.phase = self.error = None
        self.ended = True      # the current project's outcome was said
        self.active = False    # the run did something worth a line
        self.agent_error = None

    def feed(self, line: str) -> None:
        text = line.rstrip()
        if self._outcome(text) or self._progress(text):
            return
        if text.startswith("fabu: error: ") and self.error is None:
            self.error = text[len("fabu: error: "):]
        elif text.startswith("fabu: warning: "):
            self.emit(f"warning: {text[len('fabu: warning: '):]}")
            self.active = True
        elif text.startswith("fabu-agent: error: "):
            self.agent_error = text[len("fabu-agent: error: "):]

    def _begin(self, project: str, version: str, phase: str) -> None:
        self._unexplained(None)
        self.project, self.version, self.phase, self.error = project, version, phase, None
        self.ended, self.active = False, True

    def _progress(self, text: str) -> bool:
        if match := _DEPLOYING.fullmatch(text):
            project, version, running = match.groups()
            self._begin(project, version, "pre-deploy")
            self.emit(f"deploying {project}: {'(none)' if running == 'nothing' else running} → {version}")
        elif match := _ASKED_ROLLBACK.fullmatch(text):
            project, version, reason = match.groups()
            self._begin(project, version, "rollback")
            self.emit(f"rolling back {project} to {version} (asked by the rollout"
                      f"{': ' + reason if reason else ''})")
        elif match := _RUNNING.fullmatch(text):
            self.phase = PHASE_OF_SCRIPT.get(match.group(1), self.phase)
        elif text.startswith("fabu: current -> ") and self.phase != "rollback":
            self.phase = "do-deploy"
        elif match := _INTERRUPTED.fullmatch(text):
            self.emit(f"found an interrupted deploy: {match.group(1)}")
            self.active = True
        else:
            return False
        return True

    def _outcome(self, text: str) -> bool:
        if match := _DEPLOYED.fullmatch(text):
            self.emit(f"{match.group(1)} {match.group(2)} succeeded")
        elif match := _ALREADY.fullmatch(text):
            self._begin(match.group(1), match.group(2), "pre-deploy")
            self.emit(f"{match.group(1)} already runs {match.group(2)}: nothing to do")
        elif match := _AUTO_ROLLBACK.fullmatch(text):
            project, previous, phase, reason = match.groups()
            self.emit(f"{project} {self.version} failed in {phase}: {reason}; rolling back to "
                      f"{'(none)' if previous == 'nothing' else previous}")
            self.phase = "rollback"
            self.error = None
            return True  # the rollback's own outcome follows
        elif match := _ROLLED_BACK.fullmatch(text):
            self.emit(f"{self.project} rolled back to {match.group(1)}")
        elif match := _NOT_RUNNING.fullmatch(text):
            self.emit(f"{match.group(1)} rolled back: no previous release, it is not running")
        else:
            return False
        self.ended = True
        return True

    def _unexplained(self, code: int | None) -> None:
        """Say the failure of the current project when no line said how it ended."""
        if self.ended or code in (None, 0):
            return
        self.emit(f"{self.project} {self.version} failed in {self.phase} (exit {code}): "
                  f"{self.error or 'no error message (see agent.log)'}")
        self.ended = True

    def finish(self, code: int) -> str | None:
        """End of the run: None when it did something, else the quiet line to show."""
        self._unexplained(code)
        if self.active:
            return None
        if self.agent_error:
            return f"agent error (exit {code}): {self.agent_error}"
        if code != 0:
            return f"the agent exited with code {code}{': ' + self.error if self.error else ''} (see agent.log)"
        return "polled: nothing to do"
