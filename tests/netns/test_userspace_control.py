"""Control plane of the userspace daemon: wireguard-tools' ``wg`` against our
UAPI socket, ``sswctl show`` formats against ``wg show``, bad input, and
``show all`` outliving a daemon killed between listing and reading."""

from __future__ import annotations

import errno
import glob
import os
import signal
import socket
import stat
import subprocess

import pytest
from nslab import PY, WAIT, inside, ping, wait_for

from sswctl import keys

pytestmark = [pytest.mark.root, pytest.mark.netns]

FIELDS = ("public-key", "private-key", "listen-port", "fwmark", "peers", "preshared-keys", "endpoints",
          "allowed-ips", "latest-handshakes", "transfer", "persistent-keepalive", "dump")


def run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(inside(*cmd), capture_output=True, text=True, timeout=60, input=input)
    if check:
        assert r.returncode == 0, f"{cmd}: {r.returncode} {r.stderr}"
    return r


def sswctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(PY, "-m", "sswctl", *args, check=check)


def keyfile(tmp_path, name: str, key: bytes) -> str:
    path = tmp_path / name
    path.write_text(keys.to_base64(key) + "\n")
    os.chmod(path, 0o600)
    return str(path)


def same_output(*cmds_pairs) -> None:
    """Both commands print the same text (retried: counters may tick between them)."""
    for _ in range(5):
        outs = [run(*c).stdout for c in cmds_pairs]
        if outs[0] == outs[1]:
            return
    assert outs[0] == outs[1]


@pytest.fixture
def populated(lab, tmp_path):
    """Daemon A (with the wg socket) set up by ``wg set``, in a live tunnel with daemon B."""
    a, b = lab.a, lab.b
    lab.start_daemon(a, "--wg-socket")
    lab.start_daemon(b)
    lab.configure_pair(psk=keys.generate_preshared_key())
    assert ping(a, b.tun4).returncode == 0
    extra = [keys.public_key(keys.generate_private_key()) for _ in range(3)]
    psk = keyfile(tmp_path, "psk", keys.generate_preshared_key())
    run("wg", "set", a.iface, "fwmark", "0x1234",
        "peer", keys.to_base64(extra[0]), "allowed-ips", "10.50.0.0/16,fd50::/48", "persistent-keepalive", "25",
        "endpoint", "[fd77::9]:4444",
        "peer", keys.to_base64(extra[1]), "preshared-key", psk, "endpoint", "192.168.77.9:5555",
        "peer", keys.to_base64(extra[2]))
    return lab, extra


def test_wg_show_and_sswctl_show_agree_field_for_field(populated):
    lab, extra = populated
    iface = lab.a.iface
    assert os.path.exists(f"/var/run/wireguard/{iface}.sock")
    for field in FIELDS:
        same_output(("wg", "show", iface, field), (PY, "-m", "sswctl", "show", iface, field))
    same_output(("wg", "show", iface), (PY, "-m", "sswctl", "show", iface))
    dump = run("wg", "show", iface, "dump").stdout.splitlines()
    assert len(dump) == 1 + 4
    cols = dump[0].split("\t")
    assert cols[1] == keys.to_base64(lab.a.public_key) and cols[3] == "0x1234"
    peer_b = next(line.split("\t") for line in dump[1:] if line.startswith(keys.to_base64(lab.b.public_key)))
    assert peer_b[2] == f"{lab.b.underlay4}:{51820 + lab.b.index}"
    assert int(peer_b[5]) > 0 and int(peer_b[6]) > 0 and int(peer_b[4]) > 0  # handshake, rx, tx
    # wg's own config view and ours differ only by SecureSwift's extension keys.
    ours = [ln for ln in sswctl("showconf", iface).stdout.splitlines()
            if not ln.startswith(("Protocol =", "Cipher ="))]
    assert ours == run("wg", "showconf", iface).stdout.splitlines()


