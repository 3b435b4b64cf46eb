"""User-facing error types.

Every error a user can cause is one of these classes: plain exceptions that
carry their exit code and import nothing of the CLI framework, so pure
modules (config, keys, quick) raise them freely. 2 is for usage and
configuration errors, 1 for runtime failures (README, "Quick start").
Code outside ``sswctl/cli.py`` raises them and never prints errors itself;
``cli.py`` prints ``sswctl: message`` (a ConfigError as ``FILE:LINE:
message``) on stderr and exits with ``exit_code``. Transport errors
(:class:`sswctl.ipc.IPCError`) are mapped there too.
"""

from __future__ import annotations

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class SSWError(Exception):
    """Base of every sswctl user error. Runtime failure unless a subclass says otherwise."""

    exit_code = EXIT_RUNTIME


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

    ``str(err)`` is ``FILE:LINE: message``, printed as it is (as compilers
    and wg-quick users expect). For ``set`` argument lists the "file" is
    ``<args>`` and the "line" is the 1-based argument position. The message
    never contains secret values.
    """

    def __init__(self, file: str, line: int, message: str):
        self.file = file
        self.line = line
        self.reason = message
        super().__init__(f"{file}:{line}: {message}")
