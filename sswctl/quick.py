"""Tunnel bring-up with wg-quick semantics: ``sswctl up``, ``down`` and ``save``.

``up`` reads ``/etc/secureswift/IFACE.conf`` (or a given ``NAME.conf``) and, in
wg-quick's order: runs PreUp, creates the device, applies the wg part of the
config, adds the addresses, sets the MTU and brings the link up, installs DNS,
adds a route per AllowedIPs prefix (longest first), and runs PostUp.

Every change is recorded as its undo step in a journal, persisted after each
step in ``/var/run/secureswift/IFACE.quick`` (0600; ``IFACE@net-INODE.quick``
outside the network namespace of pid 1, as sswctl/daemon/lock.py names locks). ``down`` replays that
journal backwards, so it removes exactly what ``up`` added and nothing else;
a failure in the middle of ``up`` replays it at once (rollback). If a PostUp
command fails, PreDown and PostDown run too (errors ignored), because those
are what undo the PostUp commands that did succeed.

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

import copy
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from . import config
from .commands.strip import CONFIG_DIR
from .errors import RuntimeFailure, UsageError
from .files import private_dir, write_atomic
from .ipc import IPCError, dispatch
from .ipc.uapi import SSW_SOCK_DIR, lock_path
from .model import Device, IPNetwork, Protocol, QuickSettings
from .protocol.constants import DATA_OVERHEAD, IPV6_UDP_OVERHEAD

IFACE_RE = re.compile(r"[a-zA-Z0-9_=+.-]{1,15}")
_CONF_NAME = re.compile(r"(?:^|/)([a-zA-Z0-9_=+.-]{1,15})\.conf$")
FIRST_TABLE = 51820
FALLBACK_MTU = 1500
SRC_VALID_MARK = "/proc/sys/net/ipv4/conf/all/src_valid_mark"


def state_dir() -> str:
    """Where journals live: next to the daemon sockets (tests may override)."""
    return os.environ.get("SSW_STATE_DIR", SSW_SOCK_DIR)


def overhead(protocol: Protocol | None) -> int:
    """Bytes each tunnel packet adds on the path: outer IPv6 + UDP + data header and tag.

    The hybrid handshake changes only handshake messages, so both modes share
    WireGuard's 80 bytes; kept per mode so a future mode can differ.
    """
    return {Protocol.WIREGUARD: IPV6_UDP_OVERHEAD + DATA_OVERHEAD}.get(
        protocol or Protocol.SECURESWIFT, IPV6_UDP_OVERHEAD + DATA_OVERHEAD
    )


# --- running commands --------------------------------------------------------------


def _echo(text: str) -> None:
    print(f"[#] {text}", file=sys.stderr, flush=True)


def run(argv: list[str], *, stdin: str | None = None, quiet: bool = False, check: bool = True) -> str:
    """Run a command; its stdout, or RuntimeFailure with its stderr."""
    if not quiet:
        _echo(" ".join(argv) + ("" if stdin is None else "".join(f"\n[#]   {ln}" for ln in stdin.splitlines())))
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


def link_exists(name: str) -> bool:
    return bool(ip_json("link", "show", "dev", name))


def run_hooks(hooks: list[str], iface: str, *, check: bool = True) -> None:
    """Each hook through bash with ``%i`` replaced by the interface name, as wg-quick."""
    for hook in hooks:
        cmd = hook.replace("%i", iface)
        _echo(cmd)
        rc = subprocess.run(["bash", "-c", cmd], check=False).returncode
        if rc != 0 and check:
            raise RuntimeFailure(f"hook `{cmd}` failed with exit {rc}")


# --- the journal -------------------------------------------------------------------


@dataclass
class Journal:
    """Undo steps of one ``up``, persisted after every change."""

    iface: str
    config_path: str | None = None
    steps: list[dict] = field(default_factory=list)

    @property
    def path(self) -> str:
        # Per network namespace, as the kernel backend's daemon lock: two namespaces
        # may each bring up their own wg0, and each `down` must find its own journal.
        return lock_path(state_dir(), self.iface, per_netns=True, suffix=".quick")

    def add(self, step: dict) -> None:
        self.steps.append(step)
        self.save()

    def save(self) -> None:
        private_dir(state_dir())
        write_atomic(self.path, json.dumps(
            {"interface": self.iface, "config": self.config_path, "undo": self.steps}).encode())

    @classmethod
    def load(cls, iface: str) -> Journal | None:
        j = cls(iface)
        try:
            with open(j.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return cls(iface, data.get("config"), list(data.get("undo", [])))

    def undo(self) -> None:
        """Replay the undo steps newest first; keep going past failures (reported)."""
        while self.steps:
            step = self.steps.pop()
            try:
                _undo_step(step)
            except (RuntimeFailure, IPCError) as e:
                print(f"sswctl: warning: {e}", file=sys.stderr)
            self.save()
        self.discard()

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _undo_step(step: dict) -> None:
    kind = step["kind"]
    if kind == "cmd":
        run(step["argv"], stdin=step.get("stdin"))
    elif kind == "sysctl":
        # Another full tunnel in this namespace still needs the setting.
        if any("not" in r and "fwmark" in r for r in ip_json("-4", "rule", "show")):
            return
        _echo(f"sysctl -q {step['key']}={step['value']}")
        with open(step["path"], "w") as f:
            f.write(step["value"])
    elif kind == "device":
        destroy_device(step["iface"])


# --- device control (create / configure / destroy / read) -----------------------------


def create_device(iface: str, device: Device, backend: str) -> None:
    """Create the interface with the chosen backend (``sswctl create``)."""
    from .commands import create

    create.create(iface, backend=backend, protocol=device.protocol, cipher=device.cipher,
                  listen_port=device.listen_port or 0)


def set_config(iface: str, device: Device) -> None:
    """Replace the running configuration with the config's wg part (``sswctl setconf``)."""
    from .commands import setconf

    setconf.replace(iface, copy.deepcopy(device))  # the request gets defaults, resolved endpoints


