"""Kernel backend: the ``secureswift`` generic netlink family of secureswift.ko.

Links are listed, created and deleted through rtnetlink (:mod:`.rtnl`) and
the family id is resolved through generic netlink's controller. Everything
is encoded and decoded with :mod:`struct` on raw netlink sockets
(:mod:`.netlink`), the family's messages driven by the attribute tables of
:mod:`sswctl.ipc.genl_schema` (the same tables the C header and the kernel's
policies are generated from): configurations of tens of thousands of
allowed IPs would take pyroute2's per-attribute objects many seconds, and
not importing pyroute2 makes every sswctl command on a kernel interface
start faster.

Large configurations are split across several SET_DEVICE messages (each one
applied atomically by the kernel) and read back from a paged dump, retried
when the kernel marks it interrupted by a concurrent change.
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import socket
import struct
from dataclasses import dataclass

from ..model import Cipher, Device, DeviceStatus, Endpoint, IPNetwork, Peer, PeerStatus, Protocol
from . import ControlBackend, IPCError
from . import genl_schema as S
from .netlink import (
    NLA_F_NESTED,
    NLA_HDR,
    NLA_TYPE_MASK,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLMSG_HDR,
    nest,
    nla,
    parse,
    transact,
)
from .rtnl import links_of_kind

NETLINK_GENERIC = 16
GENL_HDR = struct.Struct("=BBH")

# One SET message stays well below the 64 KiB a nested attribute can hold.
MAX_SET_MSG = 32 * 1024
DUMP_RETRIES = 10

_PACK = {S.T.U8: "=B", S.T.U16: "=H", S.T.U32: "=I", S.T.U64: "=Q"}

# name -> number maps per attribute set, straight from the schema
DEV = {a.name: S.attrset("device").number(a.name) for a in S.attrset("device").attrs}
PEER = {a.name: S.attrset("peer").number(a.name) for a in S.attrset("peer").attrs}
AIP = {a.name: S.attrset("allowedip").number(a.name) for a in S.attrset("allowedip").attrs}
CMD = {c.name: c.number for c in S.COMMANDS}
# The handshake flood defence's counters in GET_DEVICE (DeviceStatus.handshake, lower-cased).
HANDSHAKE_COUNTERS = ("COOKIE_REPLIES_SENT", "HANDSHAKES_UPCALLED", "SHED_BAD_MAC1", "SHED_NO_MAC2",
                      "SHED_RATE_LIMITED", "SHED_BACKLOG_FULL", "UNDER_LOAD")
F_DEV = {n: S.flagset("device").value(n) for n, _ in S.flagset("device").flags}
F_PEER = {n: S.flagset("peer").value(n) for n, _ in S.flagset("peer").flags}
F_AIP = {n: S.flagset("allowedip").value(n) for n, _ in S.flagset("allowedip").flags}
_PROTO = S.enum_by_name("ssw_protocol")
_CIPHER = S.enum_by_name("ssw_cipher")
PROTOCOL_TO_WIRE = {Protocol(m): v for m, (_, v, _) in zip(_PROTO.model_values, _PROTO.values, strict=True)}
CIPHER_TO_WIRE = {Cipher(m): v for m, (_, v, _) in zip(_CIPHER.model_values, _CIPHER.values, strict=True)}
PROTOCOL_FROM_WIRE = {v: k for k, v in PROTOCOL_TO_WIRE.items()}
CIPHER_FROM_WIRE = {v: k for k, v in CIPHER_TO_WIRE.items()}


# --- attribute codec ------------------------------------------------------------------


_ATTRS = {(aset.name, a.name): (i, a) for aset in S.ATTRSETS for i, a in enumerate(aset.attrs, start=1)}


def encode(setname: str, name: str, value) -> bytes:
    """One attribute of a schema attribute set, typed by the schema."""
    number, a = _ATTRS[setname, name]
    if a.type in _PACK:
        payload = struct.pack(_PACK[a.type], value)
    elif a.type is S.T.STRING:
        payload = value.encode() + b"\0"
    elif a.type is S.T.BINARY:
        payload = bytes(value)
    else:
        return nest(number, value)
    return nla(number, payload)


def decode(setname: str, buf, raw: tuple[str, ...] = ()) -> dict:
    """Attribute name -> value (ints, str, bytes; nested arrays as lists of raw nests).

    Attributes named in ``raw`` are returned as their undecoded payload.
    """
    aset = S.attrset(setname)
    out: dict = {}
    for atype, payload in parse(buf):
        if not 1 <= atype <= aset.max:
            continue  # newer kernel, newer attribute: ignore
        a = aset.attrs[atype - 1]
        if a.name in raw:
            out[a.name] = payload
        elif a.type in _PACK:
            out[a.name] = struct.unpack(_PACK[a.type], payload)[0]
        elif a.type is S.T.STRING:
            out[a.name] = bytes(payload).split(b"\0", 1)[0].decode(errors="replace")
        elif a.type is S.T.BINARY:
            out[a.name] = bytes(payload)
        else:
            out[a.name] = [p for _, p in parse(payload)]
    return out


def sockaddr(ep: Endpoint) -> bytes:
    """struct sockaddr_in/in6 for an endpoint (hostnames resolved, as wg does)."""
    try:
        infos = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise IPCError(f"cannot resolve endpoint {ep}: {e.strerror}", errno_mod.EINVAL) from None
    fam, _, _, _, addr = infos[0]
    if fam == socket.AF_INET:
        return struct.pack("=H", fam) + struct.pack("!H", addr[1]) + socket.inet_aton(addr[0]) + bytes(8)
    host = addr[0].split("%", 1)[0]
    return (struct.pack("=H", fam) + struct.pack("!HI", addr[1], addr[2])
            + socket.inet_pton(socket.AF_INET6, host) + struct.pack("=I", addr[3]))


def endpoint_from(raw: bytes) -> Endpoint | None:
    fam = struct.unpack_from("=H", raw)[0]
    if fam == socket.AF_INET:
        return Endpoint(socket.inet_ntoa(raw[4:8]), struct.unpack_from("!H", raw, 2)[0])
    if fam == socket.AF_INET6:
        host = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        scope = struct.unpack_from("=I", raw, 24)[0]
        if scope:
            host = f"{host}%{scope}"
        return Endpoint(host, struct.unpack_from("!H", raw, 2)[0])
    return None


# An allowed IP is by far the most frequent element of big configurations:
# its nest has a fixed layout, packed and unpacked with one struct call.
_AIP_V4 = struct.Struct("=HH HHH2x HH4s HHB3x")
_AIP_V6 = struct.Struct("=HH HHH2x HH16s HHB3x")
_AIP_FLAGS = struct.Struct("=HHI")


def allowedip(net: IPNetwork, remove: bool = False) -> bytes:
    """The nest of one allowed IP as SET_DEVICE takes it."""
    layout, fam = (_AIP_V4, socket.AF_INET) if net.version == 4 else (_AIP_V6, socket.AF_INET6)
    extra = _AIP_FLAGS.pack(_AIP_FLAGS.size, AIP["FLAGS"], F_AIP["REMOVE_ME"]) if remove else b""
    return layout.pack(layout.size + len(extra), NLA_F_NESTED, 6, AIP["FAMILY"], fam,
                       4 + len(net.network_address.packed), AIP["IPADDR"], net.network_address.packed,
                       5, AIP["CIDR_MASK"], net.prefixlen) + extra


def allowedips_from(buf) -> list[IPNetwork]:
    """The networks in an ALLOWEDIPS nest of a dump (attributes in any order)."""
    buf = bytes(buf)
    out: list[IPNetwork] = []
    hdr = NLA_HDR.unpack_from
    a_ip, a_cidr = AIP["IPADDR"], AIP["CIDR_MASK"]
    off, n = 0, len(buf)
    while off + 4 <= n:
        length = hdr(buf, off)[0]
        if length < 4:
            raise IPCError("malformed allowed IP from the kernel", errno_mod.EPROTO)
        p, end = off + 4, min(off + length, n)
        addr, cidr = None, None
        while p + 4 <= end:
            alen, atype = hdr(buf, p)
            if alen < 4:
                raise IPCError("malformed allowed IP from the kernel", errno_mod.EPROTO)
            atype &= NLA_TYPE_MASK
            if atype == a_ip:
                addr = buf[p + 4 : p + alen]
            elif atype == a_cidr:
                cidr = buf[p + 4]
            p += (alen + 3) & ~3
        if addr is None or cidr is None:
            raise IPCError("allowed IP without address or mask from the kernel", errno_mod.EPROTO)
        out.append(ipaddress.IPv4Network((addr, cidr)) if len(addr) == 4 else ipaddress.IPv6Network((addr, cidr)))
        off += (length + 3) & ~3
    return out


# --- message construction ------------------------------------------------------------


def _peer_head(p: Peer, first: bool) -> bytes:
    flags = 0
    if p.remove:
        flags |= F_PEER["REMOVE_ME"]
    if p.update_only:
        flags |= F_PEER["UPDATE_ONLY"]
    if p.replace_allowed_ips and first:
        flags |= F_PEER["REPLACE_ALLOWEDIPS"]
    out = encode("peer", "PUBLIC_KEY", p.public_key)
    if flags:
        out += encode("peer", "FLAGS", flags)
    if not first or p.remove:
        return out
    if p.preshared_key is not None:
        out += encode("peer", "PRESHARED_KEY", p.preshared_key)
    if p.endpoint is not None:
        out += encode("peer", "ENDPOINT", sockaddr(p.endpoint))
    if p.persistent_keepalive is not None:
        out += encode("peer", "PERSISTENT_KEEPALIVE_INTERVAL", p.persistent_keepalive)
    if p.name is not None:
        out += encode("peer", "NAME", p.name)
    return out


def set_messages(dev: Device, removals: dict[bytes, list[IPNetwork]] | None = None) -> list[bytes]:
    """The attribute payloads of the SET_DEVICE messages for one request, in order."""
    ifname = encode("device", "IFNAME", dev.name)
    head = ifname
    if dev.private_key is not None:
        head += encode("device", "PRIVATE_KEY", dev.private_key)
    if dev.listen_port is not None:
        head += encode("device", "LISTEN_PORT", dev.listen_port)
    if dev.fwmark is not None:
        head += encode("device", "FWMARK", dev.fwmark)
    if dev.protocol is not None:
        head += encode("device", "PROTOCOL", PROTOCOL_TO_WIRE[Protocol(dev.protocol)])
    if dev.cipher is not None:
        head += encode("device", "CIPHER", CIPHER_TO_WIRE[Cipher(dev.cipher)])
    if dev.replace_peers:
        head += encode("device", "FLAGS", F_DEV["REPLACE_PEERS"])

    messages: list[bytes] = []
    peers_body: list[bytes] = []
    size = len(head)
    peers_nr = DEV["PEERS"]

    def flush() -> None:
        nonlocal head, peers_body, size
        msg = head + (nest(peers_nr, b"".join(peers_body)) if peers_body else b"")
        messages.append(msg)
        head, peers_body, size = ifname, [], len(ifname)

    items: list[tuple[Peer, list[bytes]]] = [
        (p, [] if p.remove else [allowedip(n) for n in p.allowed_ips]) for p in dev.peers
    ]
    for pk, nets in (removals or {}).items():
        items.append((Peer(public_key=pk, update_only=True), [allowedip(n, remove=True) for n in nets]))

    for p, aips in items:
        first = True
        i = 0
        while True:
            ph = _peer_head(p, first)
            budget = MAX_SET_MSG - size - len(ph) - 16
            if budget < 64 and peers_body:
                flush()
                continue
            chunk: list[bytes] = []
            used = 0
            while i < len(aips) and used + len(aips[i]) <= budget:
                chunk.append(aips[i])
                used += len(aips[i])
                i += 1
            body = ph + (nest(PEER["ALLOWEDIPS"], b"".join(chunk)) if chunk else b"")
            peers_body.append(nla(0 | NLA_F_NESTED, body))
            size += len(body) + 8
            first = False
            if i >= len(aips):
                break
            flush()
    flush()
    return messages


# --- transport -----------------------------------------------------------------------

GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_MCAST_GROUPS = 1, 2, 7
CTRL_ATTR_MCAST_GRP_NAME, CTRL_ATTR_MCAST_GRP_ID = 1, 2
SOL_NETLINK, NETLINK_ADD_MEMBERSHIP = 270, 1


def _ifindex(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError as e:
        raise IPCError(f"{name}: {e.strerror}", e.errno or errno_mod.ENODEV) from None


@dataclass(frozen=True)
class HandshakeUpcall:
    """What the kernel tells the daemon on the ``handshake`` group.

    ``kind`` "handshake": a handshake message arrived (size, mac1 and rate
    checked): ``packet``, its sender ``endpoint`` and ``local``, the address of
    ours it was sent to (port 0; an IPv6 scope is the interface it arrived on;
    None from a module older than the sticky source). "need_handshake": packets
    for ``peer_public_key`` wait for keys, or its keypair is due for a rekey.
    "keys_expired": the kernel zeroed that peer's keypairs. "endpoint_changed":
    the peer roamed to ``endpoint``. "device_changed": the configuration changed
    (re-read it).
    """

    ifindex: int
    endpoint: Endpoint | None
    packet: bytes
    kind: str = "handshake"
    peer_public_key: bytes | None = None
    local: Endpoint | None = None


_UPCALL_KINDS = {
    CMD["HANDSHAKE_UPCALL"]: "handshake",
    CMD["NEED_HANDSHAKE"]: "need_handshake",
    CMD["KEYS_EXPIRED"]: "keys_expired",
    CMD["ENDPOINT_CHANGED"]: "endpoint_changed",
    CMD["DEVICE_CHANGED"]: "device_changed",
}


class HandshakeUpcalls:
    """Subscription to the family's ``handshake`` multicast group (what the daemon reads)."""

    def __init__(self, group: int) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[HandshakeUpcall]:
        """The upcalls in one received buffer (blocks unless the socket is non-blocking)."""
        data = self.sock.recv(1 << 17)
        out: list[HandshakeUpcall] = []
        off = 0
        while off + NLMSG_HDR.size <= len(data):
            length = NLMSG_HDR.unpack_from(data, off)[0]
            if length < NLMSG_HDR.size + GENL_HDR.size:
                break
            cmd = data[off + NLMSG_HDR.size]
            kind = _UPCALL_KINDS.get(cmd)
            if kind:
                d = decode("handshake", data[off + NLMSG_HDR.size + GENL_HDR.size : off + length])
                ep = endpoint_from(d["ENDPOINT"]) if "ENDPOINT" in d else None
                local = endpoint_from(d["LOCAL"]) if "LOCAL" in d else None
                out.append(HandshakeUpcall(d.get("IFINDEX", 0), ep, d.get("PACKET", b""), kind,
                                           d.get("PEER_PUBLIC_KEY"), local))
            off += (length + 3) & ~3
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HandshakeUpcalls:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GenlBackend(ControlBackend):
    """ControlBackend over the ``secureswift`` genetlink family (the kernel module)."""

    kind = "kernel"

    def __init__(self) -> None:
        self._family: int | None = None
        self._ctrl: list[tuple[int, bytes]] = []  # the controller's answer about the family
        self._seq = 0

    def family_id(self) -> int:
        """The family's id, from generic netlink's controller (CTRL_CMD_GETFAMILY)."""
        if self._family is None:
            try:
                replies = self._request(CTRL_CMD_GETFAMILY, nla(CTRL_ATTR_FAMILY_NAME, S.FAMILY_NAME.encode() + b"\0"),
                                        0, family=GENL_ID_CTRL, version=2)
            except IPCError as e:
                raise IPCError(f"generic netlink family {S.FAMILY_NAME!r} not found (is secureswift.ko loaded?)",
                               e.errno or errno_mod.ENOENT) from None
            self._ctrl = replies
            for atype, value in parse(replies[0][1]):
                if atype == CTRL_ATTR_FAMILY_ID:
                    self._family = struct.unpack_from("=H", value)[0]
            if self._family is None:
                raise IPCError(f"{S.FAMILY_NAME}: the controller gave no family id", errno_mod.EPROTO)
        return self._family

    def _request(self, cmd: int, payload: bytes, flags: int, *, family: int | None = None,
                 version: int = S.FAMILY_VERSION) -> list[tuple[int, bytes]]:
        """Send one genetlink request; return [(nlmsg_flags, attribute payload)] of the replies."""
        fam = self.family_id() if family is None else family
        self._seq += 1
        replies = transact(NETLINK_GENERIC, fam, flags, GENL_HDR.pack(cmd, version, 0) + payload, self._seq)
        return [(f, body[GENL_HDR.size :]) for f, body in replies]

    # ControlBackend ----------------------------------------------------------------
    def list_devices(self) -> list[str]:
        """The secureswift links of the caller's namespace (an RTM_GETLINK dump)."""
        self.family_id()  # raises when the module is not loaded
        return links_of_kind(S.FAMILY_NAME)

    def get_device(self, name: str) -> Device:
        for _ in range(DUMP_RETRIES):
            replies = self._request(CMD["GET_DEVICE"], encode("device", "IFNAME", name), NLM_F_DUMP)
            gens = set()
            intr = False
            for flags, payload in replies:
                intr |= bool(flags & NLM_F_DUMP_INTR)
                gens.add(decode("device", payload).get("GENERATION"))
            if not intr and len(gens) <= 1:
                return self._device_from(name, [p for _, p in replies])
        raise IPCError(f"{name}: configuration kept changing during {DUMP_RETRIES} dumps", errno_mod.EAGAIN)

    def _device_from(self, name: str, payloads: list[bytes]) -> Device:
        dev = Device(name=name, status=DeviceStatus(backend="kernel"))
        last: Peer | None = None
        for i, payload in enumerate(payloads):
            d = decode("device", payload)
            if i == 0:
                dev.name = d.get("IFNAME", name)
                dev.private_key = d.get("PRIVATE_KEY")
                dev.public_key = d.get("PUBLIC_KEY")
                dev.listen_port = d.get("LISTEN_PORT", 0)
                dev.fwmark = d.get("FWMARK", 0)
                dev.protocol = PROTOCOL_FROM_WIRE.get(d.get("PROTOCOL"), Protocol.SECURESWIFT)
                dev.cipher = CIPHER_FROM_WIRE.get(d.get("CIPHER"), Cipher.CHACHA20_POLY1305)
                dev.status.handshake = {a.lower(): d[a] for a in HANDSHAKE_COUNTERS if a in d}
            for raw in d.get("PEERS", []):
                p = decode("peer", raw, ("ALLOWEDIPS",))
                pk = p["PUBLIC_KEY"]
                if last is None or last.public_key != pk:
                    last = Peer(public_key=pk, status=PeerStatus())
                    dev.peers.append(last)
                    self._peer_details(last, p)
                if "ALLOWEDIPS" in p:
                    last.allowed_ips.extend(allowedips_from(p["ALLOWEDIPS"]))
        return dev

    @staticmethod
    def _peer_details(peer: Peer, p: dict) -> None:
        peer.preshared_key = p.get("PRESHARED_KEY")
        if "ENDPOINT" in p:
            peer.endpoint = endpoint_from(p["ENDPOINT"])
        peer.persistent_keepalive = p.get("PERSISTENT_KEEPALIVE_INTERVAL", 0)
        peer.name = p.get("NAME")
        st = peer.status
        if "LAST_HANDSHAKE_TIME" in p:
            sec, nsec = struct.unpack("=qq", p["LAST_HANDSHAKE_TIME"])
            st.last_handshake = sec + nsec / 1e9 if (sec or nsec) else None
        st.rx_bytes = p.get("RX_BYTES", 0)
        st.tx_bytes = p.get("TX_BYTES", 0)
        st.rx_packets = p.get("RX_PACKETS", 0)
        st.tx_packets = p.get("TX_PACKETS", 0)

    def set_device(self, device: Device) -> None:
        self._set(device, None)

    def remove_allowed_ips(self, name: str, removals: dict[bytes, list[IPNetwork]]) -> None:
        """Take single prefixes away from existing peers (SSWALLOWEDIP_F_REMOVE_ME)."""
        self._set(Device(name=name), removals)

    def install_keypair(self, name: str, peer_public_key: bytes, *, local_index: int, remote_index: int,
                        send_key: bytes, receive_key: bytes, initiator: bool,
                        cipher: Cipher | str | None = None, endpoint: Endpoint | None = None,
                        local: Endpoint | None = None, rx_handshake_len: int | None = None) -> None:
        """Hand the module a session's transport keys (SSW_CMD_INSTALL_KEYPAIR).

        ``name`` is looked up in the caller's network namespace; ``cipher``
        defaults to the device's suite. ``endpoint``: where the authenticated
        handshake came from; the peer's endpoint moves there once the keys are
        installed, before anything is sent under them (never pass an address
        from an unauthenticated message); ``local``
        (with ``endpoint``): the upcall's ``local`` for that message, which
        becomes the peer's sticky source. ``rx_handshake_len``: the size of the
        peer's handshake message that completed the handshake, counted as received
        from the peer. The daemon's kernel backend calls this for every
        ``KeypairCreated`` event.
        """
        payload = (encode("keypair", "IFINDEX", _ifindex(name)) + encode("keypair", "PEER_PUBLIC_KEY", peer_public_key)
                   + encode("keypair", "LOCAL_INDEX", local_index) + encode("keypair", "REMOTE_INDEX", remote_index)
                   + encode("keypair", "SEND_KEY", send_key) + encode("keypair", "RECEIVE_KEY", receive_key)
                   + encode("keypair", "INITIATOR", int(initiator)))
        if cipher is not None:
            payload += encode("keypair", "CIPHER", CIPHER_TO_WIRE[Cipher(cipher)])
        if endpoint is not None:
            payload += encode("keypair", "ENDPOINT", sockaddr(endpoint))
            if local is not None:
                payload += encode("keypair", "LOCAL", sockaddr(local))
        if rx_handshake_len is not None:
            payload += encode("keypair", "RX_HANDSHAKE_LEN", rx_handshake_len)
        self._request(CMD["INSTALL_KEYPAIR"], payload, 0)

    def xmit_handshake(self, name: str, packet: bytes, *, endpoint: Endpoint | None = None,
                       peer_public_key: bytes | None = None, retransmit: bool = False,
                       local: Endpoint | None = None) -> None:
        """Send a handshake message from the device's UDP socket (SSW_CMD_XMIT_HANDSHAKE),
        to ``endpoint``, or else to the current endpoint of the peer ``peer_public_key``
        (from the peer's sticky source); sent for a known ``peer_public_key``, it counts
        as sent to that peer. ``local`` (with ``endpoint``): send from
        this address of ours while it is ours and routable (an upcall's ``local``).
        ``retransmit`` (needs ``peer_public_key``): the last initiation went
        unanswered, so the kernel forgets its cached source for the peer first."""
        payload = encode("handshake", "IFINDEX", _ifindex(name)) + encode("handshake", "PACKET", packet)
        if endpoint is not None:
            payload += encode("handshake", "ENDPOINT", sockaddr(endpoint))
            if local is not None:
                payload += encode("handshake", "LOCAL", sockaddr(local))
        if peer_public_key is not None:
            payload += encode("handshake", "PEER_PUBLIC_KEY", peer_public_key)
        if retransmit:
            payload += encode("handshake", "FLAGS", S.flagset("handshake").value("RETRANSMIT"))
        self._request(CMD["XMIT_HANDSHAKE"], payload, 0)

    def drop_staged(self, name: str, peer_public_key: bytes) -> None:
        """The handshake with the peer failed for good: the kernel drops the packets
        staged for it, counted in the device's tx_dropped (SSW_CMD_DROP_STAGED)."""
        payload = (encode("handshake", "IFINDEX", _ifindex(name))
                   + encode("handshake", "PEER_PUBLIC_KEY", peer_public_key))
        self._request(CMD["DROP_STAGED"], payload, 0)

    def multicast_group(self, name: str) -> int:
        """The id of one of the family's multicast groups (genetlink controller)."""
        self.family_id()
        for _, payload in self._ctrl:
            for atype, groups in parse(payload):
                if atype != CTRL_ATTR_MCAST_GROUPS:
                    continue
                for _, group in parse(groups):
                    attrs = dict(parse(group))
                    if bytes(attrs[CTRL_ATTR_MCAST_GRP_NAME]).rstrip(b"\0").decode() == name:
                        return struct.unpack("=I", attrs[CTRL_ATTR_MCAST_GRP_ID])[0]
        raise IPCError(f"{S.FAMILY_NAME}: no multicast group {name!r}", errno_mod.ENOENT)

    def handshake_upcalls(self) -> HandshakeUpcalls:
        """A socket subscribed to the ``handshake`` group, in the caller's namespace."""
        return HandshakeUpcalls(self.multicast_group("handshake"))

    def _set(self, device: Device, removals) -> None:
        if not device.name:
            raise IPCError("set_device needs a device name", errno_mod.EINVAL)
        for payload in set_messages(device, removals):
            self._request(CMD["SET_DEVICE"], payload, 0)
