"""The `dsvm` command: its commands in sections, and the one place errors become messages and exit codes."""

from __future__ import annotations

import os
import sys
import traceback

import click

from dsvm_cli import __version__, account, admin, reports, vms
from dsvm_cli.errors import INTERRUPTED, REFUSED, CliError

SECTIONS = (
    ("VMs", ("list", "create", "show", "start", "stop", "restart", "delete", "snooze", "set", "password", "events")),
    ("Reach a VM", ("ssh", "open")),
    ("Money", ("sizes", "costs")),
    ("You", ("login", "logout", "whoami", "me")),
    ("Admins", ("tokens", "policy")),
    ("Shell", ("completion",)),
)
EPILOG = (
    "Sign in with `dsvm login`, or set DSVM_API and DSVM_TOKEN (inside the control-plane repo `make dev` "
    "is found by itself). Exit codes: 0 done, 1 the API refused or the VM failed, 2 wrong usage, "
    "3 cannot reach the API, 130 stopped waiting (the operation goes on)."
)


class Sections(click.Group):
    """Help lists the commands by what they are for, in the order a person uses them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for _, names in SECTIONS for name in names if name in self.commands]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for title, names in SECTIONS:
            rows = [(name, self.commands[name].get_short_help_str(limit=80)) for name in names if name in self.commands]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(
    cls=Sections,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="dsvm")
@click.option("--debug", is_flag=True, expose_value=False, help="Show the traceback of an error.")
def cli() -> None:
    """Create, start, stop and reach your team's Azure Data Science VMs (JupyterHub, RStudio, ssh)."""


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script.

    Add `eval "$(dsvm completion bash)"` to ~/.bashrc (zsh and fish alike).
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every choice above is one click ships
    click.echo(completer(cli, {}, "dsvm", "_DSVM_COMPLETE").source())


for command in (
    vms.list_vms,
    vms.create,
    vms.show,
    vms.start,
    vms.stop,
    vms.restart,
    vms.delete,
    vms.snooze,
    vms.set_vm,
    vms.password,
    vms.events,
    vms.ssh,
    vms.open_app,
    reports.sizes,
    reports.costs,
    account.login,
    account.logout,
    account.whoami,
    account.me,
    admin.tokens,
    admin.policy,
):
    cli.add_command(command)


def report(error: CliError) -> None:
    for index, line in enumerate(error.lines()):
        click.echo(click.style(line, fg="red", bold=True) if index == 0 else line, err=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("DSVM_DEBUG", "").lower() in ("1", "true", "yes")
    try:
        result = cli.main(args, prog_name="dsvm", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except CliError as error:
        if debug:
            traceback.print_exc()
        report(error)
        return error.code
    except click.ClickException as error:
        if debug:
            traceback.print_exc()
        error.show()
        return error.exit_code
    except click.Abort as abort:
        # click turns Ctrl-C (and end of input) at a prompt into Abort.
        click.echo("Aborted.", err=True)
        return INTERRUPTED if isinstance(abort.__context__, KeyboardInterrupt) else REFUSED
    except BrokenPipeError:
        # The reader went away (`dsvm list | head`): nothing left to say to anyone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return REFUSED
    except Exception as error:
        if debug:
            traceback.print_exc()
        report(
            CliError(
                f"dsvm failed unexpectedly: {type(error).__name__}: {error}",
                "Run it again with --debug to see where, and tell the control plane team.",
            )
        )
        return REFUSED
