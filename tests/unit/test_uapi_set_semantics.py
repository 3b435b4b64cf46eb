"""Set semantics (sswctl.daemon.state.apply_set): wireguard-go's rules, all or nothing."""

from __future__ import annotations

import copy
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sswctl import keys
from sswctl.daemon.state import apply_set
from sswctl.ipc.uapi_codec import ZERO_KEY, UAPIError, decode_set, encode_set, split_lines
from sswctl.model import Cipher, Device, Endpoint, Peer, Protocol

PRIV = keys.generate_private_key()
PUB = keys.public_key(PRIV)
K = [bytes([i]) * 32 for i in range(1, 6)]
N = ipaddress.ip_network


def running() -> Device:
    return Device(
        name="t0", private_key=PRIV, public_key=PUB, listen_port=1000, fwmark=0,
        protocol=Protocol.SECURESWIFT, cipher=Cipher.CHACHA20_POLY1305,
        peers=[
            Peer(public_key=K[0], allowed_ips=[N("10.0.0.0/24")], persistent_keepalive=0),
            Peer(public_key=K[1], preshared_key=K[4], allowed_ips=[N("10.1.0.0/24")], persistent_keepalive=5,
                 endpoint=Endpoint("192.0.2.1", 1)),
        ],
    )


def test_only_named_fields_change():
    new = apply_set(running(), Device(listen_port=2000))
    assert new.listen_port == 2000 and new.private_key == PRIV and len(new.peers) == 2


def test_replace_peers_then_sections_apply_in_order():
    new = apply_set(running(), Device(replace_peers=True, peers=[Peer(public_key=K[2], allowed_ips=[N("::/0")])]))
    assert [p.public_key for p in new.peers] == [K[2]]


def test_remove_update_only_and_own_key_are_handled_like_wireguard_go():
    new = apply_set(running(), Device(peers=[
        Peer(public_key=K[0], remove=True),
        Peer(public_key=K[3], update_only=True, allowed_ips=[N("10.3.0.0/24")]),
        Peer(public_key=PUB, allowed_ips=[N("10.9.0.0/24")]),
        Peer(public_key=K[1], update_only=True, persistent_keepalive=9),
    ]))
    assert [p.public_key for p in new.peers] == [K[1]]
    assert new.peers[0].persistent_keepalive == 9


def test_allowed_ip_moves_between_peers_and_replace_clears_first():
    new = apply_set(running(), Device(peers=[Peer(public_key=K[1], allowed_ips=[N("10.0.0.0/24")])]))
    assert new.peer(K[0]).allowed_ips == []
    assert new.peer(K[1]).allowed_ips == [N("10.1.0.0/24"), N("10.0.0.0/24")]
    new = apply_set(new, Device(peers=[Peer(public_key=K[1], replace_allowed_ips=True, allowed_ips=[N("fd00::/8")])]))
    assert new.peer(K[1]).allowed_ips == [N("fd00::/8")]


def test_zero_keys_clear():
    new = apply_set(running(), Device(private_key=ZERO_KEY, peers=[Peer(public_key=K[1], preshared_key=ZERO_KEY)]))
    assert new.private_key is None and new.public_key is None
    assert new.peer(K[1]).preshared_key is None


def test_new_private_key_matching_a_peer_removes_that_peer():
    priv = keys.generate_private_key()
    cur = running()
    cur.peers.append(Peer(public_key=keys.public_key(priv)))
    new = apply_set(cur, Device(private_key=priv))
    assert new.peer(keys.public_key(priv)) is None


def test_refused_request_leaves_the_running_config_untouched():
    cur = running()
    snapshot = copy.deepcopy(cur)
    with pytest.raises(UAPIError):
        apply_set(cur, Device(protocol=Protocol.WIREGUARD, cipher=Cipher.AES_256_GCM, listen_port=1))
    cur.cipher = Cipher.AES_256_GCM
    snapshot.cipher = Cipher.AES_256_GCM
    with pytest.raises(UAPIError):
        apply_set(cur, Device(protocol=Protocol.WIREGUARD))
    assert cur == snapshot


@st.composite
def requests(draw):
    peers = []
    for _ in range(draw(st.integers(0, 4))):
        pub = draw(st.sampled_from(K[:4] + [PUB]))
        if draw(st.booleans()):
            peers.append(Peer(public_key=pub, remove=True))  # remove carries nothing else on the wire
            continue
        peers.append(Peer(
            public_key=pub,
            update_only=draw(st.booleans()),
            replace_allowed_ips=draw(st.booleans()),
            allowed_ips=draw(st.lists(st.sampled_from([N("10.0.0.0/24"), N("10.1.0.0/24"), N("::/0")]), max_size=2)),
        ))
    return Device(replace_peers=draw(st.booleans()), peers=peers)


@settings(max_examples=300, deadline=None)
@given(requests())
def test_invariants_hold_for_any_request(req):
    # The wire form decodes to the same request, and any request keeps the invariants:
    # unique peers, never our own key, every allowed IP owned by at most one peer.
    assert decode_set(split_lines(encode_set(req).partition("\n")[2])) == req
    cur = running()
    new = apply_set(cur, req)
    assert cur == running()
    pubs = [p.public_key for p in new.peers]
    assert len(pubs) == len(set(pubs)) and PUB not in pubs
    owned = [n for p in new.peers for n in p.allowed_ips]
    assert len(owned) == len(set(owned))
