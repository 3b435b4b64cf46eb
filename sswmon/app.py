"""The live dashboard (Textual).

The app only draws: it asks its source for a snapshot every refresh, hands it
to a :class:`~sswmon.stats.Tracker`, and renders the resulting view. Colour is
never the only signal: a stale handshake is also marked with ``!`` so the
dashboard reads the same under NO_COLOR (Textual then renders monochrome).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from .source import StatsSource
from .stats import (
    FRESH,
    NEVER,
    SPARK_FLOOR,
    STALE,
    InterfaceStats,
    PeerStats,
    Tracker,
    View,
    human_age,
    human_bytes,
    peer_label,
    short_key,
    sparkline,
)


def _rate(r: float | None) -> str:
    return "-" if r is None else human_bytes(r)


def _handshake_cell(p: PeerStats) -> Text:
    if p.freshness == NEVER:
        return Text("never", style="dim italic")
    if p.freshness == STALE:
        return Text("!" + human_age(p.handshake_age), style="bold yellow")
    return Text(human_age(p.handshake_age), style="green")


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int
    priority: int  # 0 always shown; higher numbers drop out first on narrow terminals
    cell: Any  # PeerStats -> str | Text
    sort: Any  # PeerStats -> comparable


def _age_sort(p: PeerStats) -> float:
    return float("inf") if p.handshake_age is None else p.handshake_age


COLUMNS = (
    Col("iface", "If", 8, 1, lambda p: p.interface, lambda p: p.interface),
    Col("peer", "Peer", 14, 0, peer_label, lambda p: peer_label(p).lower()),
    Col("endpoint", "Endpoint", 21, 4, lambda p: str(p.peer.endpoint or "-"), lambda p: str(p.peer.endpoint or "")),
    Col(
        "allowed",
        "Allowed IPs",
        18,
        4,
        lambda p: ",".join(map(str, p.peer.allowed_ips)) or "-",
        lambda p: ",".join(map(str, p.peer.allowed_ips)),
    ),
    Col("handshake", "Handshake", 9, 0, _handshake_cell, _age_sort),
    Col("rx", "RX", 10, 3, lambda p: human_bytes(p.peer.status.rx_bytes), lambda p: p.peer.status.rx_bytes),
    Col("tx", "TX", 10, 3, lambda p: human_bytes(p.peer.status.tx_bytes), lambda p: p.peer.status.tx_bytes),
    Col("rx_rate", "RX/s", 10, 0, lambda p: _rate(p.rx_rate), lambda p: p.rx_rate or 0.0),
    Col("tx_rate", "TX/s", 10, 0, lambda p: _rate(p.tx_rate), lambda p: p.tx_rate or 0.0),
    Col(
        "trend",
        "Trend",
        10,
        1,
        lambda p: sparkline(p.history, 10, SPARK_FLOOR),
        lambda p: p.history[-1] if p.history else 0.0,
    ),
    Col(
        "keepalive",
        "KA",
        4,
        5,
        lambda p: str(p.peer.persistent_keepalive or "off"),
        lambda p: p.peer.persistent_keepalive or 0,
    ),
    Col("drops", "Drops", 6, 2, lambda p: str(p.drops), lambda p: p.drops),
)
CELL_PADDING = 2  # DataTable pads each cell by one column on both sides


def fit_columns(width: int, multi_interface: bool) -> list[Col]:
    """The columns that fit ``width`` terminal cells.

    Columns of one priority come and go together (RX with TX), lowest
    priority first; priority 0 is always shown.
    """
    candidates = [c for c in COLUMNS if multi_interface or c.key != "iface"]
    budget = width - 2  # vertical scrollbar
    chosen: set[str] = set()
    for level in sorted({c.priority for c in candidates}):
        group = [c for c in candidates if c.priority == level]
        need = sum(c.width + CELL_PADDING for c in group)
        if level == 0 or need <= budget:
            chosen.update(c.key for c in group)
            budget -= need
    return [c for c in candidates if c.key in chosen]


def interface_header(i: InterfaceStats) -> Text:
    d = i.device
    fresh = sum(1 for p in i.peers if p.freshness == FRESH)
    text = Text()
    # Style changes only at word starts: some SVG renderers drop a segment's leading spaces.
    text.append(f"{d.name}  ", style="bold")
    text.append(f"{d.status.backend or '?'} · {d.protocol or 'secureswift'} · {d.cipher or '-'}")
    text.append(f" · port {d.listen_port or '-'} · key {short_key(d.public_key)}\n")
    text.append(f"  peers {len(i.peers)} ({fresh} fresh)")
    text.append(f"  rx {human_bytes(i.rx_bytes)} @ {_rate(i.rx_rate)}/s")
    text.append(f"  tx {human_bytes(i.tx_bytes)} @ {_rate(i.tx_rate)}/s")
    return text


HELP_TEXT = """\
[b]sswmon keys[/b]

  [b]s[/b]        sort by the next column
  [b]r[/b]        reverse the sort order
  click    a column header sorts by it
  [b]/[/b]        filter peers (name, key, endpoint, allowed IPs);
           Enter keeps the filter, Escape clears it
  [b]p[/b] space  pause / resume refreshing
  [b]?[/b]        this help (Escape or ? closes it)
  [b]q[/b]        quit

[b]Handshake column[/b]
  12s      fresh (within 3 minutes)
  !4m02s   stale: older than 3 minutes, the session has expired
  never    no handshake since the peer was added