def test_show_dump_takes_the_daemons_dump_and_follows_every_change(populated, tmp_path):
    """`sswctl show IFACE dump` asks the daemon for its dump (ssw_dump=1), made
    from per-peer text the daemon keeps between changes: after each kind of
    change it still equals wg's own formatting of the plain get, and the
    command ran without the CLI framework (the short path, sswctl/main.py)."""
    lab, extra = populated
    iface = lab.a.iface
    psk = keyfile(tmp_path, "psk2", keys.generate_preshared_key())
    changes = [
        ("peer", keys.to_base64(extra[0]), "allowed-ips", "10.51.0.0/16,::ffff:10.52.0.0/112"),
        ("peer", keys.to_base64(extra[1]), "preshared-key", psk, "persistent-keepalive", "9"),
        ("peer", keys.to_base64(extra[2]), "remove"),
        ("peer", keys.to_base64(extra[2]), "allowed-ips", "10.53.0.1/32", "endpoint", "192.168.77.10:6666"),
        ("private-key", keyfile(tmp_path, "priv", keys.generate_private_key()), "listen-port", "40123"),
    ]
    for change in changes:
        run("wg", "set", iface, *change)
        same_output(("wg", "show", iface, "dump"), (PY, "-m", "sswctl", "show", iface, "dump"))
        # Both of those read the kept text; the fields come from a get with
        # SecureSwift's extensions, which the daemon formats afresh every time.
        want = {}
        for col, field in ((1, "preshared-keys"), (2, "endpoints"), (7, "persistent-keepalive")):
            for line in sswctl("show", iface, field).stdout.splitlines():
                key, value = line.split("\t")
                want[key, col] = value
        for line in sswctl("show", iface, "allowed-ips").stdout.splitlines():
            key, _, nets = line.partition("\t")
            want[key, 3] = nets.replace(" ", ",")
        lines = sswctl("show", iface, "dump").stdout.splitlines()
        assert lines[0].split("\t")[:3] == [*sswctl("show", iface, "private-key").stdout.split(),
                                            *sswctl("show", iface, "public-key").stdout.split(),
                                            sswctl("show", iface, "listen-port").stdout.strip()]
        got = {(cols[0], i): cols[i] for cols in (ln.split("\t") for ln in lines[1:]) for i in (1, 2, 3, 7)}
        assert got == want, change
    dump = sswctl("show", iface, "dump").stdout
    assert "::ffff:10.52.0.0/112" in dump  # as wg prints a mapped address (inet_ntop)
    r = run(PY, "-X", "importtime", "-m", "sswctl", "show", iface, "dump")
    assert r.stdout == dump or r.stdout.split("\t")[:4] == dump.split("\t")[:4]
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "sswctl.dump" not in imported and "click" not in imported, "the dump did not take the short path"


def test_wg_set_changes_are_visible_to_sswctl_and_back(populated):
    lab, extra = populated
    iface = lab.a.iface
    run("wg", "set", iface, "peer", keys.to_base64(extra[2]), "remove")
    assert keys.to_base64(extra[2]) not in sswctl("show", iface, "peers").stdout
    sswctl("set", iface, "peer", keys.to_base64(extra[1]), "persistent-keepalive", "7", "allowed-ips", "10.60.0.1/32")
    out = run("wg", "show", iface, "persistent-keepalive").stdout
    assert f"{keys.to_base64(extra[1])}\t7" in out
    assert f"{keys.to_base64(extra[1])}\t10.60.0.1/32" in run("wg", "show", iface, "allowed-ips").stdout


def test_set_takes_the_short_path_and_wg_sees_its_changes(populated):
    """`sswctl set` on a userspace interface runs without the CLI framework
    (sswctl/main.py's short path, which test_bad_set_exits_2_and_changes_nothing
    takes too); on a name no daemon of ours serves, the full CLI answers."""
    lab, _ = populated
    iface = lab.a.iface
    key = keys.to_base64(keys.public_key(keys.generate_private_key()))

    def imported(r: subprocess.CompletedProcess) -> set[str]:
        return {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}

    r = run(PY, "-X", "importtime", "-m", "sswctl", "set", iface, "peer", key, "allowed-ips", "10.70.0.1/32",
            "persistent-keepalive", "5")
    assert "click" not in imported(r) and "sswctl.commands.set" in imported(r), "set did not take the short path"
    assert f"{key}\t10.70.0.1/32" in run("wg", "show", iface, "allowed-ips").stdout
    assert f"{key}\t5" in run("wg", "show", iface, "persistent-keepalive").stdout
    r = run(PY, "-X", "importtime", "-m", "sswctl", "set", iface, "peer", key, "remove")
    assert "click" not in imported(r) and key not in run("wg", "show", iface, "peers").stdout
    r = run(PY, "-X", "importtime", "-m", "sswctl", "set", "nonexistent0", "peer", key, "remove", check=False)
    assert r.returncode == 1 and "click" in imported(r)
    assert "Unable to access interface nonexistent0: No such device" in r.stderr


