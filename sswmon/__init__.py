"""sswmon: a live per-peer dashboard for SecureSwift interfaces.

Layers, each usable on its own:

- :mod:`sswmon.source`: where snapshots come from (a ControlBackend, or an
  in-memory source in tests). A snapshot is the shared model's ``Device``
  objects plus the time they were read.
- :mod:`sswmon.stats`: pure bookkeeping over successive snapshots: rates from
  counter deltas (reset-safe), rate history for sparklines, handshake freshness.
- :mod:`sswmon.export`: the one-shot JSON document and Prometheus exposition.
- :mod:`sswmon.app`: the Textual dashboard; :mod:`sswmon.cli`: the command.
"""
