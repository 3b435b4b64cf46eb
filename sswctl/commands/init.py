"""``sswctl init server|client|examples``: a fresh keypair and a ready config.

- ``server``: private key, ListenPort, Address, and PostUp/PostDown that
  turn on forwarding and masquerade the tunnel's subnets out of the uplink
  (the interface of the default route unless ``--uplink`` names one).
- ``client``: private key, Address, DNS, and a [Peer] for the server from
  its public key and endpoint; prints the [Peer] block to add on the server.
- ``examples``: copies the example configs of a directory (conf/ in the
  source tree) with every example key replaced by a freshly generated one,
  consistently, so pairs of examples still match each other.

Files are written mode 0600 (the directory is created 0700) and never
overwritten without ``--force``. Nothing secret is printed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess

from .. import config, keys
from ..errors import UsageError
from ..files import private_dir
from ..model import Device, Peer, QuickSettings
from ..paths import CONF_IFACE_RE, CONFIG_DIR
from . import Command, Param

ROLES = ("server", "client", "examples")
# Where `make install` puts conf/; `init examples` reads ./conf first when run in a checkout.
EXAMPLE_DIRS = ("conf", "/usr/local/share/secureswift/examples")


def _write_new(path: str, text: str, force: bool) -> None:
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; not overwriting it (use --force)")
    directory = os.path.dirname(path) or "."
    if directory == CONFIG_DIR or not os.path.isdir(directory):
        private_dir(directory)  # ours: created 0700, or checked when it exists
    keys.write_secret_file(path, text)


def _value(parse, text: str, what: str):
    try:
        return parse(text)
    except config.ValueProblem as e:
        raise UsageError(f"{what}: {e}") from None


def default_uplink() -> str:
    """The interface of the IPv4 default route (else IPv6)."""
    for fam in ("-4", "-6"):
        out = subprocess.run(["ip", "-j", fam, "route", "show", "default"], capture_output=True, text=True).stdout
        for route in json.loads(out or "[]"):
            if route.get("dev"):
                return route["dev"]
    raise UsageError("no default route to find the uplink interface; name it with --uplink")


def nat_hooks(addresses: list, uplink: str) -> tuple[list[str], list[str]]:
    """PostUp/PostDown masquerading the tunnel subnets out of ``uplink`` (one nft table per interface)."""
    table = "inet secureswift-nat-%i"
    rules = [f"add table {table}",
             f"add chain {table} post {{ type nat hook postrouting priority srcnat; }}"]
    sysctls = []
    for a in addresses:
        fam = "ip6" if a.version == 6 else "ip"
        rules.append(f'add rule {table} post oifname "{uplink}" {fam} saddr {a.network} masquerade')
        sysctls.append("net.ipv6.conf.all.forwarding=1" if a.version == 6 else "net.ipv4.ip_forward=1")
    post_up = [f"sysctl -q -w {s}" for s in dict.fromkeys(sysctls)]
    post_up.append(f"nft '{'; '.join(rules)}'")
    return post_up, [f"nft delete table {table}"]


def _server(iface: str, address: str, port: int, uplink: str | None, protocol: str) -> tuple[str, str]:
    priv = keys.generate_private_key()
    dev = Device(private_key=priv, listen_port=port, protocol=config.parse_protocol(protocol))
    quick = QuickSettings(addresses=_value(config.parse_addresses, address, "--address"))
    quick.post_up, quick.post_down = nat_hooks(quick.addresses, uplink or default_uplink())
    head = (f"# SecureSwift server {iface}, made by `sswctl init server`.\n"
            f"# Public key (give it to clients): {keys.to_base64(keys.public_key(priv))}\n"
            "# Add one [Peer] per client (`sswctl init client` prints it).\n")
    note = (f"Server public key: {keys.to_base64(keys.public_key(priv))}\n"
            f"Clients: sswctl init client --server-key KEY --endpoint THIS_HOST:{port}\n")
    return head + config.write_config(dev, quick), note


def _client(iface: str, address: str, server_key: str | None, endpoint: str | None, allowed_ips: str,
            dns: str | None, keepalive: int, protocol: str) -> tuple[str, str]:
    if not server_key or not endpoint:
        raise UsageError("init client needs --server-key and --endpoint (the server's public key and HOST:PORT)")
    priv = keys.generate_private_key()
    dev = Device(private_key=priv, protocol=config.parse_protocol(protocol))
    quick = QuickSettings(addresses=_value(config.parse_addresses, address, "--address"),
                          dns=_value(config.parse_dns, dns, "--dns") if dns else [])
    dev.peers.append(Peer(public_key=_value(lambda v: config.parse_key(v, "--server-key"), server_key, "--server-key"),
                          endpoint=_value(config.parse_endpoint, endpoint, "--endpoint"),
                          allowed_ips=_value(config.parse_allowed_ips, allowed_ips, "--allowed-ips"),
                          persistent_keepalive=keepalive or None, name="server"))
    host_routes = ", ".join(str(ipaddress.ip_network(a.ip)) for a in quick.addresses)
    peer_block = (f"[Peer]\n# Name = {iface}\nPublicKey = {keys.to_base64(keys.public_key(priv))}\n"
                  f"AllowedIPs = {host_routes}\n")
    return f"# SecureSwift client {iface}, made by `sswctl init client`.\n" + config.write_config(dev, quick), (
        "Add this to the server's config (then `systemctl reload secureswift@IFACE` there):\n\n" + peer_block)


def fresh_examples(texts: dict[str, str]) -> dict[str, str]:
    """The example configs with every key replaced by a new one, pairs kept matching.

    Private keys get new private keys and the matching public keys follow them
    in every file; a public key of a peer no example holds the private key of,
    and each preshared key, get one new value used everywhere it appears.
    """
    devices = {name: config.parse_config(text, name, config.QUICK) for name, text in texts.items()}
    subst: dict[str, str] = {}
    for dev in devices.values():
        if dev.private_key is not None and keys.to_base64(dev.private_key) not in subst:
            new = keys.generate_private_key()
            subst[keys.to_base64(dev.private_key)] = keys.to_base64(new)
            subst[keys.to_base64(keys.public_key(dev.private_key))] = keys.to_base64(keys.public_key(new))
    for dev in devices.values():
        for p in dev.peers:
            old_pub = keys.to_base64(p.public_key)
            subst.setdefault(old_pub, keys.to_base64(keys.public_key(keys.generate_private_key())))
            if p.preshared_key is not None:
                subst.setdefault(keys.to_base64(p.preshared_key), keys.to_base64(keys.generate_preshared_key()))
    out = {}
    for name, text in texts.items():
        for old, new in subst.items():
            text = text.replace(old, new)
        out[name] = text
    return out


def _examples(source: str, directory: str, force: bool) -> str:
    try:
        names = sorted(n for n in os.listdir(source) if n.endswith(".conf"))
    except OSError as e:
        raise UsageError(f"cannot read {source}: {e.strerror}") from None
    if not names:
        raise UsageError(f"{source}: no .conf examples")
    texts = {}
    for n in names:
        with open(os.path.join(source, n), "rb") as f:
            texts[n] = config.decode_config(f.read(), os.path.join(source, n))
    fresh = fresh_examples(texts)
    targets = [os.path.join(directory, n) for n in names]
    clash = [t for t in targets if os.path.exists(t)]
    if clash and not force:
        raise UsageError(f"{clash[0]} exists; not overwriting it (use --force)")
    for n, t in zip(names, targets, strict=True):
        _write_new(t, fresh[n], True)
    return "".join(f"wrote {t}\n" for t in targets)


def init(role: str, iface: str = "ssw0", directory: str | None = None, address: str | None = None,
         port: int = 51820, uplink: str | None = None, server_key: str | None = None, endpoint: str | None = None,
         allowed_ips: str = "0.0.0.0/0, ::/0", dns: str | None = None, keepalive: int = 25,
         protocol: str = "secureswift", source: str | None = None, force: bool = False) -> str:
    directory = directory or CONFIG_DIR
    if role == "examples":
        source = source or next((d for d in EXAMPLE_DIRS if os.path.isdir(d)), EXAMPLE_DIRS[-1])
        return _examples(source, directory, force)
    if not CONF_IFACE_RE.fullmatch(iface):
        raise UsageError(f"invalid interface name {iface!r}")
    path = os.path.join(directory, f"{iface}.conf")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; not overwriting it (use --force)")
    if role == "server":
        text, note = _server(iface, address or "10.99.0.1/24, fd99::1/64", port, uplink, protocol)
    else:
        text, note = _client(iface, address or "10.99.0.2/32, fd99::2/128", server_key, endpoint, allowed_ips,
                             dns, keepalive, protocol)
    _write_new(path, text, force)
    return f"wrote {path} (mode 0600)\n{note}"


COMMAND = Command(
    name="init",
    run=init,
    help=(
        "Generate a keypair and a ready config: `init server` (address, port, NAT for the uplink), "
        "`init client --server-key KEY --endpoint HOST:PORT`, or `init examples` (the example configs "
        "with freshly generated keys). Files are 0600; existing files are kept unless --force."
    ),
    params=(
        Param("role", choices=ROLES, metavar="server|client|examples"),
        Param("iface", flags=("--iface", "-i"), default="ssw0", required=False,
              help="Interface name; the config is DIR/IFACE.conf (default ssw0)."),
        Param("directory", flags=("--dir",), required=False, help="Where to write (default /etc/secureswift)."),
        Param("address", flags=("--address",), required=False,
              help="Tunnel address(es) (server default 10.99.0.1/24, fd99::1/64; client .2)."),
        Param("port", flags=("--port",), kind="int", default=51820, required=False, help="Server ListenPort."),
        Param("uplink", flags=("--uplink",), required=False,
              help="Server: interface to masquerade out of (default: that of the default route)."),
        Param("server_key", flags=("--server-key",), required=False, help="Client: the server's public key."),
        Param("endpoint", flags=("--endpoint",), required=False, help="Client: the server's HOST:PORT."),
        Param("allowed_ips", flags=("--allowed-ips",), default="0.0.0.0/0, ::/0", required=False,
              help="Client: what to route through the tunnel (default everything)."),
        Param("dns", flags=("--dns",), required=False, help="Client: DNS servers/search domains while up."),
        Param("keepalive", flags=("--keepalive",), kind="int", default=25, required=False,
              help="Client: PersistentKeepalive seconds (0 = off)."),
        Param("protocol", flags=("--protocol",), choices=("secureswift", "wireguard"), default="secureswift",
              required=False),
        Param("source", flags=("--from",), required=False,
              help="examples: directory of example configs (default ./conf, else the installed examples)."),
        Param("force", flags=("--force",), kind="flag", help="Overwrite existing files."),
    ),
)
