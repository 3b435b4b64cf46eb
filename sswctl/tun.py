"""A layer-3 TUN device: packets in and out as plain IPv4/IPv6 bytes.

The device is created non-persistent (no TUNSETPERSIST), so the kernel
removes it the moment its last file descriptor closes: a daemon that dies
cannot leave a stale interface behind. The descriptor is close-on-exec so
no child process can keep the interface alive.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import TYPE_CHECKING

from .paths import DEFAULT_MTU, check_ifname

if TYPE_CHECKING:  # typing.Self is Python 3.11+; annotations are strings here
    from typing import Self

# pyroute2 is imported where a TUN device is made: importing it costs more than the
# rest of the daemon, and the kernel backend (which imports this module) never needs it.

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
TX_QUEUE_LEN = 2000


class TunError(OSError):
    """The TUN device could not be created or configured."""


class Tun:
    """An open TUN device (IFF_TUN | IFF_NO_PI), non-blocking.

    With ``offload=True`` every read and write carries a 10-byte virtio-net
    header and the kernel may hand over (and accept) TCP super-packets of up
    to 64 KiB (TSO), which the native data plane cuts and glues in C
    (sswctl/_datapath/offload.c). ``self.vnet`` says
    whether that framing is on.
    """

    def __init__(self, name: str, mtu: int = DEFAULT_MTU, up: bool = True, offload: bool = False):
        check_ifname(name)
        self.name = name
        self.vnet = offload
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
            ifr = struct.pack("16sH22x", name.encode(), flags)
            try:
                fcntl.ioctl(self.fd, TUNSETIFF, ifr)
            except OSError as e:
                why = "already exists and is busy" if e.errno == errno.EBUSY else e.strerror
                raise TunError(e.errno, f"cannot create TUN {name}: {why}") from None
            self.offloads = 0
            if offload:
                for want in (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM, 0):
                    try:
                        fcntl.ioctl(self.fd, TUNSETOFFLOAD, want)
                    except OSError:
                        continue
                    self.offloads = want
                    break
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=name)
                if not idx:
                    raise TunError(errno.ENODEV, f"TUN {name} vanished after creation")
                self.ifindex = idx[0]
                # A longer queue than tun's default 500: the daemon reads in
                # batches, and drops here would look like loss to TCP.
                ipr.link("set", index=self.ifindex, mtu=mtu, txqlen=TX_QUEUE_LEN)
                if up:
                    ipr.link("set", index=self.ifindex, state="up")
            self.mtu = mtu
        except BaseException:
            os.close(self.fd)
            raise

    def fileno(self) -> int:
        return self.fd

    def read(self, size: int = 65536) -> bytes:
        return os.read(self.fd, size)

    def write(self, packet: bytes) -> int:
        return os.write(self.fd, packet)

    def set_mtu(self, mtu: int) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            ipr.link("set", index=self.ifindex, mtu=mtu)
        self.mtu = mtu

    def close(self) -> None:
        if self.fd < 0:
            return
        # Non-persistent: the kernel deletes the link with its last fd.
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
