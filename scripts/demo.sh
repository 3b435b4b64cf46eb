#!/usr/bin/env bash
# SecureSwift demo: two network namespaces joined by a veth pair, a hybrid
# (X25519 + ML-KEM-768) tunnel between them on the userspace backend, a
# handshake, pings, a short iperf3 run and `sswctl show` on both sides.
# Everything it creates is removed on exit, Ctrl-C or failure (trap below).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
SSWCTL=("$PY" -m sswctl)
NS_A=ssw-demo-a NS_B=ssw-demo-b
IF_A=sswdemoA IF_B=sswdemoB
TMP="$(mktemp -d /tmp/ssw-demo.XXXXXX)"
IPERF_PID=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

cleanup() {
    set +e
    trap - EXIT INT TERM
    [ -n "$IPERF_PID" ] && kill "$IPERF_PID" 2>/dev/null
    # Each interface is a name in its namespace: destroy it from there.
    in_a "${SSWCTL[@]}" destroy "$IF_A" >/dev/null 2>&1
    in_b "${SSWCTL[@]}" destroy "$IF_B" >/dev/null 2>&1
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    rm -rf "$TMP"
    echo "== cleaned up (namespaces, daemons, keys)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "make demo needs root (namespaces, TUN)" >&2; exit 1; }
for tool in ip iperf3 ping; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run make deps" >&2; exit 1; }
done
# Leftovers of an earlier, killed run.
ip netns del "$NS_A" 2>/dev/null || true
ip netns del "$NS_B" 2>/dev/null || true

say "two namespaces joined by veth: $NS_A (192.168.88.1) <-> $NS_B (192.168.88.2)"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add va netns "$NS_A" type veth peer name vb netns "$NS_B"
in_a ip addr add 192.168.88.1/24 dev va && in_a ip link set va up && in_a ip link set lo up
in_b ip addr add 192.168.88.2/24 dev vb && in_b ip link set vb up && in_b ip link set lo up

say "keys (sswctl genkey / pubkey) and a preshared key"
umask 077
"${SSWCTL[@]}" genkey > "$TMP/a.key"
"${SSWCTL[@]}" genkey > "$TMP/b.key"
"${SSWCTL[@]}" genpsk > "$TMP/psk"
PUB_A="$("${SSWCTL[@]}" pubkey < "$TMP/a.key")"
PUB_B="$("${SSWCTL[@]}" pubkey < "$TMP/b.key")"
echo "A public key: $PUB_A"
echo "B public key: $PUB_B"

say "userspace daemons (sswctl daemon --background), protocol secureswift"
in_a "${SSWCTL[@]}" daemon "$IF_A" --background --protocol secureswift >/dev/null
in_b "${SSWCTL[@]}" daemon "$IF_B" --background --protocol secureswift >/dev/null
in_a "${SSWCTL[@]}" set "$IF_A" private-key "$TMP/a.key" listen-port 51801 \
    peer "$PUB_B" preshared-key "$TMP/psk" endpoint 192.168.88.2:51802 allowed-ips 10.88.0.2/32 name peer-b
in_b "${SSWCTL[@]}" set "$IF_B" private-key "$TMP/b.key" listen-port 51802 \
    peer "$PUB_A" preshared-key "$TMP/psk" endpoint 192.168.88.1:51801 allowed-ips 10.88.0.1/32 name peer-a
in_a ip addr add 10.88.0.1/24 dev "$IF_A"
in_b ip addr add 10.88.0.2/24 dev "$IF_B"

say "handshake: the first packet from A starts it (hybrid Noise IKpsk2 + ML-KEM-768)"
in_a ping -c 1 -W 5 10.88.0.2 >/dev/null
in_a "${SSWCTL[@]}" show "$IF_A" latest-handshakes
in_a "${SSWCTL[@]}" status "$IF_A"

say "ping through the tunnel"
in_a ping -c 3 -i 0.2 10.88.0.2

say "iperf3, 3 seconds, A -> B"
in_b iperf3 -s -1 -B 10.88.0.2 >/dev/null 2>&1 &
IPERF_PID=$!
sleep 0.5
in_a iperf3 -c 10.88.0.2 -t 3 | tail -n 4
wait "$IPERF_PID" 2>/dev/null || true
IPERF_PID=""

say "sswctl show $IF_A (in $NS_A)"
in_a "${SSWCTL[@]}" show "$IF_A"
say "sswctl show $IF_B (in $NS_B)"
in_b "${SSWCTL[@]}" show "$IF_B"
