"""User-facing error types.

Every error a user can cause is one of these classes. They subclass
``click.ClickException`` so the CLI layer prints them and exits with their
``exit_code`` (DESIGN section 5): 2 for usage and configuration errors,
1 for runtime failures. Code outside ``sswctl/cli.py`` raises them and never
prints errors itself.
"""

from __future__ import annotations

from typing import IO

import click

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class SSWError(click.ClickException):
    """Base of every sswctl user error. Runtime failure unless a subclass says otherwise."""

    exit_code = EXIT_RUNTIME

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"sswctl: {self.format_message()}", file=file, err=file is None)


class RuntimeFailure(SSWError):
    """Something outside the user's input failed (a socket, a daemon, the kernel)."""

    exit_code = EXIT_RUNTIME


class UsageError(SSWError):
    """The user's input (arguments, files, keys) is wrong."""

    exit_code = EXIT_USAGE


class KeyFormatError(UsageError):
    """A key is not base64 of exactly 32 bytes."""


class ConfigError(UsageError):
    """A configuration file (or ``set`` argument list) is wrong at one line.

    ``str(err)`` is ``FILE:LINE: message``. For ``set`` argument lists the
    "file" is ``<args>`` and the "line" is the 1-based argument position.
    The message never contains secret values.
    """

    def __init__(self, file: str, line: int, message: str):
        self.file = file
        self.line = line
        self.reason = message
        super().__init__(f"{file}:{line}: {message}")

    def show(self, file: IO[str] | None = None) -> None:
        # Exactly FILE:LINE: message, as compilers and wg-quick users expect.
        click.echo(self.format_message(), file=file, err=file is None)
