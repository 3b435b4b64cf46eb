"""The model's classes behave as the dataclasses they were written out from
(sswctl/model.py says why): fields are ``__init__``'s parameters, equality and
``repr`` go over all of them, ``replace`` is ``dataclasses.replace``, list and
dict defaults are fresh per object, an Endpoint is immutable and hashable,
and the others, mutable, are not hashable."""

from __future__ import annotations

import copy
import inspect
import ipaddress
import pickle

import pytest

from sswctl.model import Device, Endpoint, Peer, Protocol, QuickSettings


def test_fields_are_the_init_parameters_in_order():
    for cls in (Endpoint, Peer, Device, QuickSettings):
        assert cls._fields == tuple(inspect.signature(cls).parameters), cls


def test_equality_goes_over_every_field_and_only_between_objects_of_one_class():
    a = Peer(public_key=b"\x01" * 32, allowed_ips=[ipaddress.ip_network("10.0.0.0/8")])
    b = Peer(public_key=b"\x01" * 32, allowed_ips=[ipaddress.ip_network("10.0.0.0/8")])
    assert a == b
    for field, value in (("rx_bytes", 1), ("drops", {"replay": 1}), ("remove", True), ("endpoint", Endpoint("h", 1))):
        setattr(b, field, value)
        assert a != b, field
        setattr(b, field, getattr(a, field))
    assert a == b
    assert Device(name="x") == Device(name="x") != Device(name="y")
    assert Device() != QuickSettings() and Endpoint("h", 1) != ("h", 1)


def test_repr_names_every_field():
    assert repr(Endpoint("192.0.2.1", 7)) == "Endpoint(host='192.0.2.1', port=7)"
    text = repr(Device(name="ssw0", protocol=Protocol.WIREGUARD))
    assert text.startswith("Device(name='ssw0', private_key=None, ") and "handshake={})" in text


def test_replace_is_a_shallow_copy_with_fields_changed():
    peers = [Peer(public_key=b"\x02" * 32)]
    dev = Device(name="ssw0", listen_port=1, peers=peers)
    new = dev.replace(listen_port=2, replace_peers=True)
    assert (new.name, new.listen_port, new.replace_peers, new.peers) == ("ssw0", 2, True, peers)
    assert new.peers is peers and dev.listen_port == 1 and not dev.replace_peers
    assert peers[0].replace() == peers[0] and peers[0].replace() is not peers[0]
    with pytest.raises(TypeError):
        dev.replace(no_such_field=1)


def test_list_and_dict_defaults_are_fresh_per_object():
    a, b = Device(), Device()
    a.peers.append(Peer(public_key=b"\x03" * 32))
    a.drops["x"] = 1
    assert b.peers == [] and b.drops == {} and b.handshake == {}
    p, q = Peer(public_key=b""), Peer(public_key=b"")
    p.allowed_ips.append(ipaddress.ip_network("::/0"))
    assert q.allowed_ips == [] and q.drops == {}
    s = QuickSettings()
    s.dns.append("1.1.1.1")
    assert QuickSettings().dns == []


def test_an_endpoint_is_immutable_and_hashable_the_others_are_not_hashable():
    ep = Endpoint("192.0.2.1", 7)
    with pytest.raises(AttributeError):
        ep.port = 8  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del ep.host
    assert {ep: 1}[Endpoint("192.0.2.1", 7)] == 1
    for obj in (Peer(public_key=b""), Device(), QuickSettings()):
        with pytest.raises(TypeError):
            hash(obj)


def test_copies_and_pickles_are_equal():
    dev = Device(name="ssw0", peers=[Peer(public_key=b"\x04" * 32, endpoint=Endpoint("fd00::1", 9))])
    for clone in (copy.copy(dev), copy.deepcopy(dev), pickle.loads(pickle.dumps(dev))):
        assert clone == dev
    assert copy.deepcopy(dev).peers[0] is not dev.peers[0]
    assert copy.copy(dev.peers[0].endpoint) == dev.peers[0].endpoint
