"""Properties of the parser and writer, checked with hypothesis.

- Round trip: any valid Device and QuickSettings written canonically parse back equal.
- Fuzz: mutated corpus configs and random bytes raise nothing but ConfigError,
  and whatever they parse to also round-trips.
"""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sswctl import config
from sswctl.errors import ConfigError
from sswctl.model import Cipher, Device, Endpoint, Peer, Protocol, QuickSettings
from tests.conftest import DATA

CORPUS_TEXTS = [p.read_bytes() for p in sorted((DATA / "configs").glob("*.conf"))]

keys32 = st.binary(min_size=32, max_size=32)
label = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
hostname = st.lists(label, min_size=1, max_size=4).map(".".join)
ip_text = st.ip_addresses().map(str)
safe_text = (
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="#\x7f"), min_size=1)
    .map(lambda s: s.strip(config.SPACE))
    .filter(bool)
)
name_text = (
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), min_size=1)
    .map(lambda s: s.strip(config.SPACE))
    .filter(bool)
)


@st.composite
def networks(draw):
    addr = draw(st.ip_addresses())
    return ipaddress.ip_network((addr, draw(st.integers(0, addr.max_prefixlen))), strict=False)


@st.composite
def interfaces(draw):
    addr = draw(st.ip_addresses())
    return ipaddress.ip_interface((addr, draw(st.integers(0, addr.max_prefixlen))))


@st.composite
def peers(draw, public_key):
    return Peer(
        public_key=public_key,
        preshared_key=draw(st.none() | keys32),
        endpoint=draw(st.none() | st.builds(Endpoint, ip_text | hostname, st.integers(1, 65535))),
        allowed_ips=draw(st.lists(networks(), max_size=5)),
        persistent_keepalive=draw(st.none() | st.integers(0, 65535)),
        name=draw(st.none() | name_text),
        replace_allowed_ips=True,
    )


@st.composite
def devices(draw):
    protocol = draw(st.none() | st.sampled_from(Protocol))
    ciphers = [Cipher.CHACHA20_POLY1305] if protocol is Protocol.WIREGUARD else list(Cipher)
    public_keys = draw(st.lists(keys32, unique=True, max_size=4))
    return Device(
        private_key=draw(st.none() | keys32),
        listen_port=draw(st.none() | st.integers(0, 65535)),
        fwmark=draw(st.none() | st.integers(0, 2**32 - 1)),
        protocol=protocol,
        cipher=draw(st.none() | st.sampled_from(ciphers)),
        peers=[draw(peers(k)) for k in public_keys],
    )


@st.composite
def quick_settings(draw):
    return QuickSettings(
        addresses=draw(st.lists(interfaces(), max_size=4)),
        dns=draw(st.lists(ip_text | hostname, max_size=4)),
        mtu=draw(st.none() | st.integers(68, 65535)),
        table=draw(st.none() | st.sampled_from(["auto", "off", "main"]) | st.integers(0, 2**32 - 1).map(str)),
        pre_up=draw(st.lists(safe_text, max_size=2)),
        post_up=draw(st.lists(safe_text, max_size=2)),
        pre_down=draw(st.lists(safe_text, max_size=2)),
        post_down=draw(st.lists(safe_text, max_size=2)),
        save_config=draw(st.none() | st.booleans()),
    )


# Generation speed and per-example time depend on what else the machine runs
# (CI shares its cores with QEMU); they say nothing about the parser.
SHARED_MACHINE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SHARED_MACHINE
@given(devices(), quick_settings())
def test_written_config_parses_back_equal(device, quick):
    text = config.write_config(device, quick)
    assert config.parse_quick(text, "rt.conf") == (device, quick)
    assert config.parse_config(text, "rt.conf") == device


@SHARED_MACHINE
@given(devices(), quick_settings())
def test_stripped_config_parses_in_setconf_mode_to_the_wg_part(device, quick):
    wg_part = config.parse_config(config.write_config(device, quick), "full.conf")
    parsed = config.parse_config(config.strip_config(wg_part), "strip.conf", config.SETCONF)
    assert parsed.peers == device.peers
    assert (parsed.private_key, parsed.listen_port, parsed.fwmark) == (
        device.private_key,
        device.listen_port,
        device.fwmark,
    )
    assert parsed.protocol is None and parsed.cipher is None


INTERESTING = "=[]#,:/.\r\n\t -0123456789abcdefxAZ+%\x00\x0b\x0c\xe9\u2028"


@st.composite
def mutated_configs(draw):
    data = bytearray(draw(st.sampled_from(CORPUS_TEXTS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "dup_line", "swap_lines", "truncate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "insert":
            data[pos:pos] = draw(st.text(alphabet=INTERESTING, min_size=1, max_size=8)).encode()
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op in ("dup_line", "swap_lines"):
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def parse_only_config_errors(data: bytes, mode: str) -> None:
    try:
        device = config.parse_config(config.decode_config(data, "fuzz.conf"), "fuzz.conf", mode)
    except ConfigError as e:
        assert e.file == "fuzz.conf" and e.line >= 1 and e.reason
        return
    # Whatever parses must also survive the writer, with its wg-quick settings.
    assert config.parse_config(config.write_config(device), "again.conf", mode) == device
    if mode == config.QUICK:
        both = config.parse_quick(config.decode_config(data, "fuzz.conf"), "fuzz.conf")
        assert config.parse_quick(config.write_config(*both), "again.conf") == both


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs(), st.sampled_from([config.QUICK, config.SETCONF]))
def test_fuzz_mutated_configs_raise_only_config_error(data, mode):
    parse_only_config_errors(data, mode)


@settings(max_examples=2_000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_config_error(data):
    parse_only_config_errors(data, config.QUICK)
