"""The ``sswmon`` command: dashboard, one-shot snapshot, or metrics endpoint.

A thin click layer: every mode is a plain function over a source.
"""

from __future__ import annotations

import json
import os
import sys

import click

from sswctl import __version__

from .source import ALL, BackendSource, MonitorError, StatsSource
from .stats import FRESH, NEVER, Snapshot, Tracker, human_age, human_bytes, peer_label

DEFAULT_METRICS_PORT = 9586  # the port the common WireGuard exporters use


def use_colour(stream=None) -> bool:
    """Colour only on a terminal and only when NO_COLOR is unset (https://no-color.org)."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def format_text(snap: Snapshot, colour: bool = False) -> str:
    """A plain, fixed-width snapshot for humans (``--once`` without ``--json``)."""
    view = Tracker().update(snap)
    lines: list[str] = []
    for i in view.interfaces:
        d = i.device
        lines.append(
            f"interface: {d.name} ({d.status.backend or '?'}, {d.protocol or 'secureswift'}, {d.cipher or '-'})")
        lines.append(f"  listening port: {d.listen_port or '-'}")
        lines.append(f"  transfer: {human_bytes(i.rx_bytes)} received, {human_bytes(i.tx_bytes)} sent")
        lines.append(f"  {'PEER':<20} {'ENDPOINT':<22} {'HANDSHAKE':>9} {'RX':>11} {'TX':>11} {'DROPS':>5}")
        for p in i.peers:
            hs = human_age(p.handshake_age) + ("" if p.freshness in (FRESH, NEVER) else "!")
            hs_cell = f"{hs:>9}"
            if colour:
                hs_cell = click.style(hs_cell, fg={"fresh": "green", "stale": "yellow", "never": None}[p.freshness])
            lines.append(
                f"  {peer_label(p):<20.20} {str(p.peer.endpoint or '-'):<22} {hs_cell}"
                f" {human_bytes(p.peer.status.rx_bytes):>11} {human_bytes(p.peer.status.tx_bytes):>11} {p.drops:>5}"
            )
        lines.append("")
    for name, message in view.errors.items():
        lines.append(f"{name}: {message}")
    return "\n".join(lines).rstrip("\n") + "\n" if lines else ""


def run_once(source: BackendSource, as_json: bool) -> tuple[str, Snapshot]:
    from .export import snapshot_json

    snap = source.check()
    if as_json:
        return json.dumps(snapshot_json(snap), indent=2) + "\n", snap
    return format_text(snap, colour=use_colour()), snap


def run_dashboard(source: StatsSource, interval: float) -> None:
    from .app import Dashboard

    Dashboard(source, interval).run()


def run_prometheus(source: BackendSource, listen: str) -> None:
    from .export import parse_listen, serve

    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--prometheus") from None
    try:
        server = serve(source.snapshot, host, port)
    except OSError as e:
        raise MonitorError(f"cannot listen on {listen}: {e.strerror or e}") from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"sswmon: serving metrics on http://{shown}:{server.server_address[1]}/metrics", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("interface", default=ALL, metavar="[IFACE|all]")
@click.option(
    "-r",
    "--refresh",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Dashboard refresh interval.",
)
@click.option("--once", is_flag=True, help="Print one snapshot and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: JSON (schema in docs/sswmon.md).")
@click.option(
    "--prometheus",
    metavar="[ADDR:]PORT",
    help=f"Serve Prometheus metrics at /metrics (ADDR defaults to 127.0.0.1; usual PORT {DEFAULT_METRICS_PORT}).",
)
@click.version_option(__version__, "--version", prog_name="sswmon")
def command(interface: str, refresh: float, once: bool, as_json: bool, prometheus: str | None) -> None:
    """Live per-peer dashboard for SecureSwift interfaces (default: all)."""
    if as_json and not once:
        raise click.UsageError("--json needs --once")
    if prometheus and once:
        raise click.UsageError("--prometheus and --once are different modes; pick one")
    source = BackendSource(interface)
    if prometheus:
        source.check()  # fail now, not at the first scrape
        run_prometheus(source, prometheus)
    elif once or not stdout_is_terminal():
        # Not a terminal (a pipe, a file, cron): a dashboard makes no sense; print one plain snapshot.
        text, snap = run_once(source, as_json)
        click.echo(text, nl=False)
        if snap.errors:  # with `all`: print what could be read, then fail
            raise MonitorError("could not read " + ", ".join(sorted(snap.errors)))
    else:
        source.check()
        run_dashboard(source, refresh)


def main(argv: list[str] | None = None) -> None:
    command.main(args=argv, prog_name="sswmon")
