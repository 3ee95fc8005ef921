"""The ``fabu`` command tree: the root (``base``) with every command group attached, and ``main``.

``projects`` (create, update, show, list, delete, scheduled updates, the field reference),
``controls`` (promote, pause, resume, rollback, events), ``promotion`` (promote-release),
``freeze`` (the stage's freeze, thaw), ``watch``, ``releases`` (CI uploads, the daily report),
``members`` (``fabu hosts``: a project's hosts a page at a time) and ``hosts`` (the agent, the
local stack's keys), ``audit`` (who did what, when). Exit codes: ``base``.
"""
from fabu_cli import controls, freeze, hosts, members, projects, promotion, releases
from fabu_cli.audit import audit
from fabu_cli.base import (EXIT_API, EXIT_CONNECTION, EXIT_RELEASE_FAILED, EXIT_TIMEOUT, EXIT_USAGE,
                           WATCH_EXIT, cli)
from fabu_cli.watch import watch

for _command in (projects.project, projects.show, projects.list_, projects.delete, *controls.COMMANDS,
                 *freeze.COMMANDS, watch, releases.release, releases.report, hosts.agent, hosts.local,
                 members.hosts, *promotion.COMMANDS, audit):
    cli.add_command(_command)
projects.project.add_command(members.hosts)  # also ``fabu project hosts``

__all__ = ["cli", "main", "EXIT_API", "EXIT_USAGE", "EXIT_CONNECTION", "WATCH_EXIT", "EXIT_TIMEOUT",
           "EXIT_RELEASE_FAILED"]


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="fabu")


if __name__ == "__main__":
    main()
