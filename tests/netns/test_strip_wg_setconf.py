"""`sswctl strip` output is accepted by the real `wg setconf`, and means the same to wg.

One throwaway network namespace holds one wireguard-go interface for the whole
module. For every corpus and example config: strip it (a real sswctl process),
`wg setconf` the result onto the interface, read it back with `wg showconf`
and compare what wg holds with what our parser read, field by field.

Hostname endpoints resolve through /etc/netns/NS/hosts, which `ip netns exec`
bind-mounts over /etc/hosts for commands in that namespace only; the test
maps every hostname in the corpus to an address from 198.18.0.0/15.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest
from wgns import namespace_fixture

from sswctl import config
from sswctl.model import Device, Endpoint
from tests.conftest import DATA, REPO

pytestmark = pytest.mark.root

CONFIGS = sorted((DATA / "configs").glob("*.conf")) + sorted((REPO / "conf").glob("*.conf"))


def hostnames() -> dict[str, str]:
    names = sorted(
        {
            p.endpoint.host
            for path in CONFIGS
            for p in config.load_config(str(path)).peers
            if p.endpoint and not _is_ip(p.endpoint.host)
        }
    )
    return {name: str(ipaddress.ip_address("198.18.0.1") + i) for i, name in enumerate(names)}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


wgns = namespace_fixture("sswstrip", hostnames)


def expected_endpoint(ep: Endpoint | None, hosts: dict[str, str]) -> Endpoint | None:
    if ep is None:
        return None
    return Endpoint(hosts.get(ep.host, ep.host), ep.port)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_stripped_config_is_accepted_by_wg_setconf_and_reads_back_the_same(wgns, path, tmp_path):
    stripped = subprocess.run(
        [sys.executable, "-m", "sswctl", "strip", str(path)], capture_output=True, text=True, check=True
    ).stdout
    conf = tmp_path / "stripped.conf"
    conf.write_text(stripped)
    os.chmod(conf, 0o600)
    setconf = wgns.run("wg", "setconf", wgns.iface, str(conf), check=False)
    assert setconf.returncode == 0, setconf.stderr

    shown: Device = config.parse_config(wgns.run("wg", "showconf", wgns.iface).stdout, "wg-showconf", config.SETCONF)
    want = config.load_config(str(path))
    assert shown.private_key == want.private_key
    if want.listen_port:
        assert shown.listen_port == want.listen_port
    assert (shown.fwmark or 0) == (want.fwmark or 0)
    assert {p.public_key for p in shown.peers} == {p.public_key for p in want.peers}
    for w in want.peers:
        s = shown.peer(w.public_key)
        assert s.preshared_key == w.preshared_key
        assert set(s.allowed_ips) == set(w.allowed_ips)
        assert s.endpoint == expected_endpoint(w.endpoint, wgns.hosts)
        assert (s.persistent_keepalive or 0) == (w.persistent_keepalive or 0)


def test_wg_setconf_refuses_the_unstripped_wg_quick_config(wgns):
    """Control: the corpus really needs strip (wg itself rejects wg-quick keys)."""
    result = wgns.run("wg", "setconf", wgns.iface, str(REPO / "conf" / "server.conf"), check=False)
    assert result.returncode != 0


def test_wg_setconf_refuses_extension_keys_so_strip_drops_them_by_default(wgns, tmp_path):
    path = DATA / "configs" / "17-secureswift-extensions.conf"
    for flags, accepted in (([], True), (["--extensions"], False)):
        out = subprocess.run(
            [sys.executable, "-m", "sswctl", "strip", *flags, str(path)], capture_output=True, text=True, check=True
        ).stdout
        conf = tmp_path / "x.conf"
        conf.write_text(out)
        assert (wgns.run("wg", "setconf", wgns.iface, str(conf), check=False).returncode == 0) is accepted
