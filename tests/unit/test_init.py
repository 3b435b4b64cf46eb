"""``sswctl init``: fresh keys, ready configs, 0600 files, no silent overwrite."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from sswctl import config, keys
from sswctl.cli import cli
from sswctl.commands.init import fresh_examples

REPO = Path(__file__).resolve().parents[2]


def sswctl(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_server_config_has_fresh_key_port_address_and_nat_for_the_uplink(tmp_path: Path):
    r = sswctl("init", "server", "--dir", str(tmp_path), "--uplink", "eth7", "--port", "51999")
    assert r.exit_code == 0, r.output
    path = tmp_path / "ssw0.conf"
    assert os.stat(path).st_mode & 0o777 == 0o600
    dev, quick = config.load_quick(str(path))
    assert dev.listen_port == 51999
    assert [str(a) for a in quick.addresses] == ["10.99.0.1/24", "fd99::1/64"]
    assert keys.to_base64(keys.public_key(dev.private_key)) in r.output
    assert keys.to_base64(dev.private_key) not in r.output  # the secret stays in the file
    nat = " ".join(quick.post_up)
    assert 'oifname "eth7" ip saddr 10.99.0.0/24 masquerade' in nat and "ip6 saddr fd99::/64 masquerade" in nat
    assert quick.post_down == ["nft delete table inet secureswift-nat-%i"]


def test_two_runs_make_different_keys(tmp_path: Path):
    sswctl("init", "server", "--dir", str(tmp_path), "--uplink", "eth0", "-i", "a0")
    sswctl("init", "server", "--dir", str(tmp_path), "--uplink", "eth0", "-i", "b0")
    a = config.load_config(str(tmp_path / "a0.conf"))
    b = config.load_config(str(tmp_path / "b0.conf"))
    assert a.private_key != b.private_key


def test_client_config_points_at_the_server_and_prints_its_peer_block(tmp_path: Path):
    server_pub = keys.to_base64(keys.public_key(keys.generate_private_key()))
    r = sswctl("init", "client", "--dir", str(tmp_path), "-i", "vpn0", "--server-key", server_pub,
               "--endpoint", "vpn.example.com:51820", "--dns", "10.99.0.1", "--address", "10.99.0.7/32")
    assert r.exit_code == 0, r.output
    dev, quick = config.load_quick(str(tmp_path / "vpn0.conf"))
    (peer,) = dev.peers
    assert keys.to_base64(peer.public_key) == server_pub
    assert str(peer.endpoint) == "vpn.example.com:51820"
    assert [str(n) for n in peer.allowed_ips] == ["0.0.0.0/0", "::/0"]
    assert peer.persistent_keepalive == 25 and quick.dns == ["10.99.0.1"]
    assert f"PublicKey = {keys.to_base64(keys.public_key(dev.private_key))}" in r.output
    assert "AllowedIPs = 10.99.0.7/32" in r.output


def test_existing_file_is_never_overwritten_without_force(tmp_path: Path):
    path = tmp_path / "ssw0.conf"
    path.write_text("keep me\n")
    r = sswctl("init", "server", "--dir", str(tmp_path), "--uplink", "eth0")
    assert r.exit_code == 2 and "exists" in r.output and "--force" in r.output
    assert path.read_text() == "keep me\n"
    r = sswctl("init", "server", "--dir", str(tmp_path), "--uplink", "eth0", "--force")
    assert r.exit_code == 0
    assert config.load_config(str(path)).private_key is not None
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_bad_client_arguments_exit_2_and_write_nothing(tmp_path: Path):
    r = sswctl("init", "client", "--dir", str(tmp_path), "--server-key", "not-a-key", "--endpoint", "h:1")
    assert r.exit_code == 2 and "--server-key" in r.output
    r = sswctl("init", "client", "--dir", str(tmp_path))
    assert r.exit_code == 2 and "--server-key and --endpoint" in r.output
    r = sswctl("init", "server", "--dir", str(tmp_path), "--uplink", "eth0", "--address", "10.1.2.300/24")
    assert r.exit_code == 2 and "--address" in r.output
    assert list(tmp_path.iterdir()) == []


def test_examples_get_fresh_keys_and_pairs_still_match(tmp_path: Path):
    r = sswctl("init", "examples", "--from", str(REPO / "conf"), "--dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (REPO / "conf").glob("*.conf"))
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    old = {n: config.load_quick(str(REPO / "conf" / n)) for n in names}
    new = {n: config.load_quick(str(tmp_path / n)) for n in names}
    for n in names:
        assert os.stat(tmp_path / n).st_mode & 0o777 == 0o600
        assert new[n][0].private_key != old[n][0].private_key
        # Everything but the keys is unchanged.
        assert new[n][1] == old[n][1]
    a, b = new["site-a.conf"][0], new["site-b.conf"][0]
    assert a.peers[0].public_key == keys.public_key(b.private_key)
    assert b.peers[0].public_key == keys.public_key(a.private_key)
    assert a.peers[0].preshared_key == b.peers[0].preshared_key != old["site-a.conf"][0].peers[0].preshared_key
    server, client = new["server.conf"][0], new["client.conf"][0]
    assert server.peers[0].public_key == keys.public_key(client.private_key)
    assert client.peers[0].public_key == keys.public_key(server.private_key)
    r = sswctl("init", "examples", "--from", str(REPO / "conf"), "--dir", str(tmp_path))
    assert r.exit_code == 2 and "exists" in r.output


def test_fresh_examples_keeps_the_text_around_the_keys():
    text = "# a comment\n[Interface]\nPrivateKey = " + keys.to_base64(keys.generate_private_key()) + "\n"
    out = fresh_examples({"x.conf": text})["x.conf"]
    assert out.startswith("# a comment\n[Interface]\nPrivateKey = ") and out != text
