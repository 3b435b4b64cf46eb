"""The click layer: registration, version, help, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

import sswctl
from sswctl import cli as cli_module
from sswctl.cli import cli


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output == f"sswctl, version {sswctl.__version__}\n"


def test_every_registered_command_is_listed_in_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in cli_module.COMMANDS:
        assert name in result.output


def test_every_registered_command_module_loads_under_its_name():
    """Commands load lazily, so this is where a broken or misnamed module shows up."""
    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == sorted(cli_module.COMMANDS)
        for name in cli_module.COMMANDS:
            command = cli.get_command(ctx, name)
            assert command is not None and command.name == name


def test_a_simple_command_does_not_import_the_daemon():
    report = "sys.stderr.write(' '.join(sorted(m for m in sys.modules if m.startswith(('sswctl', 'pyroute2')))))"
    code = f"import atexit, sys\natexit.register(lambda: {report})\nfrom sswctl.cli import main\nmain(['genkey'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stderr.split()
    assert "sswctl.commands.genkey" in loaded
    assert not [m for m in loaded if m.startswith(("sswctl.daemon", "pyroute2"))], loaded


def test_unknown_command_and_bad_usage_exit_2():
    assert CliRunner().invoke(cli, ["frobnicate"]).exit_code == 2
    assert CliRunner().invoke(cli, ["strip"]).exit_code == 2  # missing FILE
    assert CliRunner().invoke(cli, ["genkey", "extra"]).exit_code == 2


def test_console_script_and_module_entry_agree():
    script = Path(sys.executable).parent / "sswctl"  # installed by pip install -e .
    exe = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    mod = subprocess.run([sys.executable, "-m", "sswctl", "--version"], capture_output=True, text=True)
    assert exe.returncode == mod.returncode == 0
    assert exe.stdout == mod.stdout


def test_control_transport_failure_exits_1_with_message():
    from sswctl.commands import Command
    from sswctl.ipc import IPCError

    def run() -> str:
        raise IPCError("cannot reach the daemon for ssw9: No such file or directory", errno=2)

    command = cli_module._click_command(Command(name="probe", run=run, help="raises IPCError"))
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 1
    assert result.output == "sswctl: cannot reach the daemon for ssw9: No such file or directory\n"


def test_closed_stdout_pipe_ends_quietly():
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails with EPIPE
    try:
        proc = subprocess.run([sys.executable, "-m", "sswctl", "genkey"], stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr
