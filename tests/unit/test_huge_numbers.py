"""Numbers with thousands of digits (Python 3.11 refuses int() of more than
4,300) are refused as out of range in every numeric field of the UAPI set
codec, the config parser and `set` arguments: a clear error, never a ValueError."""

from __future__ import annotations

import pytest

from sswctl import config
from sswctl.errors import ConfigError
from sswctl.ipc.uapi_codec import UAPIError, decode_set, split_lines
from sswctl.model import bounded_decimal

HUGE = "9" * 5000
KEY_HEX = "11" * 32
KEY_B64 = "ERERERERERERERERERERERERERERERERERERERERERE="


@pytest.mark.parametrize("body", [
    f"listen_port={HUGE}\n",
    f"fwmark={HUGE}\n",
    f"public_key={KEY_HEX}\npersistent_keepalive_interval={HUGE}\n",
    f"public_key={KEY_HEX}\nendpoint=192.0.2.1:{HUGE}\n",
    f"public_key={KEY_HEX}\nallowed_ip=10.0.0.0/{HUGE}\n",
])
def test_uapi_set_refuses_huge_numbers(body):
    with pytest.raises(UAPIError):
        decode_set(split_lines(body + "\n"))


@pytest.mark.parametrize("line,key", [
    (f"ListenPort = {HUGE}", "port"),
    (f"FwMark = {HUGE}", "FwMark"),
    (f"FwMark = 0x{'f' * 5000}", "FwMark"),
    (f"MTU = {HUGE}", "MTU"),
    (f"Table = {HUGE}", "Table"),
    (f"Address = 10.0.0.1/{HUGE}", "prefix"),
])
def test_config_interface_refuses_huge_numbers_at_their_line(line, key):
    with pytest.raises(ConfigError) as e:
        config.parse_config(f"[Interface]\nPrivateKey = {KEY_B64}\n{line}\n", "x.conf")
    assert e.value.line == 3 and key in e.value.reason and len(str(e.value)) < 200


@pytest.mark.parametrize("line", [
    f"PersistentKeepalive = {HUGE}",
    f"Endpoint = 192.0.2.1:{HUGE}",
    f"AllowedIPs = 10.0.0.0/{HUGE}",
])
def test_config_peer_refuses_huge_numbers_at_their_line(line):
    with pytest.raises(ConfigError) as e:
        config.parse_config(f"[Interface]\n[Peer]\nPublicKey = {KEY_B64}\n{line}\n", "x.conf", config.SETCONF)
    assert e.value.line == 4


def test_leading_zeros_are_still_a_small_number():
    dev = decode_set(split_lines(f"public_key={KEY_HEX}\nallowed_ip=10.0.0.0/{'0' * 5000}24\n\n"))
    assert str(dev.peers[0].allowed_ips[0]) == "10.0.0.0/24"
    assert bounded_decimal("0" * 5000 + "51820", 65535) == 51820
    assert bounded_decimal("65536", 65535) is None and bounded_decimal("0", 0) == 0
