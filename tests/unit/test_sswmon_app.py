"""The Textual dashboard, headless, against an in-memory source with a fixed clock.

The refresh timer is disabled (interval 0): each test advances the source's
clock and calls ``app.poll()`` itself, so every figure on screen is exact.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading

from textual.widgets import DataTable, Input, Static

from sswctl.model import Cipher, Device, DeviceStatus, Endpoint, Peer, PeerStatus, Protocol
from sswmon.app import Dashboard, HelpScreen
from sswmon.memory import MemorySource
from sswmon.stats import human_bytes

T0 = 1_700_000_000.0


def _source() -> MemorySource:
    peers = [
        Peer(
            bytes([1]) * 32,
            name="alice",
            endpoint=Endpoint("192.0.2.1", 51820),
            allowed_ips=[ipaddress.ip_network("10.0.0.2/32")],
            persistent_keepalive=25,
            status=PeerStatus(last_handshake=T0 - 12, rx_bytes=1000, tx_bytes=1000),
        ),
        Peer(
            bytes([2]) * 32,
            name="bob",
            endpoint=Endpoint("192.0.2.2", 51820),
            allowed_ips=[ipaddress.ip_network("10.0.0.3/32")],
            status=PeerStatus(last_handshake=T0 - 242, drops={"replay": 3}),
        ),
        Peer(bytes([3]) * 32, name="carol", allowed_ips=[ipaddress.ip_network("10.0.0.4/32")], status=PeerStatus()),
    ]
    dev = Device(
        name="ssw0",
        public_key=bytes([9]) * 32,
        listen_port=51820,
        protocol=Protocol.SECURESWIFT,
        cipher=Cipher.CHACHA20_POLY1305,
        peers=peers,
        status=DeviceStatus(backend="userspace"),
    )
    return MemorySource([dev], now=T0)


def run(test, size=(160, 40), source=None):
    """Run ``test(app, pilot, source)`` inside a headless dashboard."""
    source = source or _source()

    async def main():
        app = Dashboard(source, interval=0)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await test(app, pilot, source)

    asyncio.run(main())


def table(app) -> DataTable:
    return app.query_one("#peers", DataTable)


def rows(app) -> list[dict[str, str]]:
    """The table as the user sees it: column key -> cell text, in display order."""
    t = table(app)
    keys = [c.key.value for c in t.ordered_columns]
    return [{k: str(cell) for k, cell in zip(keys, t.get_row_at(i), strict=True)} for i in range(t.row_count)]


def column(app, key: str) -> list[str]:
    return [r[key] for r in rows(app)]


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def test_rows_handshake_freshness_rates_and_sparkline():
    async def check(app, pilot, src):
        assert column(app, "peer") == ["alice", "bob", "carol"]
        assert column(app, "handshake") == ["12s", "!4m02s", "never"]
        assert column(app, "rx_rate") == ["-", "-", "-"]  # one sample: no rate yet
        t = table(app)
        styles = [
            str(t.get_row_at(i)[[c.key.value for c in t.ordered_columns].index("handshake")].style) for i in range(3)
        ]
        assert styles[0] == "green" and "yellow" in styles[1] and "dim" in styles[2]

        for rx in (64 << 10, 128 << 10, 256 << 10):
            src.tick(1.0, {"alice": (rx, 512)})
            await app.poll()
        alice = rows(app)[0]
        assert alice["rx_rate"] == "256.00 KiB" and alice["tx_rate"] == "512 B"
        assert alice["rx"] == human_bytes(1000 + (448 << 10))
        # rx+tx per second was 66048, 131584, 262656: 7 levels above the floor give 1.8, 3.5, 7.
        assert alice["trend"] == "       ▃▅█"
        assert rows(app)[2]["trend"] == "       ▁▁▁"
        assert alice["endpoint"] == "192.0.2.1:51820" and alice["keepalive"] == "25"
        assert rows(app)[1]["drops"] == "3"

        src.tick(200.0)
        await app.poll()
        assert column(app, "handshake") == ["!3m35s", "!7m25s", "never"]  # 12+3+200, 242+3+200

    run(check)


def test_header_shows_interface_mode_port_key_totals_and_rates():
    async def check(app, pilot, src):
        src.tick(2.0, {"alice": (2048, 0)})
        await app.poll()
        header = text_of(app, "#headers")
        assert "ssw0" in header and "userspace · secureswift · chacha20-poly1305 · port 51820" in header
        assert "key CQkJCQkJ…" in header
        assert "peers 3 (1 fresh)" in header
        assert "rx 2.98 KiB @ 1.00 KiB/s" in header  # 1000 + 2048 bytes; 2048 over 2 s

    run(check)


def test_counter_reset_shows_unknown_rate_not_a_negative_one():
    async def check(app, pilot, src):
        src.tick(1.0, {"alice": (5000, 0)})
        await app.poll()
        src.peer("alice").status.rx_bytes = 10
        src.tick(1.0)
        await app.poll()
        assert rows(app)[0]["rx_rate"] == "-"
        src.tick(1.0, {"alice": (100, 0)})
        await app.poll()
        assert rows(app)[0]["rx_rate"] == "100 B"

    run(check)


def test_sort_keys_and_header_click():
    async def check(app, pilot, src):
        src.tick(1.0, {"carol": (9000, 0), "alice": (10, 0)})
        await app.poll()
        assert app.sort_key == "peer"
        await pilot.press("r")
        assert column(app, "peer") == ["carol", "bob", "alice"]
        await pilot.press("r")
        visible = [c.key.value for c in table(app).ordered_columns]
        await pilot.press("s")  # next visible column after "peer"
        assert app.sort_key == visible[visible.index("peer") + 1] == "endpoint"
        assert column(app, "peer") == ["carol", "alice", "bob"]  # no endpoint sorts first
        # Sort by handshake age: freshest first, never-connected last.
        while app.sort_key != "handshake":
            await pilot.press("s")
        assert column(app, "peer") == ["alice", "bob", "carol"]
        assert str(table(app).columns[table(app).ordered_columns[visible.index("handshake")].key].label) == (
            "Handshake↑"
        )
        # Clicking a header sorts by that column.
        table(app).post_message(
            DataTable.HeaderSelected(table(app), table(app).ordered_columns[visible.index("rx_rate")].key, 0, None)
        )
        await pilot.pause()
        assert app.sort_key == "rx_rate"
        assert column(app, "peer") == ["bob", "alice", "carol"]  # 0, 10, 9000 B/s

    run(check)


def test_filter_narrows_rows_and_escape_clears():
    async def check(app, pilot, src):
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        assert box.has_focus and box.display
        await pilot.press(*"10.0.0.3")
        assert column(app, "peer") == ["bob"]
        await pilot.press("enter")
        assert not box.display and column(app, "peer") == ["bob"]
        assert "filter: '10.0.0.3'" in text_of(app, "#status")
        await pilot.press("slash", "ctrl+u", *"AL")  # names match case-insensitively
        assert column(app, "peer") == ["alice"]
        await pilot.press("escape")
        assert column(app, "peer") == ["alice", "bob", "carol"] and not box.display

    run(check)


def test_pause_freezes_the_view_until_resumed():
    async def check(app, pilot, src):
        await pilot.press("p")
        assert "PAUSED" in text_of(app, "#status")
        reads = src.reads
        src.tick(1.0, {"alice": (1 << 20, 0)})
        await app.poll()
        assert src.reads == reads and rows(app)[0]["rx"] == "1000 B"
        await pilot.press("p")
        await app.poll()
        assert "PAUSED" not in text_of(app, "#status")
        assert rows(app)[0]["rx"] == human_bytes(1000 + (1 << 20)) and rows(app)[0]["rx_rate"] == "1.00 MiB"

    run(check)


def test_help_overlay_opens_and_closes():
    async def check(app, pilot, src):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "sort by the next column" in str(app.screen.query_one("#help-text", Static).render())
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    run(check)


def test_quit_key_exits():
    async def check(app, pilot, src):
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running

    run(check)


def test_resize_to_80x24_keeps_the_essential_columns_and_scales_up():
    async def check(app, pilot, src):
        wide = [c.key.value for c in table(app).ordered_columns]
        assert wide == [
            "peer",
            "endpoint",
            "allowed",
            "handshake",
            "rx",
            "tx",
            "rx_rate",
            "tx_rate",
            "trend",
            "keepalive",
            "drops",
        ]
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        narrow = [c.key.value for c in table(app).ordered_columns]
        assert {"peer", "handshake", "rx_rate", "tx_rate", "trend"} <= set(narrow)
        t = table(app)
        used = sum(c.get_render_width(t) for c in t.ordered_columns)
        assert used <= 78  # fits beside the scrollbar: no horizontal scrolling at 80 columns
        assert column(app, "handshake") == ["12s", "!4m02s", "never"]
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        assert [c.key.value for c in table(app).ordered_columns] == wide

    run(check)


def test_two_interfaces_add_an_interface_column_and_headers():
    src = _source()
    src.devices.append(Device(name="ssw1", peers=[Peer(bytes([4]) * 32, name="dave", status=PeerStatus())],
                              status=DeviceStatus(backend="kernel")))

    async def check(app, pilot, src):
        assert column(app, "iface") == ["ssw0", "ssw0", "ssw0", "ssw1"]
        header = text_of(app, "#headers")
        assert "ssw0" in header and "ssw1  kernel" in header

    run(check, source=src)


def test_unreadable_interface_is_shown_not_fatal():
    async def check(app, pilot, src):
        src.errors = {"ssw0": "ssw0: no such SecureSwift interface"}
        saved, src.devices = src.devices, []
        await app.poll()
        assert "ssw0: no such SecureSwift interface" in text_of(app, "#headers")
        assert table(app).row_count == 0
        src.errors, src.devices = {}, saved
        await app.poll()
        assert table(app).row_count == 3

    run(check)


def test_a_poll_while_a_slow_read_is_in_flight_is_skipped():
    class Slow(MemorySource):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.release = threading.Event()

        def snapshot(self):
            assert self.release.wait(10)
            return super().snapshot()

    base = _source()
    slow = Slow(base.devices, now=T0)
    slow.release.set()

    async def check(app, pilot, src):
        src.release.clear()
        first = asyncio.ensure_future(app.poll())
        await asyncio.sleep(0.05)
        reads = src.reads
        await app.poll()  # returns at once: the first read is still running
        assert src.reads == reads and not first.done()
        src.release.set()
        await first
        assert src.reads == reads + 1

    run(check, source=slow)


def test_no_color_env_makes_textual_render_monochrome(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert Dashboard(_source(), interval=0).no_color is True
    monkeypatch.delenv("NO_COLOR")
    assert Dashboard(_source(), interval=0).no_color is False
