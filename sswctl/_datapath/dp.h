/* SecureSwift native data path: shared definitions.
 *
 * The Python daemon negotiates keys (sswctl.protocol, handshakes only)
 * and installs keypairs here; two native threads carry transport packets
 * (types 4 / 0x14) between a TUN device and UDP sockets without the GIL.
 * Locking and the lifetime rules are in docs/datapath.md; in short: one
 * writer-preferring rwlock per device, the workers hold it for reading while
 * they touch peers, keypairs and the allowed-IPs tries, and every free
 * happens with it held for writing. Every control call costs O(change), not
 * O(peers) (hash tables, an incremental trie), so writers hold it briefly.
 */
#ifndef SSW_DP_H
#define SSW_DP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/evp.h>

/* Wire format, timers and limits, generated from sswctl/wire.py into the
 * kernel module's tree so that both data planes include one file. */
#include "../../secureswift_kmod/wire.h"
#define SSW_MAX_DATAGRAM 65535
#define SSW_MAX_PLAINTEXT (SSW_MAX_DATAGRAM - SSW_DATA_HEADER_LEN - SSW_AEAD_TAG_LEN)
/* An initiator receiving under a keypair this old asks for a handshake. */
#define SSW_REKEY_ON_RECV_AGE (SSW_REJECT_AFTER_TIME - SSW_KEEPALIVE_TIMEOUT - SSW_REKEY_TIMEOUT)

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define SSW_BATCH 64
#define SSW_MAX_EVENTS 4096
#define SSW_MAX_STAGED 256 /* packets waiting in the event queue, all peers */
/* Handshake messages waiting for Python, in a queue of their own so that
 * control events never compete with them; an eighth of it means "under
 * load" (WireGuard's MAX_QUEUED_INCOMING_HANDSHAKES / 8 rule). */
#define SSW_MAX_HANDSHAKES 1024
#define SSW_RATELIMIT_BUCKETS 4096

enum ssw_cipher { SSW_CHACHA20_POLY1305 = 0, SSW_AES_256_GCM = 1 };

/* --- aead.c ------------------------------------------------------------- */
struct ssw_aead {
	EVP_CIPHER_CTX *ctx;
};
int ssw_aead_init(struct ssw_aead *a, int cipher, const uint8_t *key, int encrypt);
void ssw_aead_free(struct ssw_aead *a);
/* Encrypt len bytes (in may equal out), tag appended at out + len. */
int ssw_aead_seal(struct ssw_aead *a, uint64_t counter, const uint8_t *in, size_t len, uint8_t *out);
/* in holds ciphertext || tag (len includes the tag); 0 if authentic. */
int ssw_aead_open(struct ssw_aead *a, uint64_t counter, const uint8_t *in, size_t len, uint8_t *out);
size_t ssw_padded_len(size_t n, int mtu);

/* --- replay.c ----------------------------------------------------------- */
#define SSW_REPLAY_WORDS (SSW_COUNTER_BITS_TOTAL / SSW_COUNTER_WORD_BITS)
struct ssw_replay {
	uint64_t counter; /* one more than the highest accepted, 0 = none */
	uint64_t bitmap[SSW_REPLAY_WORDS];
};
void ssw_replay_init(struct ssw_replay *r);
bool ssw_replay_would_accept(const struct ssw_replay *r, uint64_t their);
bool ssw_replay_check(struct ssw_replay *r, uint64_t their);

/* --- table.c: hash tables keyed by a u64 (SipHash, random key) ---------- */
struct ssw_hnode {
	struct ssw_hnode *next;
	uint64_t key;
};
struct ssw_htab {
	struct ssw_hnode **buckets;
	size_t mask, n; /* buckets - 1 (a power of two), entries */
	uint64_t key[2];
};
uint64_t ssw_siphash_u64(const uint64_t key[2], uint64_t m);
int ssw_htab_init(struct ssw_htab *t);
void ssw_htab_free(struct ssw_htab *t);
void ssw_htab_add(struct ssw_htab *t, struct ssw_hnode *e, uint64_t key);
/* work (may be NULL): incremented per entry visited */
struct ssw_hnode *ssw_htab_find(const struct ssw_htab *t, uint64_t key, uint64_t *work);
void ssw_htab_del(struct ssw_htab *t, struct ssw_hnode *e, uint64_t *work);

