"""The steps of ``sswctl up`` on the host, each with its undo step.

In wg-quick's order, as :mod:`.tunnel` calls them: create the device and
apply the config's wg part (through :mod:`sswctl.ipc`), add the addresses,
set the MTU and bring the link up, install DNS, add a route per AllowedIPs
prefix (longest first). Each change is recorded in the :class:`~.journal.Journal`
as the step that undoes it; :func:`undo_step` runs one.

All link, address, route and rule changes go through ``ip`` (iproute2), the
firewall marks through ``nft``, DNS through ``resolvconf`` or ``resolvectl``.
Each command is echoed to stderr as ``[#] ...`` like wg-quick does; none of
them carries key material (keys reach the device through the control socket).

Default routes (a ``/0`` AllowedIP with ``Table = auto``) use wg-quick's
policy routing: the device's FwMark (picked from 51820 up when unset) marks
the tunnel's own UDP, ``not fwmark M lookup M`` sends everything else to
table M where the default route via the tunnel lives, and ``lookup main
suppress_prefixlength 0`` keeps more specific routes of the main table.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from ..errors import RuntimeFailure
from ..ipc import dispatch
from ..model import Device, IPNetwork, Protocol, QuickSettings
from ..protocol.constants import DATA_OVERHEAD, IPV6_UDP_OVERHEAD

if TYPE_CHECKING:
    from .journal import Journal

FIRST_TABLE = 51820
FALLBACK_MTU = 1500
SRC_VALID_MARK = "/proc/sys/net/ipv4/conf/all/src_valid_mark"


def overhead(protocol: Protocol | None) -> int:
    """Bytes each tunnel packet adds on the path: outer IPv6 + UDP + data header and tag.

    The hybrid handshake changes only handshake messages, so both modes share
    WireGuard's 80 bytes; kept per mode so a future mode can differ.
    """
    return {Protocol.WIREGUARD: IPV6_UDP_OVERHEAD + DATA_OVERHEAD}.get(
        protocol or Protocol.SECURESWIFT, IPV6_UDP_OVERHEAD + DATA_OVERHEAD
    )


# --- running commands --------------------------------------------------------------


def echo(text: str) -> None:
    print(f"[#] {text}", file=sys.stderr, flush=True)


def run(argv: list[str], *, stdin: str | None = None, quiet: bool = False, check: bool = True) -> str:
    """Run a command; its stdout, or RuntimeFailure with its stderr."""
    if not quiet:
        echo(" ".join(argv) + ("" if stdin is None else "".join(f"\n[#]   {ln}" for ln in stdin.splitlines())))
    try:
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RuntimeFailure(f"{argv[0]}: command not found") from None
    if check and p.returncode != 0:
        raise RuntimeFailure(f"`{' '.join(argv)}` failed: {p.stderr.strip() or f'exit {p.returncode}'}")
    return p.stdout


def ip_json(*args: str) -> list[dict]:
    out = run(["ip", "-j", *args], quiet=True, check=False)
    try:
        return json.loads(out) if out.strip() else []
    except json.JSONDecodeError:
        return []


def run_hooks(hooks: list[str], iface: str, *, check: bool = True) -> None:
    """Each hook through bash with ``%i`` replaced by the interface name, as wg-quick."""
    for hook in hooks:
        cmd = hook.replace("%i", iface)
        echo(cmd)
        rc = subprocess.run(["bash", "-c", cmd], check=False).returncode
        if rc != 0 and check:
            raise RuntimeFailure(f"hook `{cmd}` failed with exit {rc}")


# --- device control (create / configure / destroy / read) -----------------------------


def create_device(iface: str, device: Device, backend: str) -> None:
    """Create the interface with the chosen backend (as ``sswctl create``)."""
    dispatch.create_device(iface, backend=backend, protocol=device.protocol, cipher=device.cipher,
                           listen_port=device.listen_port or 0)


def set_config(iface: str, device: Device) -> None:
    """Make the config's wg part the interface's whole configuration (as ``sswctl setconf``)."""
    dispatch.replace_config(device.replace(name=iface))


def destroy_device(iface: str) -> None:
    echo(f"sswctl destroy {iface}")
    dispatch.destroy_device(iface)


def read_device(iface: str) -> Device:
    return dispatch.get_device(iface)


def is_ours(iface: str) -> bool:
    return iface in dict(dispatch.all_devices())


# --- the steps ----------------------------------------------------------------------


class Steps:
    """The host changes of one ``up`` of IFACE, each recorded in the journal as its undo."""

    def __init__(self, iface: str, device: Device, quick: QuickSettings, journal: Journal):
        self.iface = iface
        self.dev = device
        self.quick = quick
        self.j = journal

    def cmd(self, argv: list[str], undo: list[str] | None, stdin: str | None = None) -> None:
        run(argv, stdin=stdin)
        if undo is not None:
            self.j.add({"kind": "cmd", "argv": undo})

    def addresses(self) -> None:
        for a in self.quick.addresses:
            fam = "-6" if a.version == 6 else "-4"
            self.cmd(["ip", fam, "address", "add", str(a), "dev", self.iface],
                     ["ip", fam, "address", "del", str(a), "dev", self.iface])

    def mtu(self) -> None:
        mtu = self.quick.mtu or auto_mtu(self.iface, self.dev)
        self.cmd(["ip", "link", "set", "mtu", str(mtu), "up", "dev", self.iface], None)

    def dns(self) -> None:
        if not self.quick.dns:
            return
        servers = [d for d in self.quick.dns if _is_ip(d)]
        search = [d for d in self.quick.dns if not _is_ip(d)]
        if shutil.which("resolvconf"):
            name = resolvconf_name(self.iface)
            text = "".join(f"nameserver {s}\n" for s in servers) + (f"search {' '.join(search)}\n" if search else "")
            self.cmd(["resolvconf", "-a", name, "-m", "0", "-x"], ["resolvconf", "-d", name, "-f"], stdin=text)
        elif shutil.which("resolvectl"):
            if servers:
                self.cmd(["resolvectl", "dns", self.iface, *servers], ["resolvectl", "revert", self.iface])
            domains = search + (["~."] if self._default_route() else [])
            if domains:
                self.cmd(["resolvectl", "domain", self.iface, *domains], ["resolvectl", "revert", self.iface])
        else:
            raise RuntimeFailure("DNS is set but neither resolvconf nor resolvectl is installed")

    def _default_route(self) -> bool:
        return any(n.prefixlen == 0 for n in self._prefixes())

    def _prefixes(self) -> list[IPNetwork]:
        nets = {n for p in self.dev.peers for n in p.allowed_ips}
        return sorted(nets, key=lambda n: (-n.prefixlen, n.version, int(n.network_address)))

    def routes(self) -> None:
        table = self.quick.table or "auto"
        if table == "off":
            return
        for net in self._prefixes():
            fam = "-6" if net.version == 6 else "-4"
            if table != "auto":
                self.cmd(["ip", fam, "route", "add", str(net), "dev", self.iface, "table", table],
                         ["ip", fam, "route", "del", str(net), "dev", self.iface, "table", table])
            elif net.prefixlen == 0:
                self.default_route(net)
            elif not ip_json(fam, "route", "show", "dev", self.iface, "match", str(net)):
                self.cmd(["ip", fam, "route", "add", str(net), "dev", self.iface],
                         ["ip", fam, "route", "del", str(net), "dev", self.iface])

    def pick_fwmark(self) -> None:
        """A full tunnel needs a FwMark; choose a free table number and send it with the config.

        Sent in the same set request as the rest of the config (wg-quick sets it
        afterwards) so the daemon binds its sockets with the mark only once.
        """
        if self.dev.fwmark or (self.quick.table or "auto") != "auto" or not self._default_route():
            return
        table = FIRST_TABLE
        while any(ip_json(fam, "route", "show", "table", str(table)) for fam in ("-4", "-6")):
            table += 1
        self.dev.fwmark = table

    def default_route(self, net: IPNetwork) -> None:
        table = str(self.dev.fwmark)
        fam, pf = ("-6", "ip6") if net.version == 6 else ("-4", "ip")
        if net.version == 4:
            self.src_valid_mark()  # first, so that its undo runs after the rules are gone
        self.cmd(["ip", fam, "route", "add", str(net), "dev", self.iface, "table", table],
                 ["ip", fam, "route", "del", str(net), "dev", self.iface, "table", table])
        self.cmd(["ip", fam, "rule", "add", "not", "fwmark", table, "table", table],
                 ["ip", fam, "rule", "del", "not", "fwmark", table, "table", table])
        self.cmd(["ip", fam, "rule", "add", "table", "main", "suppress_prefixlength", "0"],
                 ["ip", fam, "rule", "del", "table", "main", "suppress_prefixlength", "0"])
        self.firewall(net.version, pf, table)

    def firewall(self, version: int, pf: str, mark: str) -> None:
        """wg-quick's nft table: drop spoofed packets to our addresses, keep the mark on replies."""
        if not shutil.which("nft"):
            print("sswctl: warning: nft not found; no anti-spoofing or connmark rules", file=sys.stderr)
            return
        t = f"secureswift-{self.iface}"
        rules = [
            f"add table {pf} {t}",
            f"add chain {pf} {t} preraw {{ type filter hook prerouting priority -300; }}",
            f"add chain {pf} {t} premangle {{ type filter hook prerouting priority -150; }}",
            f"add chain {pf} {t} postmangle {{ type filter hook postrouting priority -150; }}",
        ]
        for a in self.quick.addresses:
            if a.version == version:
                rules.append(f'add rule {pf} {t} preraw iifname != "{self.iface}" {pf} daddr {a.ip} '
                             "fib saddr type != local drop")
        rules += [
            f"add rule {pf} {t} postmangle meta l4proto udp mark {mark} ct mark set mark",
            f"add rule {pf} {t} premangle meta l4proto udp meta mark set ct mark",
        ]
        self.cmd(["nft", "-f", "-"], ["nft", "delete", "table", pf, t], stdin="\n".join(rules) + "\n")

    def src_valid_mark(self) -> None:
        with open(SRC_VALID_MARK) as f:
            old = f.read().strip()
        if old == "1":
            return
        echo("sysctl -q net.ipv4.conf.all.src_valid_mark=1")
        with open(SRC_VALID_MARK, "w") as f:
            f.write("1")
        self.j.add({"kind": "sysctl", "path": SRC_VALID_MARK, "key": "net.ipv4.conf.all.src_valid_mark",
                    "value": old})


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolvconf_name(iface: str) -> str:
    """The resolvconf record name, with Debian's interface-order prefix as wg-quick uses."""
    try:
        with open("/etc/resolvconf/interface-order") as f:
            for line in f:
                m = re.fullmatch(r"([A-Za-z0-9-]+)\*", line.strip())
                if m:
                    return f"{m.group(1)}.{iface}"
    except OSError:
        pass
    return iface


