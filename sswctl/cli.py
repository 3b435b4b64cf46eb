"""The sswctl command line: a thin click layer over :mod:`sswctl.commands`.

To add a subcommand: write ``sswctl/commands/NAME.py`` with a ``COMMAND`` and
add its module name to ``COMMANDS`` below (one line). A module serving several
subcommands (``setconf``: setconf, addconf, syncconf, as wireguard-tools'
setconf.c) has a ``COMMANDS`` dict instead, and each name is listed in
``COMMANDS`` here with that module in ``MODULE_OF``.

This is where errors become output and exit codes (with :func:`sswctl.errors.failure`,
the one mapping, which sswctl/main.py's click-free short paths use too):
commands raise :mod:`sswctl.errors` classes, the control transports
:class:`sswctl.ipc.IPCError`, and nothing below this layer prints them.
"""

from __future__ import annotations

import importlib
import sys

import click

from . import __version__, keys
from .commands import Command, Output, Param
from .errors import SSWError, failure
from .ipc import IPCError

COMMANDS = [
    "genkey",
    "genpsk",
    "pubkey",
    "strip",
    "up",
    "down",
    "save",
    "init",
    "create",
    "destroy",
    "daemon",
    "set",
    "setconf",
    "addconf",
    "syncconf",
    "showconf",
    "show",
    "status",
    # other engineers: one line per command module, e.g. "show",
]
# Subcommands whose module is not named after them.
MODULE_OF = {"addconf": "setconf", "syncconf": "setconf"}

_TYPES = {"str": click.STRING, "int": click.INT, "input": click.File("rb")}


def _click_param(p: Param) -> click.Parameter:
    if p.kind == "rest":
        return click.Argument([p.name], nargs=-1, type=click.UNPROCESSED, metavar=p.metavar)
    if p.kind == "flag":
        return click.Option([*p.flags, p.name], is_flag=True, default=bool(p.default), help=p.help)
    extra: dict[str, object] = {"metavar": p.metavar, "required": p.required}
    extra["type"] = click.Choice(p.choices) if p.choices else _TYPES[p.kind]
    if p.default is not None:  # click 8.3 treats an explicit default=None as a real default
        extra["default"] = p.default
    if not p.flags:
        return click.Argument([p.name], **extra)
    return click.Option([*p.flags, p.name], help=p.help, **extra)


def _warn_if_world_accessible() -> None:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (e.g. under click's test runner)
    if keys.is_world_accessible(fd):
        click.echo(
            "Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.", err=True
        )


def _click_command(cmd: Command) -> click.Command:
    def callback(**kwargs: object) -> None:
        for p in cmd.params:
            if p.kind == "input":
                with kwargs[p.name] as f:  # type: ignore[attr-defined]
                    kwargs[p.name] = f.read()
        if cmd.secret_output:
            _warn_if_world_accessible()
        try:
            out = cmd.run(**kwargs)
        except (SSWError, IPCError) as e:
            message, code = failure(e)
            click.echo(message, err=True)
            raise click.exceptions.Exit(code) from None
        if isinstance(out, Output):
            if out.text:
                click.echo(out.text, nl=False)
            for line in out.warnings:
                click.echo(line, err=True)
            if out.status:
                raise click.exceptions.Exit(out.status)
        elif out:
            click.echo(out, nl=False)

    rest = any(p.kind == "rest" for p in cmd.params)
    return click.Command(
        cmd.name,
        callback=callback,
        params=[_click_param(p) for p in cmd.params],
        help=cmd.help,
        context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False} if rest else None,
    )


class _LazyGroup(click.Group):
    """Imports a command's module only when that command is used (or help lists it).

    So ``sswctl genkey`` never pays for importing the daemon, and one command's
    import problem cannot break the others.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            module = importlib.import_module(f"{__package__}.commands.{MODULE_OF.get(cmd_name, cmd_name)}")
            command = module.COMMANDS[cmd_name] if hasattr(module, "COMMANDS") else module.COMMAND
            self.add_command(_click_command(command), cmd_name)
        return self.commands[cmd_name]


def build_cli() -> click.Group:
    group = _LazyGroup(
        "sswctl",
        help="SecureSwift VPN control tool (WireGuard-compatible keys and configs).",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    click.version_option(__version__, "--version", prog_name="sswctl")(group)
    return group


cli = build_cli()


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error."""
    # click's standalone mode already ends quietly with 1 when stdout's reader is gone (EPIPE).
    cli.main(args=argv, prog_name="sswctl", standalone_mode=True)
