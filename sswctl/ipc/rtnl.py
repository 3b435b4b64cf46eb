"""Links over rtnetlink: ``ip link add NAME type secureswift``, ``ip link del``,
and the list of the namespace's links of one kind.

This is how ``sswctl create``/``destroy`` make and remove a kernel interface
(the module's ``rtnl_link_ops``) and how the kernel backend lists its devices.
Errors are :class:`~sswctl.ipc.IPCError` carrying the kernel's errno, with a
message fit for the user.
"""

from __future__ import annotations

import os
import socket
import struct

from . import IPCError
from .genl_schema import FAMILY_NAME
from .netlink import NLM_F_DUMP, nest, nla, parse, transact

NETLINK_ROUTE, RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 0, 16, 17, 18
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFINFOMSG = struct.Struct("=BxHiII")
IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 18, 1


def _link_by_name(name: str) -> bytes:
    return IFINFOMSG.pack(0, 0, 0, 0, 0) + nla(IFLA_IFNAME, name.encode() + b"\0")


def link_exists(name: str) -> bool:
    """Whether this network namespace has a link called ``name`` (of any kind)."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def create_link(name: str, kind: str = FAMILY_NAME) -> None:
    """``ip link add NAME type KIND`` (RTM_NEWLINK, NLM_F_EXCL): IPCError with the
    kernel's errno (EEXIST, EOPNOTSUPP when the module is not loaded, EPERM...)."""
    body = _link_by_name(name) + nest(IFLA_LINKINFO, nla(IFLA_INFO_KIND, kind.encode()))
    try:
        transact(NETLINK_ROUTE, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, 1)
    except IPCError as e:
        raise IPCError(f"cannot create {name} with the kernel backend: {os.strerror(e.errno)}", e.errno) from None


def delete_link(name: str) -> None:
    """``ip link del NAME`` (RTM_DELLINK by name): IPCError ENODEV when there is none."""
    try:
        transact(NETLINK_ROUTE, RTM_DELLINK, 0, _link_by_name(name), 1)
    except IPCError as e:
        raise IPCError(f"cannot delete {name}: {os.strerror(e.errno)}", e.errno) from None


def links_of_kind(kind: str = FAMILY_NAME) -> list[str]:
    """Names of the caller's namespace's links of ``kind``, sorted (an RTM_GETLINK dump)."""
    names = []
    for _, body in transact(NETLINK_ROUTE, RTM_GETLINK, NLM_F_DUMP, IFINFOMSG.pack(0, 0, 0, 0, 0), 1):
        attrs = dict(parse(body[IFINFOMSG.size :]))
        info = dict(parse(attrs[IFLA_LINKINFO])) if IFLA_LINKINFO in attrs else {}
        if bytes(info.get(IFLA_INFO_KIND, b"")).rstrip(b"\0") == kind.encode():
            names.append(bytes(attrs[IFLA_IFNAME]).rstrip(b"\0").decode())
    return sorted(names)
