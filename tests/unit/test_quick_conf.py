"""Every example in conf/ parses as an `up` config, strips for setconf, and the pairs match."""

from __future__ import annotations

from pathlib import Path

import pytest

from sswctl import config, keys
from sswctl.model import Protocol
from sswctl.quick.netconf import overhead
from sswctl.quick.tunnel import resolve_target

CONF = Path(__file__).resolve().parents[2] / "conf"
EXAMPLES = sorted(CONF.glob("*.conf"))


def test_the_documented_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"server.conf", "client.conf", "road-warrior.conf", "site-a.conf", "site-b.conf",
            "wireguard-interop.conf"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses_and_strips(path: Path):
    dev = config.load_config(str(path), config.QUICK)
    assert dev.private_key is not None and dev.peers
    stripped = config.parse_config(config.strip_config(dev, extensions=True), path.name, config.SETCONF)
    assert stripped.peers == dev.peers


def test_pairs_match():
    def load(name: str):
        return config.load_config(str(CONF / name))

    for x, y in (("site-a.conf", "site-b.conf"), ("server.conf", "client.conf")):
        a, b = load(x), load(y)
        assert a.peers[0].public_key == keys.public_key(b.private_key)
        assert b.peers[0].public_key == keys.public_key(a.private_key)
    rw = load("road-warrior.conf")
    assert {str(n) for n in rw.peers[0].allowed_ips} == {"0.0.0.0/0", "::/0"}
    # The comment telling the server admin which peer to add names the right key.
    comment = (CONF / "road-warrior.conf").read_text().split("[Interface]")[0]
    assert f"PublicKey = {keys.to_base64(keys.public_key(rw.private_key))}" in comment
    assert load("wireguard-interop.conf").protocol is Protocol.WIREGUARD


def test_overhead_is_80_bytes_in_both_modes():
    assert overhead(Protocol.SECURESWIFT) == overhead(Protocol.WIREGUARD) == overhead(None) == 80


def test_target_is_an_interface_or_a_named_conf_file(tmp_path: Path):
    f = tmp_path / "wg7.conf"
    f.write_text("[Interface]\n")
    assert resolve_target(str(f)) == ("wg7", str(f))
    assert resolve_target("nonexistent0")[0] == "nonexistent0"
    bad = tmp_path / "no-good-because-too-long.conf"
    bad.write_text("")
    with pytest.raises(Exception, match="interface name followed by .conf"):
        resolve_target(str(bad))