def _route_mtu(argv: list[str]) -> int | None:
    routes = ip_json(*argv)
    if not routes:
        return None
    r = routes[0]
    for m in r.get("metrics", []):
        if isinstance(m, dict) and "mtu" in m:
            return int(m["mtu"])
    if "mtu" in r:
        return int(r["mtu"])
    if r.get("dev"):
        links = ip_json("link", "show", "dev", r["dev"])
        if links and "mtu" in links[0]:
            return int(links[0]["mtu"])
    return None


def auto_mtu(iface: str, device: Device) -> int:
    """Lowest path MTU toward the peers' endpoints (else the default route's), minus overhead."""
    mtus = []
    for p in device.peers:
        if p.endpoint is not None and _is_ip(p.endpoint.host):
            m = _route_mtu(["route", "get", p.endpoint.host])
            if m:
                mtus.append(m)
    if not mtus:
        m = _route_mtu(["route", "show", "default"])
        if m:
            mtus.append(m)
    return (min(mtus) if mtus else FALLBACK_MTU) - overhead(device.protocol)


def undo_step(step: dict) -> None:
    kind = step["kind"]
    if kind == "cmd":
        run(step["argv"], stdin=step.get("stdin"))
    elif kind == "sysctl":
        # Another full tunnel in this namespace still needs the setting.
        if any("not" in r and "fwmark" in r for r in ip_json("-4", "rule", "show")):
            return
        echo(f"sysctl -q {step['key']}={step['value']}")
        with open(step["path"], "w") as f:
            f.write(step["value"])
    elif kind == "device":
        destroy_device(step["iface"])