/* --- allowedips.c ------------------------------------------------------- */
struct ssw_peer;
struct ssw_trie {
	struct ssw_trie *child[2];
	struct ssw_peer *peer; /* NULL: a branch only */
	uint8_t cidr;
	uint8_t bits[16]; /* the prefix, zero past cidr */
};
struct ssw_trie_pool { /* nodes taken before a change, so it cannot fail half way */
	struct ssw_trie *free;
	size_t n;
};
struct ssw_aip {
	uint8_t family; /* 4 or 6 */
	uint8_t cidr;
	uint8_t addr[16];
};
int ssw_trie_reserve(struct ssw_trie_pool *pool, size_t inserts);
void ssw_trie_pool_drain(struct ssw_trie_pool *pool);
/* work: incremented per node visited (the control-cost counter) */
void ssw_trie_insert(struct ssw_trie **root, struct ssw_trie_pool *pool, const uint8_t *addr, int cidr,
		     struct ssw_peer *peer, uint64_t *work);
bool ssw_trie_remove(struct ssw_trie **root, const uint8_t *addr, int cidr, const struct ssw_peer *peer,
		     uint64_t *work);
struct ssw_peer *ssw_trie_owner(struct ssw_trie **root, const uint8_t *addr, int cidr, uint64_t *work);
struct ssw_peer *ssw_trie_lookup(const struct ssw_trie *root, const uint8_t *addr, int maxbits);
void ssw_trie_free(struct ssw_trie *root);
void ssw_aip_mask(struct ssw_aip *a);

/* --- peer.c: peers, keypairs, receiver-index table ---------------------- */
enum ssw_drop {
	SSW_DROP_REPLAY,
	SSW_DROP_DECRYPT,
	SSW_DROP_ALLOWED_IPS,
	SSW_DROP_NO_KEYPAIR,
	SSW_DROP_UNKNOWN_INDEX,
	SSW_DROP_MALFORMED,
	SSW_DROP_EXPIRED,
	SSW_DROP_NO_ROUTE,
	SSW_DROP_NO_ENDPOINT,
	SSW_DROP_SEND_ERROR,
	SSW_DROP_TUN_WRITE,
	SSW_DROP_EVENT_OVERFLOW,
	SSW_DROP__MAX
};
extern const char *const ssw_drop_names[SSW_DROP__MAX];

struct ssw_keypair {
	struct ssw_hnode hnode; /* in the device's index table, by local_index */
	struct ssw_peer *peer;
	uint32_t local_index, remote_index;
	bool is_initiator;
	double created; /* CLOCK_MONOTONIC seconds (Python's time.monotonic) */
	_Atomic uint64_t send_counter;
	_Atomic bool rekey_asked;
	struct ssw_replay replay; /* the receive thread alone touches it */
	struct ssw_aead send, recv;
};

struct ssw_counters {
	_Atomic uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	_Atomic uint64_t drops[SSW_DROP__MAX];
	_Atomic uint64_t last_tx_ns, last_rx_ns, last_tx_data_ns, last_rx_data_ns;
	/* timers.c, as WireGuard's timers: when data was first sent with nothing
	 * received since (-> ask for a handshake), and first received with
	 * nothing sent since (-> keepalive); 0 = not armed */
	_Atomic uint64_t tx_data_unanswered_ns, rx_data_unanswered_ns;
};

/* A sticky source (WireGuard's endpoint src4/src6, wireguard-go's
 * StdNetEndpoint src): the local address the peer last wrote to, learned
 * from IP_PKTINFO / IPV6_PKTINFO on receive and put back on every send so
 * the reply leaves from it. family 0: none, routing picks. */
struct ssw_src {
	sa_family_t family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
	/* the interface it arrived on (0: unknown); never put on a send, only
	 * compared with the way routing picks (the daemon, on a route change:
	 * WireGuard's src_if4) */
	int ifindex;
};
/* room for a source (IP_PKTINFO or IPV6_PKTINFO) and a UDP_SEGMENT size */
#define SSW_CTRL_SPACE (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)))
union ssw_ctrl {
	char buf[SSW_CTRL_SPACE];
	struct cmsghdr align;
};

