"""wg-quick for SecureSwift: ``sswctl up``, ``down`` and ``save`` (docs/quick.md).

- :mod:`.tunnel`: what the commands do, in wg-quick's order: bring a tunnel
  up from its config (rolling back on failure), take it down, save it.
- :mod:`.netconf`: each step on the host and how it is undone: the device
  (through :mod:`sswctl.ipc`), addresses, MTU, DNS, routes and policy rules,
  nftables marks, the sysctl; ``ip``, ``nft``, ``resolvconf``/``resolvectl``.
- :mod:`.journal`: the undo log of one ``up``, kept on disk so that ``down``
  removes exactly what ``up`` added.
"""
