"""The secureswift genetlink family through sswctl's kernel backend, on the real module."""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
import struct

import pytest
from conftest import in_new_user_namespace

from sswctl import keys
from sswctl.ipc import IPCError
from sswctl.ipc.genl import (
    CMD,
    DEV,
    PEER,
    GenlBackend,
    encode,
    nest,
    nla,
)
from sswctl.model import Cipher, Device, Endpoint, Peer, Protocol

NLA_F_NESTED = 0x8000
net = ipaddress.ip_network


def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def kb():
    return GenlBackend()


@pytest.fixture
def dev(ssw_link):
    return ssw_link()


def config_of(d: Device) -> dict:
    """The configuration part of a device, order-insensitive, for comparisons."""
    return {
        "private_key": d.private_key, "listen_port": d.listen_port, "fwmark": d.fwmark,
        "protocol": d.protocol, "cipher": d.cipher,
        "peers": {p.public_key: (p.preshared_key, p.endpoint, p.persistent_keepalive, p.name,
                                 frozenset(p.allowed_ips)) for p in d.peers},
    }


def test_list_devices_names_only_secureswift_links(kb, dev):
    assert dev in kb.list_devices()
    assert "lo" not in kb.list_devices()


def test_set_and_get_round_trip(kb, dev):
    priv, pk1, pk2, psk = key(), key(), key(), key()
    kb.set_device(Device(
        name=dev, private_key=priv, listen_port=51820, fwmark=0x1234,
        protocol=Protocol.SECURESWIFT, cipher=Cipher.AES_256_GCM,
        peers=[
            Peer(public_key=pk1, preshared_key=psk, endpoint=Endpoint("192.0.2.1", 51820),
                 allowed_ips=[net("10.0.0.0/24"), net("fd00::/64")], persistent_keepalive=25,
                 name="alpha"),
            Peer(public_key=pk2, endpoint=Endpoint("2001:db8::1", 443), allowed_ips=[net("0.0.0.0/0")]),
        ],
    ))
    d = kb.get_device(dev)
    assert d.status.backend == "kernel"
    assert d.private_key == keys.clamp(priv)
    assert d.public_key == keys.public_key(d.private_key)
    assert (d.listen_port, d.fwmark, d.protocol, d.cipher) == (51820, 0x1234, Protocol.SECURESWIFT,
                                                               Cipher.AES_256_GCM)
    p1, p2 = d.peer(pk1), d.peer(pk2)
    assert p1.preshared_key == psk and p1.endpoint == Endpoint("192.0.2.1", 51820)
    assert p1.persistent_keepalive == 25 and p1.name == "alpha"
    assert set(p1.allowed_ips) == {net("10.0.0.0/24"), net("fd00::/64")}
    assert p1.status.last_handshake is None and p1.status.rx_bytes == 0
    assert p2.preshared_key is None and p2.endpoint == Endpoint("2001:db8::1", 443)
    assert p2.allowed_ips == [net("0.0.0.0/0")]


def test_host_bits_are_cleared_and_keys_zeroed_remove(kb, dev):
    pk = key()
    kb.set_device(Device(name=dev, private_key=key(),
                         peers=[Peer(public_key=pk, preshared_key=key(),
                                     allowed_ips=[ipaddress.ip_network("10.1.2.3/8", strict=False)])]))
    kb.set_device(Device(name=dev, private_key=bytes(32), peers=[Peer(public_key=pk, preshared_key=bytes(32))]))
    d = kb.get_device(dev)
    assert d.private_key is None and d.public_key is None
    assert d.peer(pk).preshared_key is None
    assert d.peer(pk).allowed_ips == [net("10.0.0.0/8")]


def test_flag_semantics_match_wireguard(kb, dev):
    a, b, c = key(), key(), key()
    kb.set_device(Device(name=dev, peers=[Peer(public_key=a, allowed_ips=[net("10.0.0.1/32")]),
                                          Peer(public_key=b, allowed_ips=[net("10.0.0.2/32")])]))
    # update-only never creates, but updates an existing peer
    kb.set_device(Device(name=dev, peers=[Peer(public_key=c, update_only=True, persistent_keepalive=5),
                                          Peer(public_key=a, update_only=True, persistent_keepalive=7)]))
    d = kb.get_device(dev)
    assert d.peer(c) is None and d.peer(a).persistent_keepalive == 7
    # adding without replace keeps the old prefixes; replace-allowed-ips drops them first
    kb.set_device(Device(name=dev, peers=[Peer(public_key=a, allowed_ips=[net("10.0.1.0/24")])]))
    assert set(kb.get_device(dev).peer(a).allowed_ips) == {net("10.0.0.1/32"), net("10.0.1.0/24")}
    kb.set_device(Device(name=dev, peers=[Peer(public_key=a, replace_allowed_ips=True,
                                               allowed_ips=[net("10.0.2.0/24")])]))
    assert kb.get_device(dev).peer(a).allowed_ips == [net("10.0.2.0/24")]
    # a prefix belongs to one peer: giving it to b takes it from a
    kb.set_device(Device(name=dev, peers=[Peer(public_key=b, allowed_ips=[net("10.0.2.0/24")])]))
    d = kb.get_device(dev)
    assert d.peer(a).allowed_ips == [] and net("10.0.2.0/24") in d.peer(b).allowed_ips
    # remove
    kb.set_device(Device(name=dev, peers=[Peer(public_key=b, remove=True)]))
    assert [p.public_key for p in kb.get_device(dev).peers] == [a]
    # replace-peers drops every peer not in the request
    kb.set_device(Device(name=dev, replace_peers=True, peers=[Peer(public_key=c)]))
    assert [p.public_key for p in kb.get_device(dev).peers] == [c]


