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

# Named tuples, not dataclasses: importing dataclasses (it loads inspect) would be a
# large part of `sswctl set`'s short path (sswctl/main.py), which imports commands.set.
from collections import namedtuple
from collections.abc import Callable


class Param(namedtuple("Param", "name flags kind help required default choices metavar",
                       defaults=((), "str", "", True, None, None, None))):
    """One argument or option.

    ``flags`` empty means a positional argument named ``name``; otherwise an
    option such as ``("--json",)``. ``kind`` is "str", "int", "flag" (boolean
    option), "input" (a file name, ``-`` for stdin; the function receives the
    file's bytes) or "rest" (every remaining argument, unparsed, as wg's
    ``set`` needs). ``required`` (default True), ``default``, ``choices`` (a
    tuple of str) and ``metavar`` as click's.
    """

    __slots__ = ()
    name: str
    flags: tuple[str, ...]
    kind: str
    help: str
    required: bool
    default: object
    choices: tuple[str, ...] | None
    metavar: str | None


class Output(namedtuple("Output", "text warnings status", defaults=("", (), 0))):
    """``text`` for stdout, then each of ``warnings`` as a line on stderr, then exit ``status``."""

    __slots__ = ()
    text: str
    warnings: tuple[str, ...]
    status: int


class Command(namedtuple("Command", "name run help params secret_output", defaults=((), False))):
    """A subcommand: its ``name``, the function to ``run``, its ``help`` and ``params``
    (a tuple of :class:`Param`); ``secret_output``: it writes secrets to stdout, so warn
    when stdout is a file others may read (as wg genkey)."""

    __slots__ = ()
    name: str
    run: Callable[..., str | Output | None]
    help: str
    params: tuple[Param, ...]
    secret_output: bool