struct ssw_peer {
	struct ssw_hnode hnode; /* in the device's peer table, by id */
	uint64_t id;
	size_t slot; /* where it sits in the device's peers array */
	/* Slots (WireGuard's key confirmation). Written by control with the
	 * device lock held for writing, or by the receive thread (the only
	 * worker that rotates) with it held for reading; read atomically. */
	struct ssw_keypair *_Atomic current, *_Atomic previous, *_Atomic next;
	pthread_spinlock_t ep_lock; /* endpoint and src */
	struct sockaddr_storage endpoint;
	socklen_t endpoint_len; /* 0: none */
	struct ssw_src src;
	struct ssw_aip *aips;
	size_t n_aips;
	_Atomic uint32_t persistent_keepalive; /* seconds, 0 = off */
	struct ssw_counters c;
};

/* --- blake2s.c: RFC 7693, the protocol's HASH and MAC ------------------- */
struct ssw_blake2s {
	uint32_t h[8];
	uint64_t t;
	uint8_t buf[64];
	size_t buflen, outlen;
};
void ssw_blake2s_init(struct ssw_blake2s *s, size_t outlen, const uint8_t *key, size_t keylen);
void ssw_blake2s_update(struct ssw_blake2s *s, const uint8_t *in, size_t len);
void ssw_blake2s_final(struct ssw_blake2s *s, uint8_t *out); /* wipes s */
void ssw_blake2s(uint8_t *out, size_t outlen, const uint8_t *in, size_t len, const uint8_t *key, size_t keylen);

/* --- cookie.c: mac1, mac2, cookie replies, rate limit (handshake intake) -- */
enum ssw_hs_counter {
	SSW_HS_RECEIVED,        /* handshake-type datagrams seen */
	SSW_HS_MALFORMED,       /* wrong type for the mode or wrong size */
	SSW_HS_MAC1_INVALID,    /* mac1 did not verify (or no identity set yet) */
	SSW_HS_COOKIE_SENT,     /* cookie replies sent from C */
	SSW_HS_SHED_NO_MAC2,    /* under load without a valid mac2: answered, not queued */
	SSW_HS_SHED_RATELIMIT,  /* mac2-valid (or a cookie reply) over its source's rate */
	SSW_HS_SHED_QUEUE_FULL, /* the handshake queue was full */
	SSW_HS_QUEUED,          /* handed to Python */
	SSW_HS_UNDER_LOAD,      /* times "under load" began */
	SSW_HS__MAX
};
extern const char *const ssw_hs_names[SSW_HS__MAX];
struct ssw_rl_bucket {
	uint64_t tokens, last_ns;
};
/* cookie replies made during one receive batch, sent with one sendmmsg per family */
#define SSW_COOKIE_OUTBOX 64
struct ssw_cookie_out {
	struct mmsghdr msg[SSW_COOKIE_OUTBOX];
	struct iovec iov[SSW_COOKIE_OUTBOX];
	struct sockaddr_storage dst[SSW_COOKIE_OUTBOX];
	union ssw_ctrl ctrl[SSW_COOKIE_OUTBOX];
	uint8_t reply[SSW_COOKIE_OUTBOX][SSW_COOKIE_REPLY_LEN];
	int n;
};
struct ssw_cookie {
	bool ready; /* public_key is set */
	uint8_t public_key[SSW_NOISE_KEY_LEN];
	uint8_t mac1_key[32], cookie_key[32];
	uint8_t secret[32]; /* zeroed on a new identity and on free */
	uint64_t secret_birth_ns, last_under_load_ns;
	uint8_t rl_key[16];
	struct ssw_rl_bucket rl[SSW_RATELIMIT_BUCKETS];
	EVP_CIPHER_CTX *aead; /* the receive worker's, for cookie replies */
	struct ssw_cookie_out out4, out6;
	uint8_t nonces[SSW_COOKIE_OUTBOX][SSW_COOKIE_NONCE_LEN]; /* drawn in bulk: one RAND_bytes per 64 replies */
	int nonces_left;
	_Atomic uint64_t c[SSW_HS__MAX];
};
int ssw_cookie_init(struct ssw_cookie *ck);
EVP_CIPHER_CTX *ssw_cookie_aead_new(void);
void ssw_cookie_destroy(struct ssw_cookie *ck);
void ssw_cookie_keys(uint8_t type_data, const uint8_t *public_key, uint8_t mac1_key[32], uint8_t cookie_key[32]);
void ssw_cookie_set_public(struct ssw_cookie *ck, uint8_t type_data, const uint8_t *public_key);
void ssw_cookie_reply_make(EVP_CIPHER_CTX *ctx, uint8_t type_cookie, const uint8_t cookie_key[32],
			   const uint8_t cookie[SSW_MAC_LEN], const uint8_t nonce[SSW_COOKIE_NONCE_LEN], const uint8_t *msg, size_t len,
			   uint8_t out[SSW_COOKIE_REPLY_LEN], int *err);