def test_own_public_key_is_never_a_peer(kb, dev):
    priv = key()
    kb.set_device(Device(name=dev, private_key=priv))
    pub = kb.get_device(dev).public_key
    assert pub == keys.public_key(keys.clamp(priv))
    kb.set_device(Device(name=dev, peers=[Peer(public_key=pub)]))
    assert kb.get_device(dev).peers == []
    # a private key whose public key is an existing peer removes that peer
    other_priv = key()
    kb.set_device(Device(name=dev, private_key=bytes(32)))
    kb.set_device(Device(name=dev, peers=[Peer(public_key=keys.public_key(other_priv))]))
    assert len(kb.get_device(dev).peers) == 1
    kb.set_device(Device(name=dev, private_key=other_priv))
    assert kb.get_device(dev).peers == []


def test_generation_changes_with_every_set(kb, dev):
    def generation() -> int:
        from sswctl.ipc.genl import NLM_F_DUMP, decode
        replies = kb._request(CMD["GET_DEVICE"], encode("device", "IFNAME", dev), NLM_F_DUMP)
        return decode("device", replies[0][1])["GENERATION"]

    g0 = generation()
    kb.set_device(Device(name=dev, listen_port=1))
    assert generation() > g0


def test_wireguard_protocol_refuses_aes_and_leaves_device_unchanged(kb, dev):
    kb.set_device(Device(name=dev, protocol=Protocol.SECURESWIFT, cipher=Cipher.AES_256_GCM))
    before = kb.get_device(dev)
    with pytest.raises(IPCError) as e:
        kb.set_device(Device(name=dev, protocol=Protocol.WIREGUARD, listen_port=9))
    assert e.value.errno == errno.EINVAL
    assert config_of(kb.get_device(dev)) == config_of(before)


# --- malformed requests, sent raw -------------------------------------------------------

def raw_set(kb, payload: bytes) -> int:
    try:
        kb._request(CMD["SET_DEVICE"], payload, 0)
    except IPCError as e:
        return e.errno
    return 0


def peer_nest(body: bytes) -> bytes:
    return nest(DEV["PEERS"], nla(NLA_F_NESTED, body))


def aip_raw(family: int, addr: bytes, cidr: int) -> bytes:
    body = (struct.pack("=HHH", 6, 1, family) + b"\0\0" + nla(2, addr)
            + nla(3, bytes([cidr])))
    return nest(PEER["ALLOWEDIPS"], nla(NLA_F_NESTED, body))


@pytest.mark.parametrize("case", [
    "no-device", "both-names", "short-private-key", "long-public-key", "unknown-family",
    "cidr-v4-33", "cidr-v6-129", "v4-with-16-bytes", "peer-without-key", "bad-endpoint-family",
    "endpoint-too-short", "name-too-long", "unknown-attribute", "bad-peer-flags", "bad-protocol",
    "ifname-too-long", "aip-missing-mask", "oversized-nest",
])
def test_malformed_set_is_rejected_and_changes_nothing(kb, dev, case):
    pk = key()
    kb.set_device(Device(name=dev, private_key=key(), listen_port=1000,
                         peers=[Peer(public_key=pk, allowed_ips=[net("10.9.0.0/16")])]))
    before = config_of(kb.get_device(dev))
    ifname = encode("device", "IFNAME", dev)
    # Each request changes the listen port first, so a partial apply would show.
    port = encode("device", "LISTEN_PORT", 2000)
    good_peer = encode("peer", "PUBLIC_KEY", key())
    payload = {
        "no-device": port,
        "both-names": ifname + encode("device", "IFINDEX", socket.if_nametoindex(dev)) + port,
        "short-private-key": ifname + port + nla(DEV["PRIVATE_KEY"], bytes(31)),
        "long-public-key": ifname + port + peer_nest(nla(PEER["PUBLIC_KEY"], bytes(33))),
        "unknown-family": ifname + port + peer_nest(good_peer + aip_raw(99, bytes(4), 8)),
        "cidr-v4-33": ifname + port + peer_nest(good_peer + aip_raw(2, bytes(4), 33)),
        "cidr-v6-129": ifname + port + peer_nest(good_peer + aip_raw(10, bytes(16), 129)),
        "v4-with-16-bytes": ifname + port + peer_nest(good_peer + aip_raw(2, bytes(16), 8)),
        "peer-without-key": ifname + port + peer_nest(encode("peer", "PERSISTENT_KEEPALIVE_INTERVAL", 5)),
        "bad-endpoint-family": ifname + port + peer_nest(good_peer + nla(PEER["ENDPOINT"], b"\1\0" + bytes(14))),
        "endpoint-too-short": ifname + port + peer_nest(good_peer + nla(PEER["ENDPOINT"], b"\2\0" + bytes(6))),
        "name-too-long": ifname + port + peer_nest(good_peer + nla(PEER["NAME"], b"x" * 80 + b"\0")),
        "unknown-attribute": ifname + port + nla(200, b"abcd"),
        "bad-peer-flags": ifname + port + peer_nest(good_peer + encode("peer", "FLAGS", 0x80)),
        "bad-protocol": ifname + port + nla(DEV["PROTOCOL"], bytes([7])),
        "ifname-too-long": nla(DEV["IFNAME"], b"a" * 20 + b"\0") + port,
        "aip-missing-mask": ifname + port + peer_nest(
            good_peer + nest(PEER["ALLOWEDIPS"], nla(NLA_F_NESTED, struct.pack("=HHH", 6, 1, 2) + b"\0\0"))),
        # a nest whose length runs past the message end
        "oversized-nest": ifname + port + struct.pack("=HH", 4000, DEV["PEERS"] | NLA_F_NESTED) + bytes(8),
    }[case]
    err = raw_set(kb, payload)
    assert err in (errno.EINVAL, errno.EBADR, errno.ERANGE, errno.EAFNOSUPPORT, errno.EOPNOTSUPP), (case, err)
    assert config_of(kb.get_device(dev)) == before


