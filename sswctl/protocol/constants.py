"""Wire constants and protocol timers.

Sources: the WireGuard paper (J. A. Donenfeld, "WireGuard: Next Generation
Kernel Network Tunnel", NDSS 2017, section 6 "Timers" and table of
constants) and Linux drivers/net/wireguard/messages.h, whose names are kept
here so a reader can compare line by line. The SecureSwift-mode values are
this project's own (docs/protocol.md).
"""

from __future__ import annotations

# --- timers and limits (WireGuard paper section 6; messages.h) -------------
REKEY_AFTER_MESSAGES = 1 << 60
# The paper's value. (The Linux driver uses U64_MAX - COUNTER_WINDOW_SIZE - 1,
# 66 higher; both stop long before the 64-bit nonce could repeat.)
REJECT_AFTER_MESSAGES = (1 << 64) - (1 << 13) - 1
REKEY_TIMEOUT = 5.0
REKEY_TIMEOUT_JITTER_MAX = 1.0 / 3.0  # kernel: HZ / 3
KEEPALIVE_TIMEOUT = 10.0
REKEY_AFTER_TIME = 120.0
REJECT_AFTER_TIME = 180.0
REKEY_ATTEMPT_TIME = 90.0
INITIATIONS_PER_SECOND = 50
MAX_PEERS_PER_DEVICE = 1 << 20
MAX_TIMER_HANDSHAKES = int(REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)  # 18
MAX_QUEUED_INCOMING_HANDSHAKES = 4096
MAX_STAGED_PACKETS = 128
COOKIE_SECRET_MAX_AGE = 120.0
COOKIE_SECRET_LATENCY = 5.0
# A received initiation is processed only if the previous one from the same
# peer is older than this (messages.h: NSEC_PER_SEC / INITIATIONS_PER_SECOND).
INITIATION_MIN_INTERVAL = 1.0 / INITIATIONS_PER_SECOND
# Keys are zeroed this long after the last session was derived.
ZERO_KEYS_AFTER = REJECT_AFTER_TIME * 3

# --- replay window (kernel noise.h: COUNTER_BITS_TOTAL 8192) ----------------
COUNTER_BITS_TOTAL = 8192
COUNTER_WORD_BITS = 64  # BITS_PER_LONG on the 64-bit kernels we support
COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - COUNTER_WORD_BITS  # 8128

# --- sizes --------------------------------------------------------------
KEY_LEN = 32
HASH_LEN = 32
MAC_LEN = 16
AEAD_TAG_LEN = 16
TIMESTAMP_LEN = 12  # TAI64N
COOKIE_LEN = 16
COOKIE_NONCE_LEN = 24
MLKEM768_PUBLIC_KEY_LEN = 1184
MLKEM768_CIPHERTEXT_LEN = 1088
MLKEM768_SHARED_SECRET_LEN = 32

# WireGuard mode message types (messages.h MESSAGE_HANDSHAKE_INITIATION ...).
WG_TYPE_INITIATION = 1
WG_TYPE_RESPONSE = 2
WG_TYPE_COOKIE_REPLY = 3
WG_TYPE_DATA = 4
# SecureSwift mode message types.
SSW_TYPE_INITIATION = 0x11
SSW_TYPE_RESPONSE = 0x12
SSW_TYPE_COOKIE_REPLY = 0x13
SSW_TYPE_DATA = 0x14

# WireGuard mode message sizes (bytes on the wire, UDP payload).
WG_INITIATION_LEN = 4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16  # 148
WG_RESPONSE_LEN = 4 + 4 + 4 + 32 + 16 + 16 + 16  # 92
COOKIE_REPLY_LEN = 4 + 4 + 24 + (16 + 16)  # 64, both modes
# SecureSwift mode: WireGuard's fields plus the ML-KEM public key / ciphertext.
SSW_INITIATION_LEN = WG_INITIATION_LEN + MLKEM768_PUBLIC_KEY_LEN  # 1332
SSW_RESPONSE_LEN = WG_RESPONSE_LEN + MLKEM768_CIPHERTEXT_LEN  # 1180

# Transport data: type|reserved(3)|receiver u32 LE|counter u64 LE, then
# AEAD(plaintext zero-padded to a multiple of 16) with a 16-byte tag.
DATA_HEADER_LEN = 16
DATA_MIN_LEN = DATA_HEADER_LEN + AEAD_TAG_LEN  # 32 = a keepalive
DATA_OVERHEAD = DATA_HEADER_LEN + AEAD_TAG_LEN  # per-packet crypto overhead, 32
PADDING_MULTIPLE = 16
# Outer headers on the path (used for MTU arithmetic, not by the engine).
IPV4_UDP_OVERHEAD = 20 + 8
IPV6_UDP_OVERHEAD = 40 + 8
# Largest UDP payload on a 1500-byte path with an IPv6 outer header.
MAX_UNFRAGMENTED_PAYLOAD = 1500 - IPV6_UDP_OVERHEAD  # 1452

assert SSW_INITIATION_LEN <= MAX_UNFRAGMENTED_PAYLOAD
assert SSW_RESPONSE_LEN <= MAX_UNFRAGMENTED_PAYLOAD
