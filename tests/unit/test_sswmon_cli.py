"""sswmon's reading of real backends (through ControlBackend) and its command line:
interface lookup, not-found and access-denied errors, exit codes, output modes."""

from __future__ import annotations

import errno
import json

import pytest
from click.testing import CliRunner

from sswctl.ipc import ControlBackend, IPCError
from sswctl.model import Device, DeviceStatus, Peer, PeerStatus
from sswmon import cli, source
from sswmon.source import AccessDenied, BackendSource, InterfaceNotFound
from sswmon.stats import Snapshot

KEY = bytes([7]) * 32


class DictBackend(ControlBackend):
    """A ControlBackend over a dict: stands in for a transport in these tests."""

    def __init__(
        self,
        kind: str,
        devices: dict[str, Device],
        list_error: Exception | None = None,
        get_errors: dict[str, IPCError] | None = None,
    ):
        self.kind = kind
        self.devices = devices
        self.list_error = list_error
        self.get_errors = get_errors or {}

    def list_devices(self) -> list[str]:
        if self.list_error:
            raise self.list_error
        return list(self.devices)

    def get_device(self, name: str) -> Device:
        if name in self.get_errors:
            raise self.get_errors[name]
        if name not in self.devices:
            raise IPCError(f"{name}: gone", errno.ENODEV)
        return self.devices[name]

    def set_device(self, device: Device) -> None:
        raise AssertionError("sswmon never writes")


def _dev(name: str, rx: int = 0) -> Device:
    return Device(name=name, listen_port=51820, peers=[Peer(KEY, name="p", status=PeerStatus(rx_bytes=rx))],
                  status=DeviceStatus())


def test_named_interface_comes_from_the_first_backend_that_lists_it():
    kernel = DictBackend("kernel", {"ssw0": _dev("ssw0", rx=1)})
    user = DictBackend("userspace", {"ssw0": _dev("ssw0", rx=2), "ssw1": _dev("ssw1")})
    snap = BackendSource("ssw0", [kernel, user], wall=lambda: 5.0, mono=lambda: 6.0).check()
    assert (snap.wall, snap.mono) == (5.0, 6.0)
    (dev,) = snap.devices
    assert dev.status.backend == "kernel" and dev.peers[0].status.rx_bytes == 1


def test_all_lists_every_backend_once():
    kernel = DictBackend("kernel", {"ssw0": _dev("ssw0")})
    user = DictBackend("userspace", {"ssw0": _dev("ssw0"), "ssw1": _dev("ssw1")})
    snap = BackendSource("all", [kernel, user]).check()
    assert [(d.name, d.status.backend) for d in snap.devices] == [("ssw0", "kernel"), ("ssw1", "userspace")]


def test_missing_interface_raises_not_found_in_check_but_is_recorded_by_snapshot():
    src = BackendSource("ssw9", [DictBackend("userspace", {"ssw0": _dev("ssw0")})])
    with pytest.raises(InterfaceNotFound, match="ssw9: no such SecureSwift interface"):
        src.check()
    snap = src.snapshot()
    assert snap.devices == [] and "no such" in snap.errors["ssw9"]


def test_unreadable_socket_directory_is_access_denied():
    denied = PermissionError(errno.EACCES, "Permission denied", "/var/run/secureswift")
    src = BackendSource("ssw0", [DictBackend("userspace", {}, list_error=denied)])
    with pytest.raises(AccessDenied, match="/var/run/secureswift: permission denied"):
        src.check()


def test_read_errors_map_by_errno():
    devices = {"a": _dev("a"), "b": _dev("b"), "c": _dev("c")}
    errs = {"a": IPCError("x", errno.EACCES), "b": IPCError("x", errno.ECONNREFUSED), "c": IPCError("boom", errno.EIO)}
    snap = BackendSource("all", [DictBackend("userspace", devices, get_errors=errs)]).snapshot()
    assert "permission denied" in snap.errors["a"]
    assert "no such SecureSwift interface" in snap.errors["b"]
    assert snap.errors["c"] == "c: boom"


@pytest.fixture
def backends(monkeypatch):
    """Make the CLI read these backends instead of the machine's."""
    chosen: list[ControlBackend] = []
    monkeypatch.setattr(source, "available_backends", lambda: chosen)
    return chosen