BAD_SET_ARGS = [
    ["listen-port", "99999"],
    ["fwmark", "nope"],
    ["peer", "not-a-key"],
    ["peer", keys.to_base64(b"\x01" * 32), "allowed-ips", "10.0.0.0/33"],
    ["peer", keys.to_base64(b"\x01" * 32), "endpoint", "1.2.3.4"],
    ["peer", keys.to_base64(b"\x01" * 32), "persistent-keepalive", "70000"],
    ["protocol", "wireguard", "cipher", "aes-256-gcm"],
    ["bogus"],
]


@pytest.mark.parametrize("args", BAD_SET_ARGS, ids=[" ".join(a)[:30] for a in BAD_SET_ARGS])
def test_bad_set_exits_2_and_changes_nothing(populated, args):
    lab, _ = populated
    iface = lab.a.iface
    before = run("wg", "show", iface, "dump").stdout.splitlines()[0]
    before_peers = sswctl("show", iface, "peers").stdout
    r = sswctl("set", iface, *args, check=False)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip()
    assert run("wg", "show", iface, "dump").stdout.splitlines()[0] == before
    assert sswctl("show", iface, "peers").stdout == before_peers


def test_protocol_change_refused_by_daemon_exits_2(populated):
    """A request that parses but the daemon refuses (AES in wireguard mode) is exit 2, no change."""
    lab, _ = populated
    iface = lab.a.iface
    sswctl("set", iface, "cipher", "aes-256-gcm")
    r = sswctl("set", iface, "protocol", "wireguard", check=False)
    assert r.returncode == 2, r.stderr
    st = sswctl("show", iface, "--json").stdout
    assert '"protocol": "secureswift"' in st and '"cipher": "aes-256-gcm"' in st


def test_bad_setconf_exits_2_with_file_and_line_and_changes_nothing(populated, tmp_path):
    lab, _ = populated
    iface = lab.a.iface
    conf = tmp_path / "bad.conf"
    conf.write_text("[Interface]\nListenPort = 1234\n\n[Peer]\nPublicKey = nope\n")
    before = run("wg", "show", iface, "dump").stdout
    r = sswctl("setconf", iface, str(conf), check=False)
    assert r.returncode == 2
    assert f"{conf}:5:" in r.stderr
    assert run("wg", "show", iface, "dump").stdout.split("\t")[:4] == before.split("\t")[:4]


def test_setconf_addconf_syncconf(lab, tmp_path):
    a = lab.a
    lab.start_daemon(a)
    k = [keys.public_key(keys.generate_private_key()) for _ in range(3)]
    base = tmp_path / "base.conf"
    base.write_text(
        f"[Interface]\nPrivateKey = {keys.to_base64(a.private_key)}\nListenPort = 40001\nProtocol = wireguard\n\n"
        f"[Peer]\n# Name = alpha\nPublicKey = {keys.to_base64(k[0])}\nAllowedIPs = 10.1.0.0/24\n\n"
        f"[Peer]\nPublicKey = {keys.to_base64(k[1])}\nAllowedIPs = 10.2.0.0/24\n")
    sswctl("setconf", a.iface, str(base))
    st = sswctl("show", a.iface, "--json").stdout
    assert '"protocol": "wireguard"' in st and '"name": "alpha"' in st
    assert sswctl("show", a.iface, "listen-port").stdout == "40001\n"
    add = tmp_path / "add.conf"
    add.write_text(f"[Peer]\nPublicKey = {keys.to_base64(k[2])}\nAllowedIPs = 10.3.0.0/24\n")
    sswctl("addconf", a.iface, str(add))
    assert sswctl("show", a.iface, "peers").stdout.count("\n") == 3
    # syncconf to base: k[2] goes away; the others stay.
    sswctl("syncconf", a.iface, str(base))
    peers = sswctl("show", a.iface, "peers").stdout
    assert keys.to_base64(k[2]) not in peers and peers.count("\n") == 2
    # setconf without ListenPort/PrivateKey resets them, as wg setconf.
    bare = tmp_path / "bare.conf"
    bare.write_text(f"[Peer]\nPublicKey = {keys.to_base64(k[0])}\nAllowedIPs = 10.1.0.0/24\n")
    sswctl("setconf", a.iface, str(bare))
    assert sswctl("show", a.iface, "private-key").stdout == "(none)\n"
    assert sswctl("show", a.iface, "listen-port").stdout != "40001\n"
    assert sswctl("show", a.iface, "peers").stdout == keys.to_base64(k[0]) + "\n"


