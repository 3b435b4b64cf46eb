"""Wire constants of both protocol modes: the one source.

Every constant below is on the wire or bounds what goes on it: message
types and sizes, labels, timers and limits. tools/gen_wire.py writes them
into secureswift_kmod/wire.h, which the kernel module includes and the
userspace data plane includes too (sswctl/_datapath/dp.h); Python imports
them from here (sswctl.protocol.constants re-exports them). Change a value
here, run tools/gen_wire.py, and both C planes follow;
tests/unit/test_wire.py fails while a generated header is stale.

Rules the generator relies on: one ``NAME = value  # comment`` per
constant (the comment becomes the C comment), ``# ---`` lines start a
section, values are ints, whole-second floats or bytes. The C name is
``SSW_`` + NAME unless C_NAMES says otherwise; names in PYTHON_ONLY stay
out of C.

Sources: the WireGuard paper (J. A. Donenfeld, "WireGuard: Next Generation
Kernel Network Tunnel", NDSS 2017: section 5.4 messages, section 6 timers)
and Linux drivers/net/wireguard/messages.h, whose names are kept so a
reader can compare line by line. The secureswift-mode values are this
project's own (docs/protocol.md).
"""

from __future__ import annotations

# --- message types: the first byte of every datagram (paper 5.4; the modes never share one)
WG_TYPE_INITIATION = 1  # wireguard handshake initiation (messages.h MESSAGE_HANDSHAKE_INITIATION)
WG_TYPE_RESPONSE = 2  # wireguard handshake response (MESSAGE_HANDSHAKE_RESPONSE)
WG_TYPE_COOKIE_REPLY = 3  # wireguard cookie reply (MESSAGE_HANDSHAKE_COOKIE)
WG_TYPE_DATA = 4  # wireguard transport data (MESSAGE_DATA)
SSW_TYPE_INITIATION = 0x11  # secureswift initiation (carries the ML-KEM public key)
SSW_TYPE_RESPONSE = 0x12  # secureswift response (carries the ML-KEM ciphertext)
SSW_TYPE_COOKIE_REPLY = 0x13  # secureswift cookie reply
SSW_TYPE_DATA = 0x14  # secureswift transport data

# --- field sizes in bytes (paper 5.4; messages.h NOISE_*_LEN)
KEY_LEN = 32  # Curve25519 public/private keys and symmetric keys
HASH_LEN = 32  # BLAKE2s-256 output
MAC_LEN = 16  # mac1 and mac2, the last 32 bytes of a handshake message
AEAD_TAG_LEN = 16  # Poly1305 / GCM authentication tag
TIMESTAMP_LEN = 12  # TAI64N in the initiation
COOKIE_LEN = 16  # a cookie, the key of mac2
COOKIE_NONCE_LEN = 24  # XChaCha20-Poly1305 nonce of a cookie reply
LABEL_LEN = 8  # every mac1/cookie key label below
MLKEM768_PUBLIC_KEY_LEN = 1184  # FIPS 203 ML-KEM-768 encapsulation key
MLKEM768_CIPHERTEXT_LEN = 1088  # FIPS 203 ML-KEM-768 ciphertext
MLKEM768_SHARED_SECRET_LEN = 32  # FIPS 203 ML-KEM-768 shared secret

# --- handshake message sizes (UDP payload; docs/protocol.md section 2)
WG_INITIATION_LEN = 4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16  # 148: type, sender, ephemeral, static, time, macs
WG_RESPONSE_LEN = 4 + 4 + 4 + 32 + 16 + 16 + 16  # 92: type, sender, receiver, ephemeral, empty, macs
COOKIE_REPLY_LEN = 4 + 4 + 24 + (16 + 16)  # 64 in both modes: type, receiver, nonce, sealed cookie
SSW_INITIATION_LEN = WG_INITIATION_LEN + MLKEM768_PUBLIC_KEY_LEN  # 1332: wireguard's plus the ML-KEM public key
SSW_RESPONSE_LEN = WG_RESPONSE_LEN + MLKEM768_CIPHERTEXT_LEN  # 1180: wireguard's plus the ML-KEM ciphertext

