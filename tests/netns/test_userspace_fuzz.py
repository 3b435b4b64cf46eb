"""Malformed input never kills the daemon or changes it, and never makes the
CLI print a traceback.

A real userspace daemon serves its UAPI socket; hypothesis writes requests
line by line from the protocol's keys with hostile values (numbers of
thousands of digits, wrong-length keys, junk, non-UTF-8, lines without '=').
Every request gets an ``errno=`` reply; a refused one leaves the
configuration exactly as it was; the daemon is alive at the end and logged
no traceback. Then `sswctl setconf` (in-process, through the click CLI) reads
generated config files into the same daemon: exit 0 or 2, and a 2 names
``FILE:LINE``. Endpoints are IP literals on loopback or junk that cannot be a
host name, so nothing is looked up or sent off the machine.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nslab import PY, inside, wait_for_socket

from sswctl.cli import cli
from sswctl.ipc.uapi_codec import decode_get
from tests.conftest import in_netns

pytestmark = [pytest.mark.root, pytest.mark.netns]

HYP = settings(max_examples=int(os.environ.get("SSW_FUZZ_EXAMPLES", "150")), deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(0, 2**70).map(str),
    st.integers(4290, 6000).map(lambda n: "9" * n),  # past int()'s 4,300-digit limit
    st.integers(1, 5000).map(lambda n: "0" * n + "1"),
    st.sampled_from(["-1", "+1", "0x10", "1e3", " 1", "١٢", ""]),
)
junk = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=40)
hex_keys = st.one_of(st.binary(min_size=32, max_size=32).map(bytes.hex), st.binary(max_size=40).map(bytes.hex))
endpoint_junk = st.text("0123456789:[]./%", max_size=30)
uapi_value = {
    "private_key": hex_keys, "listen_port": numbers, "fwmark": numbers, "replace_peers": junk,
    "ssw_protocol": st.sampled_from(["secureswift", "wireguard", "ipsec", ""]),
    "ssw_cipher": st.sampled_from(["chacha20-poly1305", "aes-256-gcm", "rot13"]),
    "public_key": hex_keys, "remove": st.sampled_from(["true", "false", ""]),
    "update_only": st.sampled_from(["true", "1"]), "preshared_key": hex_keys,
    "endpoint": st.one_of(st.builds(lambda p: f"127.0.0.1:{p}", numbers),
                          st.builds(lambda p: f"[::1]:{p}", numbers), endpoint_junk),
    "persistent_keepalive_interval": numbers, "replace_allowed_ips": st.sampled_from(["true", "yes"]),
    "allowed_ip": st.one_of(st.builds(lambda p: f"10.0.0.0/{p}", numbers),
                            st.builds(lambda p: f"fd00::/{p}", numbers), endpoint_junk),
    "protocol_version": numbers, "ssw_name": junk,
}
uapi_line = st.one_of(
    st.sampled_from(sorted(uapi_value)).flatmap(lambda k: uapi_value[k].map(lambda v: f"{k}={v}".encode())),
    junk.map(str.encode),  # usually no '='
    st.binary(max_size=20).filter(lambda b: b"\n" not in b),
)
# Well-formed lines, so that the hostile line after them is reached.
good_line = st.one_of(
    st.integers(0, 65535).map(lambda n: f"listen_port={n}"),
    st.binary(min_size=32, max_size=32).map(lambda k: f"public_key={k.hex()}\nallowed_ip=10.9.0.0/16"),
    st.just("replace_peers=true"),
).map(str.encode)
numeric = st.sampled_from(["listen_port", "fwmark", "persistent_keepalive_interval", "endpoint", "allowed_ip"])
peer_prefix = b"public_key=" + b"33" * 32
hostile_number = st.tuples(numeric, st.integers(4301, 6000)).map(
    lambda kn: (peer_prefix + b"\n" if kn[0] not in ("listen_port", "fwmark") else b"")
    + {"endpoint": b"endpoint=127.0.0.1:", "allowed_ip": b"allowed_ip=10.0.0.0/"}.get(kn[0], kn[0].encode() + b"=")
    + b"9" * kn[1])
# No empty line: a blank line ends a request, and each example is one request.
uapi_request = st.one_of(
    st.lists(uapi_line.filter(bool), max_size=8),
    st.tuples(st.lists(good_line, max_size=3), hostile_number).map(lambda t: [*t[0], t[1]]),
).map(lambda lines: b"set=1\n" + b"".join(x + b"\n" for x in lines) + b"\n")


def exchange(path: str, request: bytes) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(request)
        buf = b""
        while not (buf.endswith(b"\n\n") and b"errno=" in buf):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.decode()


def configuration(path: str):
    """What a set may change: the device as a get reports it, without its runtime state."""
    dev = decode_get(exchange(path, b"get=1\nssw_extensions=1\n\n"))
    return dev.replace(status=None, peers=[p.replace(status=None) for p in dev.peers])


@pytest.fixture
def daemon(lab):
    a = lab.a
    log = open(f"/tmp/{a.iface}.daemon.log", "w")
    a.proc = lab.popen(a, PY, "-m", "sswctl.daemon", a.iface, "--backend", "userspace",
                       stdout=log, stderr=subprocess.STDOUT)
    wait_for_socket(a, a.proc)
    yield a
    assert a.proc.poll() is None, "the daemon died"
    assert "Traceback" not in open(f"/tmp/{a.iface}.daemon.log").read()


def test_every_malformed_uapi_set_gets_an_errno_and_changes_nothing(daemon):
    path = daemon.socket()
    counts = {"refused": 0, "applied": 0}

    @HYP
    @given(request=uapi_request)
    def run(request):
        before = configuration(path)
        reply = exchange(path, request)
        assert daemon.proc.poll() is None, f"daemon died on {request[:200]!r}"
        last = reply.rstrip("\n").rsplit("\n", 1)[-1]
        assert reply.endswith("\n\n") and last.startswith("errno="), reply[:200]
        if last != "errno=0":
            counts["refused"] += 1
            assert configuration(path) == before
        else:
            counts["applied"] += 1

    run()
    # The regression that killed the daemon: one request, then still serving.
    huge = b"set=1\nlisten_port=" + b"9" * 5000 + b"\n\n"
    assert exchange(path, huge) == f"errno=-{errno.EINVAL}\n\n"  # negative, as wireguard-go
    assert counts["refused"] > 0 and counts["applied"] > 0, counts


section = st.sampled_from(["[Interface]", "[Peer]", "[interface]", "[Peer", "[]"])
conf_value = {
    "PrivateKey": st.sampled_from(["ERERERERERERERERERERERERERERERERERERERERERE=", "short=", ""]),
    "ListenPort": numbers, "FwMark": st.one_of(numbers, numbers.map(lambda n: "0x" + n)),
    "Protocol": st.sampled_from(["secureswift", "wireguard", "x"]),
    "Cipher": st.sampled_from(["aes-256-gcm", "chacha20-poly1305", "x"]),
    "PublicKey": st.sampled_from(["IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=",
                                  "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=", "AAAA", ""]),
    "PresharedKey": st.sampled_from(["RERERERERERERERERERERERERERERERERERERERERERE=", "x"]),
    "Endpoint": uapi_value["endpoint"], "AllowedIPs": uapi_value["allowed_ip"],
    "PersistentKeepalive": numbers, "MTU": numbers, "Table": numbers, "Address": uapi_value["allowed_ip"],
}
conf_line = st.one_of(
    section,
    st.sampled_from(sorted(conf_value)).flatmap(lambda k: conf_value[k].map(lambda v: f"{k} = {v}")),
    junk,
)
hostile_conf = st.tuples(
    st.sampled_from(["[Interface]\nListenPort = ", "[Interface]\nFwMark = ",
                     "[Peer]\nPublicKey = IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\nPersistentKeepalive = ",
                     "[Peer]\nPublicKey = IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\nEndpoint = 127.0.0.1:",
                     "[Peer]\nPublicKey = IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\nAllowedIPs = 10.0.0.0/"]),
    st.integers(4301, 6000)).map(lambda t: "[Interface]\nListenPort = 51000\n" + t[0] + "9" * t[1])
conf_file = st.one_of(
    st.lists(conf_line, max_size=10).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")),
    hostile_conf.map(str.encode),
    st.binary(max_size=60),
)


def test_setconf_of_any_file_exits_0_or_2_naming_the_line(daemon, tmp_path):
    runner = CliRunner()
    conf = tmp_path / "fuzz.conf"
    seen = set()

    @HYP
    @given(data=conf_file)
    def run(data):
        conf.write_bytes(data)
        r = runner.invoke(cli, ["setconf", daemon.iface, str(conf)])
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise AssertionError(f"uncaught {type(r.exception).__name__} for {data[:200]!r}") from r.exception
        assert r.exit_code in (0, 2), (r.exit_code, r.output[:300], data[:200])
        if r.exit_code == 2:
            assert f"{conf}:" in r.output and "Traceback" not in r.output, r.output[:300]
        seen.add(r.exit_code)

    with in_netns(daemon.ns):  # sswctl finds the daemons of the namespace it runs in
        run()
    assert seen == {0, 2}
    # The reported case, as a user runs it: a file:line error, exit 2, no traceback.
    conf.write_text("[Interface]\nListenPort = " + "9" * 5000 + "\n")
    r = subprocess.run(inside(sys.executable, "-m", "sswctl", "setconf", daemon.iface, str(conf)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and f"{conf}:2: " in r.stderr and "Traceback" not in r.stderr, r.stderr[:300]