def destroy_device(iface: str) -> None:
    from .commands import destroy

    _echo(f"sswctl destroy {iface}")
    destroy.destroy(iface)


def read_device(iface: str) -> Device:
    return dispatch.get_device(iface)


def is_ours(iface: str) -> bool:
    return iface in dict(dispatch.all_devices())


# --- targets ------------------------------------------------------------------------


def resolve_target(target: str) -> tuple[str, str | None]:
    """(interface, config path or None): ``IFACE`` means CONFIG_DIR/IFACE.conf if it exists."""
    if IFACE_RE.fullmatch(target) and not os.path.exists(target):
        path = os.path.join(CONFIG_DIR, f"{target}.conf")
        return target, (path if os.path.exists(path) else None)
    m = _CONF_NAME.search(target)
    if not m:
        raise UsageError(f"{target}: the config file must be an interface name followed by .conf (e.g. ssw0.conf)")
    if not os.path.exists(target):
        raise UsageError(f"{target}: no such file")
    return m.group(1), os.path.realpath(target)


def _warn_world_accessible(path: str) -> None:
    """Warn as wg-quick does when both the file and its directory let others in."""
    if os.stat(path).st_mode & os.stat(os.path.dirname(path)).st_mode & 0o007:
        print(f"Warning: `{path}' is world accessible", file=sys.stderr)


# --- up ------------------------------------------------------------------------------


class _Up:
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
        _echo("sysctl -q net.ipv4.conf.all.src_valid_mark=1")
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