Rates are computed from counter deltas between refreshes;
'-' means not known yet (first sample, or the counters were reset).
The trend sparkline shows RX+TX rate over the last refreshes."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: auto; max-width: 100%; height: auto; max-height: 100%;
                          border: round $accent; padding: 0 1; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        yield Static(HELP_TEXT, id="help-text")


class Dashboard(App[None]):
    TITLE = "sswmon"
    AUTO_FOCUS = "#peers"
    CSS = """
    #headers { height: auto; max-height: 50%; padding: 0 1; }
    #status { height: 1; padding: 0 1; background: $boost; }
    #peers { height: 1fr; }
    #filter { dock: bottom; display: none; }
    #filter.visible { display: block; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("s", "sort_next", "Sort"),
        Binding("r", "sort_reverse", "Reverse"),
        Binding("slash", "filter", "Filter"),
        Binding("p,space", "pause", "Pause"),
        Binding("question_mark", "help", "Help"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, source: StatsSource, interval: float = 1.0, tracker: Tracker | None = None):
        super().__init__()
        self.source = source
        self.interval = interval
        self.tracker = tracker or Tracker()
        self.view: View | None = None
        self.paused = False
        self.sort_key = "peer"
        self.sort_reverse = False
        self.filter_text = ""
        self._columns: list[Col] = []
        self._width = 0
        self._reading = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="headers")
            yield Static(id="status")
            yield DataTable(id="peers", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter peers…", id="filter")
        yield Footer()

    async def on_mount(self) -> None:
        await self.poll()
        if self.interval > 0:
            self.set_interval(self.interval, self.poll)

    # -- data --

    async def poll(self) -> None:
        """Take a snapshot (off the event loop: a slow daemon must not freeze keys) and redraw."""
        if self.paused or self._reading:
            return  # a slow read still in flight: never apply snapshots out of order
        self._reading = True
        try:
            snap = await asyncio.to_thread(self.source.snapshot)
        finally:
            self._reading = False
        if self.paused:  # paused while the read was in flight
            return
        self.view = self.tracker.update(snap)
        self.redraw()

    def visible_peers(self) -> list[PeerStats]:
        if self.view is None:
            return []
        peers = self.view.peers
        needle = self.filter_text.lower()
        if needle:
            peers = [p for p in peers if needle in _haystack(p)]
        col = next((c for c in COLUMNS if c.key == self.sort_key), COLUMNS[1])
        return sorted(peers, key=col.sort, reverse=self.sort_reverse)

    # -- drawing --

    def redraw(self) -> None:
        view = self.view
        if view is None:
            return
        headers = Text("\n").join(interface_header(i) for i in view.interfaces)
        for name, message in view.errors.items():
            headers.append(("\n" if headers else "") + f"{name}: {message}", style="bold red")
        if not view.interfaces and not view.errors:
            headers = Text("no SecureSwift interfaces are running", style="dim")
        self.query_one("#headers", Static).update(headers)
        self._draw_status()
        self._draw_table()

    def _draw_status(self) -> None:
        bits = []
        if self.paused:
            bits.append("PAUSED")
        arrow = "↓" if self.sort_reverse else "↑"
        bits.append(f"sort: {self.sort_key}{arrow}")
        if self.filter_text:
            bits.append(f"filter: {self.filter_text!r}")
        bits.append("? help")
        self.query_one("#status", Static).update("  ".join(bits))

    def _draw_table(self) -> None:
        table = self.query_one("#peers", DataTable)
        multi = self.view is not None and len(self.view.interfaces) > 1
        columns = fit_columns(self._width or self.size.width, multi)
        if [c.key for c in columns] != [c.key for c in self._columns]:
            table.clear(columns=True)
            for c in columns:
                table.add_column(c.label + self._sort_mark(c), key=c.key, width=c.width)
            self._columns = columns
        keep = None
        if table.row_count and table.cursor_row < table.row_count:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for p in self.visible_peers():
            table.add_row(*(c.cell(p) for c in columns), key=_row_key(p))
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))

    def _sort_mark(self, c: Col) -> str:
        return ("↓" if self.sort_reverse else "↑") if c.key == self.sort_key else ""

    def _retitle(self) -> None:
        self._columns = []  # column labels carry the sort arrow: rebuild them
        self.redraw()

    def on_resize(self, event: events.Resize) -> None:
        # App.size still holds the old size while this event is handled.
        self._width = event.size.width
        self.redraw()

    # -- actions --

    def action_sort_next(self) -> None:
        keys = [c.key for c in self._columns] or [c.key for c in COLUMNS]
        i = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.sort_key = keys[(i + 1) % len(keys)]
        self._retitle()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._retitle()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._retitle()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._draw_status()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.value = self.filter_text
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("visible")
        self.filter_text = ""
        self.query_one("#peers", DataTable).focus()
        self.redraw()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("visible")
        self.query_one("#peers", DataTable).focus()


def _row_key(p: PeerStats) -> str:
    return f"{p.interface}/{base64.b64encode(p.peer.public_key).decode()}"


def _haystack(p: PeerStats) -> str:
    parts = [
        p.peer.name or "",
        base64.b64encode(p.peer.public_key).decode(),
        str(p.peer.endpoint or ""),
        " ".join(map(str, p.peer.allowed_ips)),
        p.interface,
    ]
    return " ".join(parts).lower()