def test_show_all_interfaces_and_status(populated):
    """Each namespace lists its own interfaces, and only those."""
    lab, _ = populated
    names = lab.a.run(PY, "-m", "sswctl", "show", "interfaces").stdout.split()
    assert lab.a.iface in names and lab.b.iface not in names
    dump = lab.b.run(PY, "-m", "sswctl", "show", "all", "dump").stdout
    assert any(line.startswith(lab.b.iface + "\t") for line in dump.splitlines())
    assert not any(line.startswith(lab.a.iface + "\t") for line in dump.splitlines())
    status = sswctl("status", lab.a.iface).stdout
    assert "userspace backend" in status and "1 up" in status and "3 never" in status
    r = sswctl("show", "nonexistent0", check=False)
    assert r.returncode == 1 and "nonexistent0" in r.stderr


# sswctl's real command line, with the daemon serving VICTIM (pid PID) SIGKILLed right
# after the interfaces were listed and before they are read: the race a daemon dying
# under `sswctl show all` hits, made certain.
KILL_AFTER_LISTING = """
import os, signal, sys, time
from sswctl.cli import main
from sswctl.ipc.uapi import UAPIBackend

victim, pid = sys.argv[1], int(sys.argv[2])
listed = UAPIBackend.list_devices


def list_then_kill(self):
    names = listed(self)
    if victim in names:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim in listed(self) and time.monotonic() < deadline:
            time.sleep(0.02)  # until its socket refuses connections
    return names


UAPIBackend.list_devices = list_then_kill
main(sys.argv[3:])
"""


def test_show_all_carries_on_past_a_daemon_killed_between_listing_and_reading(lab):
    from sswctl.paths import SOCK_DIR as SSW_SOCK_DIR

    ns = lab.a
    gone, kept = ns.iface + "v", ns.iface + "w"  # listed in this order
    procs = {}
    for name in (gone, kept):
        log = open(f"/tmp/{name}.daemon.log", "w")
        procs[name] = lab.popen(ns, PY, "-m", "sswctl.daemon", name, "--backend", "userspace",
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: {gone, kept} <= set(ns.run(PY, "-m", "sswctl", "show", "interfaces").stdout.split()),
                 WAIT, "both daemons listed")
        alone = ns.run(PY, "-m", "sswctl", "show", kept).stdout
        r = ns.run(PY, "-c", KILL_AFTER_LISTING, gone, str(procs[gone].pid), "show", "all", check=False)
        assert procs[gone].wait(timeout=WAIT) == -signal.SIGKILL
        # As wg show all: the other interface as shown alone, one line on stderr, status 0.
        # (Other tests' daemons on this machine may be listed too: only ours are checked.)
        assert r.returncode == 0, r.stderr
        assert alone in r.stdout and f"interface: {gone}\n" not in r.stdout
        assert f"Unable to access interface {gone}: No such device\n" in r.stderr
        assert not [ln for ln in r.stderr.splitlines() if kept in ln or "Traceback" in ln], r.stderr
        # Its socket file stays behind; listing skips it, so the plain command line does too.
        assert gone not in ns.run(PY, "-m", "sswctl", "show", "interfaces").stdout.split()
        dump = ns.run(PY, "-m", "sswctl", "show", "all", "dump").stdout.splitlines()
        assert {ln.split("\t")[0] for ln in dump} & {gone, kept} == {kept}
        # The field forms carry on too; the status is 1 only when nothing at all could be shown.
        r = ns.run(PY, "-c", KILL_AFTER_LISTING, kept, str(procs[kept].pid), "show", "all", "dump", check=False)
        assert procs[kept].wait(timeout=WAIT) == -signal.SIGKILL
        assert f"Unable to access interface {kept}: No such device\n" in r.stderr
        assert kept not in {ln.split("\t")[0] for ln in r.stdout.splitlines()}
        assert r.returncode == (0 if r.stdout else 1), r.stderr
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=WAIT)
        for name in (gone, kept):  # what SIGKILL left behind
            for path in glob.glob(os.path.join(SSW_SOCK_DIR, name + ".*")) + glob.glob(
                    os.path.join(SSW_SOCK_DIR, name + "@*")):
                os.unlink(path)