def test_unprivileged_user_namespace_is_refused(kb, dev):
    """A process that is root only inside its own user namespace may not read or set."""
    def attempt() -> str:
        results = []
        for op in ("get", "set"):
            try:
                if op == "get":
                    GenlBackend().get_device(dev)
                else:
                    GenlBackend().set_device(Device(name=dev, listen_port=7))
                results.append(0)
            except IPCError as e:
                results.append(e.errno)
        return repr(results)

    assert in_new_user_namespace(attempt) == repr([errno.EPERM, errno.EPERM])
    assert kb.get_device(dev).listen_port != 7


# Big configurations, paged both ways, go through the sswctl command line at the
# issue's full sizes: tests/vm/test_cli.py.


# --- the trie against a reference, through netlink --------------------------------------

def test_randomized_trie_against_reference(kb, dev):
    """Random inserts, moves between peers, removals and replacements; dumps must match."""
    rng = random.Random(0x55)
    peers = [key() for _ in range(6)]
    ref: dict[ipaddress._BaseNetwork, bytes] = {}  # prefix -> owning peer

    def rand_net():
        if rng.random() < 0.5:
            cidr = rng.choice([0, 1, 7, 8, 9, 16, 23, 24, 25, 31, 32])
            return ipaddress.ip_network((rng.getrandbits(32) & 0xFFFF00FF, cidr), strict=False)
        cidr = rng.choice([0, 1, 32, 48, 63, 64, 65, 127, 128])
        return ipaddress.ip_network((rng.getrandbits(128) >> rng.randrange(0, 96) << 0, cidr), strict=False)

    kb.set_device(Device(name=dev, peers=[Peer(public_key=p) for p in peers]))
    for _round in range(40):
        op = rng.random()
        if op < 0.55:  # inserts (some re-assign a prefix to another peer)
            batch: dict[bytes, list] = {}
            for _ in range(rng.randrange(1, 60)):
                n = rand_net() if rng.random() < 0.7 or not ref else rng.choice(list(ref))
                p = rng.choice(peers)
                batch.setdefault(p, []).append(n)
            for p, nets in batch.items():
                for n in nets:
                    ref[n] = p
            kb.set_device(Device(name=dev, peers=[Peer(public_key=p, allowed_ips=n) for p, n in batch.items()]))
        elif op < 0.85 and ref:  # single removals, sometimes by a peer that does not own the prefix
            removals: dict[bytes, list] = {}
            for n in rng.sample(list(ref), min(len(ref), rng.randrange(1, 20))):
                owner = ref[n] if rng.random() < 0.8 else rng.choice(peers)
                removals.setdefault(owner, []).append(n)
                if ref[n] == owner:
                    del ref[n]
            kb.remove_allowed_ips(dev, removals)
        else:  # replace one peer's set
            p = rng.choice(peers)
            nets = [rand_net() for _ in range(rng.randrange(0, 10))]
            for n in [n for n, o in ref.items() if o == p]:
                del ref[n]
            for n in nets:
                ref[n] = p
            kb.set_device(Device(name=dev, peers=[Peer(public_key=p, replace_allowed_ips=True, allowed_ips=nets)]))
        got = {n: p.public_key for p in kb.get_device(dev).peers for n in p.allowed_ips}
        assert got == ref, f"round {_round}"
    # everything goes away with the peers
    kb.set_device(Device(name=dev, replace_peers=True))
    assert kb.get_device(dev).peers == []
