"""One module per sswctl subcommand: plain functions that know nothing of click.

Each module defines ``COMMAND``, a :class:`Command` naming its arguments and
the function to run. ``sswctl/cli.py`` turns every registered ``COMMAND`` into
a click command; adding a subcommand is one module here plus one line in
``cli.py``'s ``COMMANDS`` list.

The function receives the parameters as keyword arguments and returns the text
to print on stdout (or None), or an :class:`Output` when it also has lines for
stderr or an exit status of its own (``show all`` with one interface gone). Errors are raised as :mod:`sswctl.errors`
classes (or come up from the transports as :class:`sswctl.ipc.IPCError`);
``cli.py`` prints them and sets the exit code, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Param:
    """One argument or option.

    ``flags`` empty means a positional argument named ``name``; otherwise an
    option such as ``("--json",)``. ``kind`` is "str", "int", "flag" (boolean
    option), "input" (a file name, ``-`` for stdin; the function receives the
    file's bytes) or "rest" (every remaining argument, unparsed, as wg's
    ``set`` needs).
    """

    name: str
    flags: tuple[str, ...] = ()
    kind: str = "str"
    help: str = ""
    required: bool = True
    default: object = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


@dataclass(frozen=True)
class Output:
    """``text`` for stdout, then each of ``warnings`` as a line on stderr, then exit ``status``."""

    text: str = ""
    warnings: tuple[str, ...] = ()
    status: int = 0


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[..., str | Output | None]
    help: str
    params: tuple[Param, ...] = field(default_factory=tuple)
    # Writes secrets to stdout: warn when stdout is a file others may read (as wg genkey).
    secret_output: bool = False