def test_cli_not_found_exit_code_and_message(backends):
    backends.append(DictBackend("userspace", {}))
    result = CliRunner().invoke(cli.command, ["--once", "ssw9"])
    assert result.exit_code == 1
    assert "sswmon: ssw9: no such SecureSwift interface" in result.output


def test_cli_access_denied_exit_code_and_message(backends):
    backends.append(DictBackend("userspace", {}, list_error=PermissionError(errno.EACCES, "denied", "/run/x")))
    result = CliRunner().invoke(cli.command, ["--once", "--json", "ssw0"])
    assert result.exit_code == 1
    assert "sswmon: /run/x: permission denied" in result.output


def test_cli_on_a_terminal_starts_the_dashboard_after_checking_the_interface(backends, monkeypatch):
    backends.append(DictBackend("userspace", {"ssw0": _dev("ssw0")}))
    monkeypatch.setattr(cli, "stdout_is_terminal", lambda: True)
    started = []
    monkeypatch.setattr(cli, "run_dashboard", lambda src, interval: started.append((src.target, interval)))
    assert CliRunner().invoke(cli.command, ["-r", "2.5", "ssw9"]).exit_code == 1
    assert started == []
    result = CliRunner().invoke(cli.command, ["-r", "2.5", "ssw0"])
    assert result.exit_code == 0, result.output
    assert started == [("ssw0", 2.5)]


def test_cli_once_all_prints_what_it_can_then_exits_1_naming_the_failures(backends):
    devices = {"ssw0": _dev("ssw0", rx=5), "ssw1": _dev("ssw1")}
    backends.append(DictBackend("userspace", devices, get_errors={"ssw1": IPCError("stale", errno.ECONNREFUSED)}))
    result = CliRunner().invoke(cli.command, ["--once", "--json", "all"])
    assert result.exit_code == 1
    body, _, tail = result.output.rpartition("}\n")  # stdout (the document), then stderr
    doc = json.loads(body + "}")
    assert [i["name"] for i in doc["interfaces"]] == ["ssw0"]
    assert "no such SecureSwift interface" in doc["errors"]["ssw1"]
    assert tail == "sswmon: could not read ssw1\n"


def test_cli_once_json(backends):
    backends.append(DictBackend("userspace", {"ssw0": _dev("ssw0", rx=1234)}))
    result = CliRunner().invoke(cli.command, ["--once", "--json", "ssw0"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["interfaces"][0]["peers"][0]["rx_bytes"] == 1234
    assert doc["interfaces"][0]["backend"] == "userspace"


def test_cli_not_a_tty_prints_plain_text_snapshot(backends):
    backends.append(DictBackend("userspace", {"ssw0": _dev("ssw0", rx=2048)}))
    result = CliRunner().invoke(cli.command, ["ssw0"])  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    assert "interface: ssw0 (userspace" in result.output
    assert "2.00 KiB" in result.output and "never" in result.output
    assert "\x1b[" not in result.output


def test_text_colour_only_on_a_terminal_without_no_color(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.use_colour(Tty()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.use_colour(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    assert cli.use_colour(object()) is False


def test_text_snapshot_marks_stale_handshakes_without_relying_on_colour():
    src_dev = Device(name="ssw0", peers=[Peer(KEY, name="old", status=PeerStatus(last_handshake=1000.0))],
                     status=DeviceStatus())
    text = cli.format_text(Snapshot(1000.0 + 600, 0.0, [src_dev]), colour=False)
    assert "10m00s!" in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--json"], "--json needs --once"), (["--once", "--prometheus", "9586"], "different modes")],
)
def test_cli_usage_errors_exit_2(backends, args, fragment):
    result = CliRunner().invoke(cli.command, args)
    assert result.exit_code == 2 and fragment in result.output


def test_cli_bad_prometheus_address_is_a_usage_error(backends):
    backends.append(DictBackend("userspace", {"ssw0": _dev("ssw0")}))
    result = CliRunner().invoke(cli.command, ["--prometheus", "nope:port", "ssw0"])
    assert result.exit_code == 2 and "invalid port" in result.output