struct ssw_dev;
/* receive worker, device lock held for reading */
void ssw_handshake_rx(struct ssw_dev *d, const uint8_t *dg, size_t len, const struct sockaddr_storage *src,
		      socklen_t src_len, const struct ssw_src *local);
/* receive worker, after each batch: send the cookie replies it made */
void ssw_cookie_flush(struct ssw_dev *d);

/* --- events.c: what goes up to Python ----------------------------------- */
enum ssw_event_kind {
	SSW_EV_HANDSHAKE = 1, /* a handshake-type datagram and its source */
	SSW_EV_STAGED,        /* a TUN packet for a peer without a usable keypair */
	SSW_EV_REKEY,         /* the current keypair wants a new handshake */
	SSW_EV_CONFIRMED,     /* a responder keypair moved from next to current */
	SSW_EV_ENDPOINT,      /* a peer roamed to a new authenticated source */
};
struct ssw_event {
	int kind;
	uint64_t peer;
	uint32_t index;
	uint8_t *data;
	size_t len;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct ssw_src local; /* handshake, endpoint: the address it arrived on */
};

struct ssw_dev {
	pthread_rwlock_t lock;
	struct ssw_peer **peers; /* for walks (timers, stats); unordered */
	size_t n_peers, cap_peers;
	struct ssw_htab peer_table; /* id -> peer */
	struct ssw_htab index_table; /* local index -> keypair */
	struct ssw_trie *trie4, *trie6;
	/* Nodes and entries visited by control calls, write lock held: what a
	 * change cost, for tests that check it does not grow with the peers. */
	uint64_t control_work;
	uint8_t type_data;
	int mtu;
	int tun_fd, udp4_fd, udp6_fd;
	bool vnet_hdr; /* the TUN fd has IFF_VNET_HDR (and TSO offloads) */
	int stop_fd;  /* eventfd: wakes both workers to exit */
	int event_fd; /* eventfd: readable while events are queued */
	bool running;
	_Atomic bool tun_gone; /* the send worker found the TUN fd detached (EBADFD) */
	pthread_t tx_thread, rx_thread;
	double keepalive_timeout, rekey_timeout; /* WireGuard's 10 s and 5 s; tests shorten them */
	uint64_t next_timer_ns;
	_Atomic uint64_t drops[SSW_DROP__MAX]; /* not attributable to a peer */
	_Atomic uint64_t tun_reads;            /* < packets sent when TSO super-packets arrive */
	_Atomic uint64_t tun_writes;           /* < packets received when runs are coalesced */
	_Atomic uint64_t udp_send_msgs;        /* < datagrams sent when UDP GSO batches them */
	_Atomic uint64_t udp_recv_msgs;        /* < datagrams received when UDP GRO glues them */
	pthread_mutex_t ev_lock;
	struct ssw_event *events; /* control events and staged packets */
	size_t n_events, n_staged;
	struct ssw_event *hs_events; /* handshake messages only */
	_Atomic size_t n_hs;
	size_t hs_cap;
	struct ssw_cookie ck;
};

double ssw_now(void);
uint64_t ssw_now_ns(void);
struct ssw_peer *ssw_peer_find(struct ssw_dev *d, uint64_t id);
struct ssw_peer *ssw_peer_add(struct ssw_dev *d, uint64_t id);
void ssw_peer_remove(struct ssw_dev *d, struct ssw_peer *p);
/* src NULL: none (a configured endpoint starts without one, as WireGuard's) */
int ssw_peer_set_endpoint(struct ssw_peer *p, const struct sockaddr *sa, socklen_t len, const struct ssw_src *src);
/* src may be NULL */
bool ssw_peer_get_endpoint(struct ssw_peer *p, struct sockaddr_storage *out, socklen_t *len, struct ssw_src *src);
void ssw_peer_clear_src(struct ssw_peer *p);
/* The kernel refused src (the address is gone): every peer forgets it.
 * Device lock held (either way). */