# --- mac1 and cookie key labels: HASH(label || public key) (paper 5.4.4, 5.4.7)
LABEL_MAC1_WIREGUARD = b"mac1----"  # wireguard mode (WireGuard's LABEL_MAC1)
LABEL_COOKIE_WIREGUARD = b"cookie--"  # wireguard mode (WireGuard's LABEL_COOKIE)
LABEL_MAC1_SECURESWIFT = b"ssw-mac1"  # secureswift mode
LABEL_COOKIE_SECURESWIFT = b"ssw-cook"  # secureswift mode

# --- transport data: type|reserved(3), receiver u32 LE, counter u64 LE, sealed padded packet
DATA_HEADER_LEN = 16  # type word, receiver index, counter
DATA_MIN_LEN = DATA_HEADER_LEN + AEAD_TAG_LEN  # 32: a keepalive (empty packet)
DATA_OVERHEAD = DATA_HEADER_LEN + AEAD_TAG_LEN  # 32: per-packet crypto overhead
PADDING_MULTIPLE = 16  # the plaintext is zero-padded to a multiple of this
IPV4_UDP_OVERHEAD = 20 + 8  # outer IPv4 + UDP headers (MTU arithmetic)
IPV6_UDP_OVERHEAD = 40 + 8  # outer IPv6 + UDP headers (MTU arithmetic)
DEFAULT_MTU = 1500 - DATA_OVERHEAD - IPV6_UDP_OVERHEAD  # 1420, both modes, IPv6 outer on a 1500-byte path
MAX_UNFRAGMENTED_PAYLOAD = 1500 - IPV6_UDP_OVERHEAD  # 1452: largest UDP payload on a 1500-byte IPv6 path

# --- key lifetime in messages (paper section 6; messages.h)
REKEY_AFTER_MESSAGES = 1 << 60  # the initiator re-keys after sending this many
# The paper's value; Linux's driver uses U64_MAX - COUNTER_WINDOW_SIZE - 1,
# 66 higher; both stop long before the 64-bit nonce could repeat.
REJECT_AFTER_MESSAGES = (1 << 64) - (1 << 13) - 1  # no counter at or above this is sent or accepted

# --- timers in seconds (paper section 6; messages.h)
REKEY_AFTER_TIME = 120.0  # the initiator re-keys a session this old
REJECT_AFTER_TIME = 180.0  # a keypair this old is never used again
REKEY_ATTEMPT_TIME = 90.0  # handshake retries give up after this
REKEY_TIMEOUT = 5.0  # a handshake is retried after this, plus jitter
REKEY_TIMEOUT_JITTER_DIVISOR = 3  # the retry jitter is up to 1/this s (kernel: HZ / 3)
KEEPALIVE_TIMEOUT = 10.0  # an empty data packet answers data unanswered this long
ZERO_KEYS_AFTER = REJECT_AFTER_TIME * 3  # 540: key material is zeroed this long after the last session
COOKIE_SECRET_MAX_AGE = 120.0  # the cookie secret is replaced when this old
COOKIE_SECRET_LATENCY = 5.0  # a cookie is used only while younger than MAX_AGE minus this
UNDER_LOAD_HOLD = 1  # "under load" lasts this long after the backlog shrinks (WireGuard receive.c)

# --- limits (messages.h; ratelimiter.c)
MAX_PEERS_PER_DEVICE = 1 << 20  # peers on one interface
MAX_TIMER_HANDSHAKES = int(REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)  # 18 retries
MAX_QUEUED_INCOMING_HANDSHAKES = 4096  # handshake backlog toward the handshake code
UNDER_LOAD_QUEUE_DIVISOR = 8  # under load while the backlog holds more than 1/this of its room
MAX_STAGED_PACKETS = 128  # packets held per peer while it has no session
INITIATIONS_PER_SECOND = 50  # initiations processed per peer and second (flood of replays)
RATELIMIT_PER_SECOND = 20  # handshakes per source and second under load (PACKETS_PER_SECOND)
RATELIMIT_BURST = 5  # burst of the per-source limit (PACKETS_BURSTABLE)

