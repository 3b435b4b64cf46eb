"""User-facing error types.

Every error a user can cause is one of these classes: plain exceptions that
carry their exit code and import nothing of the CLI framework, so pure
modules (config, keys, quick) raise them freely. 2 is for usage and
configuration errors, 1 for runtime failures (README, "Quick start").
Code raises them and never prints errors itself: :func:`failure` maps one
(and a transport's :class:`sswctl.ipc.IPCError`) to what the user sees,
``sswctl: message`` (a ConfigError as ``FILE:LINE: message``) and the exit
code, which ``sswctl/cli.py`` prints and exits with (as do sswctl/main.py's
short paths, which run without click).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (sswctl/main.py's short paths)
if TYPE_CHECKING:
    from .ipc import IPCError

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


def failure(e: SSWError | IPCError) -> tuple[str, int]:
    """The one mapping of errors to what the user sees: (stderr line, exit code).

    A ConfigError prints as ``FILE:LINE: message``, everything else as
    ``sswctl: message``. A transport error is a runtime failure (1) unless the
    backend refused the request's content (:class:`~sswctl.ipc.RequestRefused`, 2).
    """
    # Imported here: the pure modules raising this module's errors need nothing of the transports.
    from .ipc import IPCError, RequestRefused

    if isinstance(e, IPCError):
        return f"sswctl: {e}", EXIT_USAGE if isinstance(e, RequestRefused) else EXIT_RUNTIME
    return (str(e) if isinstance(e, ConfigError) else f"sswctl: {e}"), e.exit_code