void ssw_dev_forget_src(struct ssw_dev *d, const struct ssw_src *src);
bool ssw_same_src(const struct ssw_src *a, const struct ssw_src *b);
int ssw_peer_set_aips(struct ssw_dev *d, struct ssw_peer *p, const struct ssw_aip *a, size_t n);
struct ssw_keypair *ssw_keypair_new(uint32_t local_index, uint32_t remote_index, const uint8_t *send_key,
				    const uint8_t *recv_key, int cipher, bool is_initiator, double created);
void ssw_keypair_free(struct ssw_keypair *kp);
void ssw_index_add(struct ssw_dev *d, struct ssw_keypair *kp);
void ssw_index_del(struct ssw_dev *d, struct ssw_keypair *kp);
struct ssw_keypair *ssw_index_find(struct ssw_dev *d, uint32_t local_index);
void ssw_keypair_drop(struct ssw_dev *d, struct ssw_keypair *kp); /* unindex + free; write lock */
void ssw_peer_install(struct ssw_dev *d, struct ssw_peer *p, struct ssw_keypair *kp);
void ssw_peer_clear_keypairs(struct ssw_dev *d, struct ssw_peer *p);
bool ssw_keypair_usable(const struct ssw_keypair *kp, double now);
int ssw_dev_init(struct ssw_dev *d, uint8_t type_data, int mtu);
void ssw_dev_destroy(struct ssw_dev *d);
static inline void ssw_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* events.c */
bool ssw_event_push(struct ssw_dev *d, int kind, uint64_t peer, uint32_t index, const uint8_t *data,
		    size_t len, const struct sockaddr_storage *addr, socklen_t addr_len, const struct ssw_src *local);
/* Both queues handed over (the caller frees each with ssw_events_free). */
void ssw_events_take(struct ssw_dev *d, struct ssw_event **ctl, size_t *n_ctl, struct ssw_event **hs, size_t *n_hs);
void ssw_events_free(struct ssw_event *ev, size_t n);

/* --- send.c / receive.c: the two worker threads ------------------------- */
void *ssw_send_worker(void *dev);
void *ssw_receive_worker(void *dev);
/* write lock held; len 0 = keepalive. Packets without a keypair go up (staged). */
int ssw_send_packet(struct ssw_dev *d, struct ssw_peer *p, const uint8_t *pkt, size_t len);
size_t ssw_encrypt_packet(struct ssw_keypair *kp, uint8_t type_data, int mtu, uint64_t counter, uint8_t *buf,
			  size_t len);
int ssw_socket_for(struct ssw_dev *d, int family);
void ssw_set_ctrl(struct msghdr *h, union ssw_ctrl *ctrl, const struct ssw_src *src, uint16_t seg);
void ssw_note_sent(struct ssw_peer *p, size_t wire, bool data);

/* --- offload.c: IFF_VNET_HDR reads ---------------------------------------- */
#define SSW_VNET_HDR_LEN 10
#define SSW_VNET_F_DATA_VALID 2
/* With offloads the send worker lays segments out back to back, each with
 * room for the header, padding and tag, in 256 slots of an arena this big
 * (a segment of any tunnel MTU up to 64 KiB fits): */
#define SSW_OFFLOAD_SLOTS 256
#define SSW_OFFLOAD_ARENA (SSW_OFFLOAD_SLOTS * 9264)
int ssw_offload_count(const uint8_t *buf, size_t len, size_t *longest);
int ssw_offload_split(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len, int max_out, size_t cap);
int ssw_gro_run(uint8_t *const *pkts, const size_t *lens, int i, int n);
size_t ssw_gro_merge(uint8_t *const *pkts, const size_t *lens, int i, int j, uint8_t *out);

/* --- timers.c: keepalives and "needs handshake", run by the send worker -- */
#define SSW_TIMER_TICK_MS 250
void ssw_timers_run(struct ssw_dev *d);

#endif
