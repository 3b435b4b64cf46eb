"""Handshake floods for the tests and benchmarks: real, mac1-valid messages
sent from many spoofed sources by a small C sender (tests/tools/hsflood.c).

    from tests.floodgen import flood, initiation
    msg = initiation(server_public, "secureswift")
    r = flood("10.0.0.1", 51820, msg, sources=2000, src_base="198.18.0.1",
              rate=20000, count=200000, seconds=10, netns="attacker")
    r["sent"], r["errors"], r["elapsed"]

The sender forges source addresses (raw sockets): the test routes those
prefixes toward the flooder's namespace, so that the target's replies
(cookie replies) go somewhere real and are dropped there.

``python -m tests.floodgen --build`` compiles the sender ahead of time (the
VM harness does, since the guest sees this tree read-only).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "tools" / "hsflood.c"


def _build_dirs() -> list[Path]:
    """Where the binary may live: the tree's untracked tests/.build, then /tmp."""
    return [HERE / ".build", Path(tempfile.gettempdir()) / "ssw-tests-build"]


def hsflood_path() -> str:
    """The compiled sender, built on first use (keyed by its source's hash)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    name = f"hsflood-{digest}"
    for d in _build_dirs():
        if (d / name).is_file() and os.access(d / name, os.X_OK):
            return str(d / name)
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("hsflood needs a C compiler (cc)")
    errors = []
    for d in _build_dirs():
        try:
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / f".{name}.{os.getpid()}"
            subprocess.run([cc, "-O2", "-Wall", "-Werror", "-o", str(tmp), str(SOURCE)],
                           check=True, capture_output=True, text=True)
            tmp.replace(d / name)
            return str(d / name)
        except OSError as e:  # read-only tree (the VM guest): next place
            errors.append(f"{d}: {e}")
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"building {SOURCE} failed:\n{e.stderr}") from e
    raise RuntimeError("cannot build hsflood: " + "; ".join(errors))


def initiation(server_public: bytes, protocol: str = "secureswift") -> bytes:
    """A real handshake initiation toward ``server_public`` from a throwaway
    identity: mac1 is valid (it needs only the server's public key); the
    server cannot know the sender, so only a full handshake would reject it."""
    from sswctl.keys import generate_private_key
    from sswctl.protocol import Engine, Transmit

    now = time.monotonic()
    eng = Engine(generate_private_key(), protocol, wall_offset=time.time() - now)
    eng.add_peer(server_public, endpoint=("192.0.2.1", 51820))
    for ev in eng.initiate(server_public, now):
        if isinstance(ev, Transmit):
            return bytes(ev.data)
    raise AssertionError("the engine sent no initiation")


class Flood:
    """A running hsflood (a real process), from ``start`` until ``stop``: for tests
    that flood for as long as something else takes, however slow the machine.
    ``nice`` 19 stands for an attacker on another machine: its CPU is not the server's.

    ``seconds`` (and ``count``) still bound it, so a test that dies without calling
    ``stop`` leaves no flood behind for long."""

    def __init__(self, dst: str, port: int, payload: bytes, *, sources: int, src_base: str,
                 rate: int = 0, count: int | None = None, seconds: float | None = None,
                 netns: str | None = None, nice: int = 0):
        if count is None and seconds is None:
            raise ValueError("a flood needs count or seconds")
        self._payload = tempfile.NamedTemporaryFile(prefix="ssw-flood-", suffix=".msg")
        self._payload.write(payload)
        self._payload.flush()
        argv = [hsflood_path(), "--dst", dst, "--port", str(port), "--src-base", src_base,
                "--sources", str(sources), "--payload", self._payload.name, "--rate", str(rate)]
        if count is not None:
            argv += ["--count", str(count)]
        if seconds is not None:
            argv += ["--seconds", str(seconds)]
        if nice:
            argv = ["nice", "-n", str(nice)] + argv
        if netns is not None:
            argv = ["ip", "netns", "exec", netns] + argv
        # ip netns exec and nice exec what follows: stop()'s signal reaches hsflood itself
        self.limit = (seconds or 0) + 60 + (count or 0) / 1000
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> dict:
        """Until the flood ends by itself (count or seconds); its report."""
        try:
            out, err = self.proc.communicate(timeout=self.limit)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._payload.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"hsflood failed ({self.proc.returncode}): {err.strip()}")
        return json.loads(out)

    def stop(self) -> dict:
        """End the flood now (SIGTERM: hsflood stops sending and reports)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.wait()


def flood(dst: str, port: int, payload: bytes, *, sources: int, src_base: str, rate: int = 0,
          count: int | None = None, seconds: float | None = None,
          netns: str | None = None) -> dict:
    """Send ``payload`` to dst:port from ``sources`` forged addresses (blocking).
    Stops after ``count`` datagrams or ``seconds``, whichever comes first; ``rate``
    0 is as fast as the sender can. Returns {"sent", "errors", "elapsed", "start",
    "end", "stopped"} (start and end on time.monotonic()'s clock)."""
    return Flood(dst, port, payload, sources=sources, src_base=src_base, rate=rate, count=count,
                 seconds=seconds, netns=netns).wait()


if __name__ == "__main__":
    if sys.argv[1:] == ["--build"]:
        print(hsflood_path())
    else:
        sys.exit("usage: python -m tests.floodgen --build")