# --- replay window (RFC 6479; kernel noise.h COUNTER_BITS_TOTAL)
COUNTER_BITS_TOTAL = 8192  # bits in the replay bitmap
COUNTER_WORD_BITS = 64  # bits per bitmap word (BITS_PER_LONG on the 64-bit kernels we support)
COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - COUNTER_WORD_BITS  # 8128: how far behind the newest is accepted

# --- derived, Python only (not whole numbers)
REKEY_TIMEOUT_JITTER_MAX = 1.0 / REKEY_TIMEOUT_JITTER_DIVISOR  # seconds of jitter at most
INITIATION_MIN_INTERVAL = 1.0 / INITIATIONS_PER_SECOND  # an initiation closer to the last one is ignored

# C names that are not SSW_ + the Python name: the message types keep the
# spelling the UAPI header gave them, the per-mode pairs name their mode,
# and the key length leaves SSW_KEY_LEN to the UAPI header (netlink).
C_NAMES = {
    "WG_TYPE_INITIATION": "SSW_MESSAGE_WG_HANDSHAKE_INITIATION",
    "WG_TYPE_RESPONSE": "SSW_MESSAGE_WG_HANDSHAKE_RESPONSE",
    "WG_TYPE_COOKIE_REPLY": "SSW_MESSAGE_WG_HANDSHAKE_COOKIE",
    "WG_TYPE_DATA": "SSW_MESSAGE_WG_DATA",
    "SSW_TYPE_INITIATION": "SSW_MESSAGE_SSW_HANDSHAKE_INITIATION",
    "SSW_TYPE_RESPONSE": "SSW_MESSAGE_SSW_HANDSHAKE_RESPONSE",
    "SSW_TYPE_COOKIE_REPLY": "SSW_MESSAGE_SSW_HANDSHAKE_COOKIE",
    "SSW_TYPE_DATA": "SSW_MESSAGE_SSW_DATA",
    "KEY_LEN": "SSW_NOISE_KEY_LEN",
    "SSW_INITIATION_LEN": "SSW_SECURESWIFT_INITIATION_LEN",
    "SSW_RESPONSE_LEN": "SSW_SECURESWIFT_RESPONSE_LEN",
}
PYTHON_ONLY = frozenset({"REKEY_TIMEOUT_JITTER_MAX", "INITIATION_MIN_INTERVAL"})

# Each mode's handshake messages and their exact sizes, by name, under the
# mode's data type: both C planes get it as ssw_wire_handshake_len().
HANDSHAKE_LEN_TABLE = {
    "WG_TYPE_DATA": (
        ("WG_TYPE_INITIATION", "WG_INITIATION_LEN"),
        ("WG_TYPE_RESPONSE", "WG_RESPONSE_LEN"),
        ("WG_TYPE_COOKIE_REPLY", "COOKIE_REPLY_LEN"),
    ),
    "SSW_TYPE_DATA": (
        ("SSW_TYPE_INITIATION", "SSW_INITIATION_LEN"),
        ("SSW_TYPE_RESPONSE", "SSW_RESPONSE_LEN"),
        ("SSW_TYPE_COOKIE_REPLY", "COOKIE_REPLY_LEN"),
    ),
}

assert SSW_INITIATION_LEN <= MAX_UNFRAGMENTED_PAYLOAD
assert SSW_RESPONSE_LEN <= MAX_UNFRAGMENTED_PAYLOAD
assert all(len(v) == LABEL_LEN for k, v in dict(globals()).items() if k.startswith("LABEL_") and k != "LABEL_LEN")
