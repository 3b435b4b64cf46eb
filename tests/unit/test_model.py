"""The model's classes behave as the dataclasses they were written out from
(sswctl/model.py says why): fields are ``__init__``'s parameters, equality and
``repr`` go over all of them, ``replace`` is ``dataclasses.replace``, list and
dict defaults are fresh per object, an Endpoint is immutable and hashable,
and the others, mutable, are not hashable. Runtime state is a separate
record (PeerStatus, DeviceStatus), the last field of Peer and Device."""

from __future__ import annotations

import copy
import inspect
import ipaddress
import pickle

import pytest

from sswctl.model import Device, DeviceStatus, Endpoint, Peer, PeerStatus, Protocol, QuickSettings

CLASSES = (Endpoint, PeerStatus, Peer, DeviceStatus, Device, QuickSettings)


def test_fields_are_the_init_parameters_in_order():
    for cls in CLASSES:
        assert cls._fields == tuple(inspect.signature(cls).parameters), cls


def test_status_is_the_last_field_and_none_by_default():
    assert Peer._fields[-1] == "status" and Device._fields[-1] == "status"
    assert Peer(public_key=b"").status is None and Device().status is None
    assert PeerStatus._fields == ("last_handshake", "rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "drops")
    assert DeviceStatus._fields == ("backend", "drops", "handshake")
    for moved in PeerStatus._fields:
        assert moved not in Peer._fields
    for moved in DeviceStatus._fields:
        assert moved not in Device._fields


def test_status_defaults():
    assert repr(PeerStatus()) == (
        "PeerStatus(last_handshake=None, rx_bytes=0, tx_bytes=0, rx_packets=0, tx_packets=0, drops={})")
    assert repr(DeviceStatus()) == "DeviceStatus(backend=None, drops={}, handshake={})"


def test_equality_goes_over_every_field_and_only_between_objects_of_one_class():
    a = Peer(public_key=b"\x01" * 32, allowed_ips=[ipaddress.ip_network("10.0.0.0/8")])
    b = Peer(public_key=b"\x01" * 32, allowed_ips=[ipaddress.ip_network("10.0.0.0/8")])
    assert a == b
    for field, value in (("status", PeerStatus()), ("remove", True), ("endpoint", Endpoint("h", 1))):
        setattr(b, field, value)
        assert a != b, field
        setattr(b, field, getattr(a, field))
    assert a == b
    assert Device(name="x") == Device(name="x") != Device(name="y")
    assert Device() != QuickSettings() and Endpoint("h", 1) != ("h", 1)
    assert Device(status=DeviceStatus()) != Device()


def test_status_equality_goes_over_every_field():
    s, t = PeerStatus(last_handshake=1.5, drops={"replay": 1}), PeerStatus(last_handshake=1.5, drops={"replay": 1})
    assert s == t
    for field, value in (("last_handshake", None), ("rx_bytes", 1), ("tx_bytes", 1), ("rx_packets", 1),
                         ("tx_packets", 1), ("drops", {})):
        assert s != t.replace(**{field: value}), field
    d = DeviceStatus(backend="kernel", handshake={"under_load": 0})
    assert d == DeviceStatus(backend="kernel", handshake={"under_load": 0})
    for field, value in (("backend", "userspace"), ("drops", {"junk": 1}), ("handshake", {})):
        assert d != d.replace(**{field: value}), field
    assert PeerStatus() != DeviceStatus() and DeviceStatus() != PeerStatus()
    # A peer read back equals its configuration once its status is left out.
    conf = Peer(public_key=b"\x01" * 32, persistent_keepalive=25)
    got = conf.replace(status=PeerStatus(rx_bytes=7, drops={"replay": 2}))
    assert got != conf and got.replace(status=None) == conf


def test_repr_names_every_field():
    assert repr(Endpoint("192.0.2.1", 7)) == "Endpoint(host='192.0.2.1', port=7)"
    text = repr(Device(name="ssw0", protocol=Protocol.WIREGUARD))
    assert text.startswith("Device(name='ssw0', private_key=None, ") and text.endswith(", status=None)")
    text = repr(Peer(public_key=b"", status=PeerStatus(rx_bytes=3)))
    assert text.endswith(", status=PeerStatus(last_handshake=None, rx_bytes=3, tx_bytes=0, rx_packets=0, "
                         "tx_packets=0, drops={}))")


def test_replace_is_a_shallow_copy_with_fields_changed():
    peers = [Peer(public_key=b"\x02" * 32)]
    dev = Device(name="ssw0", listen_port=1, peers=peers)
    new = dev.replace(listen_port=2, replace_peers=True)
    assert (new.name, new.listen_port, new.replace_peers, new.peers) == ("ssw0", 2, True, peers)
    assert new.peers is peers and dev.listen_port == 1 and not dev.replace_peers
    assert peers[0].replace() == peers[0] and peers[0].replace() is not peers[0]
    with pytest.raises(TypeError):
        dev.replace(no_such_field=1)


def test_status_replace_is_a_shallow_copy_with_fields_changed():
    st = PeerStatus(last_handshake=2.0, rx_bytes=5, drops={"replay": 1})
    new = st.replace(tx_bytes=9)
    assert (new.last_handshake, new.rx_bytes, new.tx_bytes, new.drops) == (2.0, 5, 9, {"replay": 1})
    assert new.drops is st.drops and st.tx_bytes == 0 and new is not st
    ds = DeviceStatus(backend="kernel", handshake={"cookie_sent": 4})
    assert ds.replace(backend="userspace") == DeviceStatus(backend="userspace", handshake={"cookie_sent": 4})
    assert ds.replace().handshake is ds.handshake
    p = Peer(public_key=b"\x02" * 32, status=st)
    assert p.replace(status=None).status is None and p.status is st
    with pytest.raises(TypeError):
        st.replace(backend="kernel")
    with pytest.raises(TypeError):
        Peer(public_key=b"", rx_bytes=1)
    with pytest.raises(TypeError):
        Device(backend="kernel")


def test_list_and_dict_defaults_are_fresh_per_object():
    a, b = Device(), Device()
    a.peers.append(Peer(public_key=b"\x03" * 32))
    assert b.peers == []
    p, q = Peer(public_key=b""), Peer(public_key=b"")
    p.allowed_ips.append(ipaddress.ip_network("::/0"))
    assert q.allowed_ips == []
    ps, qs = PeerStatus(), PeerStatus(drops=None)
    ps.drops["replay"] = 1
    assert qs.drops == {} and PeerStatus().drops == {}
    ds, es = DeviceStatus(), DeviceStatus()
    ds.drops["junk"] = 1
    ds.handshake["cookie_sent"] = 1
    assert es.drops == {} and es.handshake == {} and ds.drops is not ds.handshake
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
    for obj in (Peer(public_key=b""), Device(), QuickSettings(), PeerStatus(), DeviceStatus()):
        with pytest.raises(TypeError):
            hash(obj)


def test_copies_and_pickles_are_equal():
    dev = Device(name="ssw0", peers=[Peer(public_key=b"\x04" * 32, endpoint=Endpoint("fd00::1", 9),
                                          status=PeerStatus(last_handshake=3.5, drops={"replay": 1}))],
                 status=DeviceStatus(backend="userspace", drops={"junk": 2}))
    for clone in (copy.copy(dev), copy.deepcopy(dev), pickle.loads(pickle.dumps(dev))):
        assert clone == dev
    assert copy.deepcopy(dev).peers[0] is not dev.peers[0]
    assert copy.deepcopy(dev).peers[0].status.drops is not dev.peers[0].status.drops
    assert copy.copy(dev.peers[0].endpoint) == dev.peers[0].endpoint