def test_uapi_socket_is_0600_and_malformed_requests_get_errno_and_change_nothing(populated):
    lab, _ = populated
    path = lab.a.socket()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = run("wg", "show", lab.a.iface, "dump").stdout

    def transact(payload: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(payload)
            out = b""
            while not out.endswith(b"\n\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out

    bad = [
        b"set=1\nlisten_port=1\npublic_key=" + b"ab" * 32 + b"\nallowed_ip=10.0.0.0/99\n\n",
        b"set=1\nprivate_key=zz\n\n",
        b"set=1\nno equals\n\n",
        b"set=1\nlisten_port=2\nbogus=1\n\n",
        b"get=1\nextra=1\n\n",
        b"set=1\n\xff\xfe=\x00\n\n",
    ]
    for payload in bad:
        reply = transact(payload)
        code = int(reply.decode().strip().split("=")[1])
        assert code in (-errno.EINVAL, -errno.EPROTO), (payload, reply)
    assert transact(b"hello\n\n") == f"errno={-errno.EPROTO}\n\n".encode()
    assert run("wg", "show", lab.a.iface, "dump").stdout.split("\n")[0] == before.split("\n")[0]
    assert run("wg", "show", lab.a.iface, "peers").stdout.count("\n") == 4
    assert transact(b"get=1\n\n").endswith(b"errno=0\n\n")


def test_wg_ignores_extension_keys_in_a_get_reply(tmp_path):
    """Why extensions are opt-in: check what the real ``wg`` does with unknown keys.

    A one-shot server at /var/run/wireguard/IFACE.sock answers ``get=1`` with
    every SecureSwift extension key mixed in; ``wg show`` must still parse it.
    (We keep extensions opt-in anyway: other UAPI clients may be stricter.)
    """
    import threading

    from sswctl.ipc.uapi_codec import encode_get
    from sswctl.model import Device, DeviceStatus, Peer, PeerStatus

    name = f"sswx{os.getpid() % 100000}"
    path = f"/var/run/wireguard/{name}.sock"
    os.makedirs("/var/run/wireguard", exist_ok=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.settimeout(30)
    srv.bind(path)
    srv.listen(4)
    dev = Device(name=name, private_key=keys.generate_private_key(), listen_port=7,
                 peers=[Peer(public_key=b"\x07" * 32, name="seven",
                             status=PeerStatus(rx_packets=1, drops={"replay": 2}))],
                 status=DeviceStatus(backend="userspace", drops={"malformed": 3}))
    reply = encode_get(dev, extensions=True).encode()
    assert b"ssw_" in reply

    def serve():
        while True:  # wg first probes with an empty connection, then asks
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                buf = b""
                while not buf.endswith(b"\n\n"):
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                if buf == b"get=1\n\n":
                    c.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = run("wg", "show", name, "dump")
        assert r.stdout.splitlines()[0].split("\t")[2] == "7"
        assert r.stdout.splitlines()[1].startswith(keys.to_base64(b"\x07" * 32))
    finally:
        os.unlink(path)
        srv.close()