def up(target: str, *, backend: str = "auto", existing: bool = False) -> None:
    """``sswctl up``: bring a tunnel up from its config, or just the link if there is none.

    ``existing`` (for systemd, whose ExecStart already runs the daemon): the
    device exists; apply everything else to it.
    """
    iface, path = resolve_target(target)
    if path is None:
        if not link_exists(iface):
            raise UsageError(f"{iface}: no such interface and no config {CONFIG_DIR}/{iface}.conf")
        run(["ip", "link", "set", "up", "dev", iface])
        return
    _warn_world_accessible(path)
    device, quick = config.load_quick(path)
    stale = Journal.load(iface)
    if stale is not None and (existing or not link_exists(iface)):
        stale.steps = [s for s in stale.steps if s["kind"] != "device"]
        stale.undo()  # leftovers of a tunnel whose device vanished (daemon crash, reboot of /run kept)
    if existing and not link_exists(iface):
        raise RuntimeFailure(f"{iface}: no such interface (--existing expects the daemon to have created it)")
    if not existing and link_exists(iface):
        raise RuntimeFailure(f"`{iface}' already exists; bring it down first (sswctl down {iface})")
    j = Journal(iface, path)
    j.save()
    u = _Up(iface, device, quick, j)
    in_post_up = False
    try:
        if not existing:
            run_hooks(quick.pre_up, iface)
            _echo(f"sswctl create {iface} --backend {backend}")
            create_device(iface, device, backend)
            j.add({"kind": "device", "iface": iface})
        u.pick_fwmark()
        _echo(f"sswctl setconf {iface} <config>")
        set_config(iface, device)
        u.addresses()
        u.mtu()
        u.dns()
        u.routes()
        in_post_up = True
        run_hooks(quick.post_up, iface)
    except BaseException:
        print(f"sswctl: {iface}: bring-up failed; undoing what was done", file=sys.stderr)
        if in_post_up:
            run_hooks(quick.pre_down, iface, check=False)
        j.undo()
        if in_post_up:
            run_hooks(quick.post_down, iface, check=False)
        raise


# --- down / save ---------------------------------------------------------------------


def down(target: str) -> None:
    """``sswctl down``: PreDown, SaveConfig, undo everything ``up`` did, PostDown."""
    iface, path = resolve_target(target)
    j = Journal.load(iface)
    if path is None and j is not None and j.config_path and os.path.exists(j.config_path):
        path = j.config_path
    if not link_exists(iface):
        if j is not None:  # the device died; clean what is left of its tunnel
            j.steps = [s for s in j.steps if s["kind"] != "device"]
            j.undo()
            return
        raise UsageError(f"{iface}: no such interface")
    if not is_ours(iface):
        raise UsageError(f"`{iface}' is not a SecureSwift interface")
    quick = QuickSettings()
    if path:
        try:
            quick = config.load_quick(path)[1]
        except UsageError as e:  # never leave a tunnel half up because its file got a typo
            print(f"sswctl: warning: {e}; hooks and SaveConfig skipped", file=sys.stderr)
    run_hooks(quick.pre_down, iface, check=False)
    if quick.save_config and path:
        save_config(iface, path, quick)
    if j is None:
        j = Journal(iface, path, [{"kind": "device", "iface": iface}])
    elif not any(s["kind"] == "device" for s in j.steps):
        j.steps.insert(0, {"kind": "device", "iface": iface})
    j.undo()
    run_hooks(quick.post_down, iface, check=False)


def running_config(iface: str, template: QuickSettings) -> tuple[Device, QuickSettings]:
    """The running device, and the wg-quick settings: addresses (and a set MTU) from
    the link, the rest from ``template`` (the config file's)."""
    dev = read_device(iface)
    out = Device(
        private_key=dev.private_key, listen_port=dev.listen_port, fwmark=dev.fwmark or None,
        protocol=dev.protocol, cipher=dev.cipher,
    )
    for p in dev.peers:
        p.last_handshake = None
        out.peers.append(p)
    quick = QuickSettings(
        dns=list(template.dns), table=template.table,
        pre_up=list(template.pre_up), post_up=list(template.post_up),
        pre_down=list(template.pre_down), post_down=list(template.post_down),
        save_config=True if template.save_config else None,
    )
    for link in ip_json("address", "show", "dev", iface):
        for a in link.get("addr_info", []):
            if a.get("scope") == "link":
                continue
            quick.addresses.append(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
    if template.mtu is not None:
        links = ip_json("link", "show", "dev", iface)
        quick.mtu = int(links[0]["mtu"]) if links else template.mtu
    return out, quick


def save_config(iface: str, path: str, template: QuickSettings) -> None:
    """Write the running configuration to ``path`` atomically, mode 0600."""
    write_atomic(path, config.write_config(*running_config(iface, template)).encode())


def save(target: str) -> None:
    iface, path = resolve_target(target)
    if path is None:
        j = Journal.load(iface)
        path = j.config_path if j is not None else None
    if path is None:
        raise UsageError(f"{iface}: no config file to save to ({CONFIG_DIR}/{iface}.conf)")
    if not link_exists(iface) or not is_ours(iface):
        raise UsageError(f"`{iface}' is not a SecureSwift interface")
    save_config(iface, path, config.load_quick(path)[1])
