/* sswctl._datapath: the CPython face of the native data path.
 *
 * Control calls take the device lock for writing (with the GIL released
 * while they wait for it, so a worker that pushes an event never waits on
 * a thread that waits on it); the workers never touch Python objects.
 * The friendly API is sswctl/datapath.py; this module is its engine. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "dp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <openssl/crypto.h>

typedef struct {
	PyObject_HEAD
	struct ssw_dev dev;
	bool inited;
} DatapathObject;

static void wrlock(struct ssw_dev *d)
{
	Py_BEGIN_ALLOW_THREADS
	pthread_rwlock_wrlock(&d->lock);
	Py_END_ALLOW_THREADS
}

/* Readers (stats, route) may share the lock with the workers. */
static void rdlock(struct ssw_dev *d)
{
	Py_BEGIN_ALLOW_THREADS
	pthread_rwlock_rdlock(&d->lock);
	Py_END_ALLOW_THREADS
}

static void unlock(struct ssw_dev *d)
{
	pthread_rwlock_unlock(&d->lock);
}

/* (host, port[, flowinfo, scope_id]) <-> sockaddr */
static int addr_from_py(PyObject *o, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *host;
	int port;
	unsigned int flow = 0, scope = 0;

	memset(ss, 0, sizeof(*ss));
	if (!PyArg_ParseTuple(o, "si|II", &host, &port, &flow, &scope))
		return -1;
	if (port < 0 || port > 65535) {
		PyErr_SetString(PyExc_ValueError, "port out of range");
		return -1;
	}
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_flowinfo = htonl(flow);
		s6->sin6_scope_id = scope;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		*len = sizeof(*s4);
	}
	return 0;
bad:
	PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
	return -1;
}

static PyObject *addr_to_py(const struct sockaddr_storage *ss, socklen_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!len)
		Py_RETURN_NONE;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		return Py_BuildValue("(siII)", host, ntohs(s6->sin6_port), ntohl(s6->sin6_flowinfo),
				     s6->sin6_scope_id);
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
	return Py_BuildValue("(si)", host, ntohs(((const struct sockaddr_in *)ss)->sin_port));
}

/* A sticky source <-> its address as a string (None: none) */
static PyObject *src_to_py(const struct ssw_src *src)
{
	char host[INET6_ADDRSTRLEN];

	if (!src->family)
		Py_RETURN_NONE;
	inet_ntop(src->family, src->family == AF_INET6 ? (const void *)&src->v6 : (const void *)&src->v4, host,
		  sizeof(host));
	return PyUnicode_FromString(host);
}

static int src_from_py(PyObject *o, struct ssw_src *src)
{
	const char *host;

	memset(src, 0, sizeof(*src));
	if (o == Py_None)
		return 0;
	host = PyUnicode_AsUTF8(o);
	if (!host)
		return -1;
	if (inet_pton(AF_INET6, host, &src->v6) == 1) {
		src->family = AF_INET6;
	} else if (inet_pton(AF_INET, host, &src->v4) == 1) {
		src->family = AF_INET;
	} else {
		PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
		return -1;
	}
	return 0;
}

static int Datapath_init(DatapathObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "type_data", "mtu", "keepalive_timeout", "rekey_timeout", "handshake_queue", NULL };
	int type_data, mtu = 0, hs_cap = SSW_MAX_HANDSHAKES;
	double keepalive = SSW_KEEPALIVE_TIMEOUT, rekey = SSW_REKEY_TIMEOUT;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|iddi", kwlist, &type_data, &mtu, &keepalive, &rekey, &hs_cap))
		return -1;
	if (hs_cap < 1 || hs_cap > 65536) {
		PyErr_SetString(PyExc_ValueError, "handshake_queue must be 1-65536");
		return -1;
	}
	if (type_data != SSW_MESSAGE_WG_DATA && type_data != SSW_MESSAGE_SSW_DATA) {
		PyErr_SetString(PyExc_ValueError, "type_data must be 4 (wireguard) or 0x14 (secureswift)");
		return -1;
	}
	if (self->inited) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	if (ssw_dev_init(&self->dev, (uint8_t)type_data, mtu)) {
		PyErr_SetString(PyExc_OSError, "cannot set up the data path's tables");
		return -1;
	}
	self->dev.keepalive_timeout = keepalive;
	self->dev.rekey_timeout = rekey;
	self->dev.hs_cap = (size_t)hs_cap;
	if (ssw_cookie_init(&self->dev.ck)) {
		ssw_dev_destroy(&self->dev);
		PyErr_SetString(PyExc_MemoryError, "cannot set up the handshake checker");
		return -1;
	}
	self->dev.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (self->dev.event_fd < 0) {
		PyErr_SetFromErrno(PyExc_OSError);
		ssw_cookie_destroy(&self->dev.ck);
		ssw_dev_destroy(&self->dev);
		return -1;
	}
	self->inited = true;
	return 0;
}

static int check(DatapathObject *self)
{
	if (!self->inited) {
		PyErr_SetString(PyExc_RuntimeError, "datapath not initialised");
		return -1;
	}
	return 0;
}

static void stop_workers(DatapathObject *self)
{
	struct ssw_dev *d = &self->dev;
	uint64_t one = 1;

	if (!d->running)
		return;
	if (write(d->stop_fd, &one, sizeof(one)) < 0) {
		/* cannot happen for an eventfd below its maximum */
	}
	Py_BEGIN_ALLOW_THREADS
	pthread_join(d->tx_thread, NULL);
	pthread_join(d->rx_thread, NULL);
	Py_END_ALLOW_THREADS
	close(d->stop_fd);
	d->stop_fd = -1;
	d->running = false;
	/* hand the sockets back as we found them: a Python reader wants datagrams one by one */
	for (int i = 0; i < 2; i++) {
		int fd = i ? d->udp6_fd : d->udp4_fd, zero = 0;

		if (fd >= 0 && setsockopt(fd, SOL_UDP, UDP_GRO, &zero, sizeof(zero)) < 0) {
			/* it was never on */
		}
	}
}

static void Datapath_dealloc(DatapathObject *self)
{
	if (self->inited) {
		stop_workers(self);
		ssw_events_free(self->dev.hs_events, atomic_load(&self->dev.n_hs));
		self->dev.hs_events = NULL;
		ssw_cookie_destroy(&self->dev.ck); /* zeroes the cookie secret */
		ssw_dev_destroy(&self->dev); /* zeroes every keypair */
		if (self->dev.event_fd >= 0)
			close(self->dev.event_fd);
		self->inited = false;
	}
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static PyObject *Datapath_start(DatapathObject *self, PyObject *unused);

/* set_sockets(tun, udp4, udp6, vnet): also on a running path, for a new
 * listen port (WireGuard rebinds and keeps its sessions): the workers pause
 * around the swap and every keypair stays. */
static PyObject *Datapath_set_sockets(DatapathObject *self, PyObject *args)
{
	int tun, u4, u6, vnet = 0;
	bool restart;

	if (check(self) || !PyArg_ParseTuple(args, "iii|p", &tun, &u4, &u6, &vnet))
		return NULL;
	if (tun < 0 || (u4 < 0 && u6 < 0)) {
		PyErr_SetString(PyExc_ValueError, "need a TUN fd and at least one UDP socket");
		return NULL;
	}
	restart = self->dev.running;
	stop_workers(self); /* before the options: it turns UDP GRO off on the fds it had */
	if (set_nonblock(tun) || (u4 >= 0 && set_nonblock(u4)) || (u6 >= 0 && set_nonblock(u6)))
		goto err;
	/* UDP GRO: the kernel may hand over runs of datagrams in one message
	 * (the receive worker splits them); best effort, older kernels lack it */
	for (int i = 0; i < 2; i++) {
		int fd = i ? u6 : u4, one = 1;

		if (fd >= 0 && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
			/* fine: one datagram per message */
		}
	}
	/* the local address each datagram arrived on (sticky sources) */
	if ((u4 >= 0 && setsockopt(u4, IPPROTO_IP, IP_PKTINFO, &(int){ 1 }, sizeof(int))) ||
	    (u6 >= 0 && setsockopt(u6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &(int){ 1 }, sizeof(int))))
		goto err;
	self->dev.tun_fd = tun;
	self->dev.udp4_fd = u4;
	self->dev.udp6_fd = u6;
	self->dev.vnet_hdr = vnet;
	if (restart)
		return Datapath_start(self, NULL);
	Py_RETURN_NONE;
err:
	PyErr_SetFromErrno(PyExc_OSError);
	if (restart) { /* carry on with the old descriptors */
		PyObject *type, *value, *tb, *r;

		PyErr_Fetch(&type, &value, &tb);
		r = Datapath_start(self, NULL);
		Py_XDECREF(r);
		PyErr_Restore(type, value, tb);
	}
	return NULL;
}

static PyObject *Datapath_start(DatapathObject *self, PyObject *unused)
{
	struct ssw_dev *d = &self->dev;

	if (check(self))
		return NULL;
	if (d->running)
		Py_RETURN_NONE;
	if (d->tun_fd < 0) {
		PyErr_SetString(PyExc_RuntimeError, "set_sockets() first");
		return NULL;
	}
	atomic_store(&d->tun_gone, false);
	d->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (d->stop_fd < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	if (pthread_create(&d->tx_thread, NULL, ssw_send_worker, d))
		goto err_tx;
	if (pthread_create(&d->rx_thread, NULL, ssw_receive_worker, d))
		goto err_rx;
	d->running = true;
	Py_RETURN_NONE;

err_rx: {
	uint64_t one = 1;
	ssize_t r = write(d->stop_fd, &one, sizeof(one));
	(void)r;
	Py_BEGIN_ALLOW_THREADS
	pthread_join(d->tx_thread, NULL);
	Py_END_ALLOW_THREADS
}
err_tx:
	close(d->stop_fd);
	d->stop_fd = -1;
	PyErr_SetString(PyExc_OSError, "cannot start the data path threads");
	return NULL;
}

/* stop(): joins the workers and zeroes every keypair (peers stay). */
static PyObject *Datapath_stop(DatapathObject *self, PyObject *unused)
{
	if (check(self))
		return NULL;
	stop_workers(self);
	wrlock(&self->dev);
	for (size_t i = 0; i < self->dev.n_peers; i++)
		ssw_peer_clear_keypairs(&self->dev, self->dev.peers[i]);
	unlock(&self->dev);
	Py_RETURN_NONE;
}

static PyObject *Datapath_set_peer(DatapathObject *self, PyObject *args)
{
	unsigned long long id;
	PyObject *ep = Py_None;
	unsigned int keepalive = 0;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct ssw_peer *p;

	if (check(self) || !PyArg_ParseTuple(args, "K|OI", &id, &ep, &keepalive))
		return NULL;
	if (ep != Py_None && addr_from_py(ep, &ss, &len))
		return NULL;
	wrlock(&self->dev);
	p = ssw_peer_find(&self->dev, id);
	if (!p)
		p = ssw_peer_add(&self->dev, id);
	if (p) {
		ssw_peer_set_endpoint(p, ep == Py_None ? NULL : (struct sockaddr *)&ss, len, NULL);
		p->persistent_keepalive = keepalive;
	}
	unlock(&self->dev);
	if (!p)
		return PyErr_NoMemory();
	Py_RETURN_NONE;
}

static struct ssw_peer *find_or_raise(DatapathObject *self, unsigned long long id)
{
	struct ssw_peer *p = ssw_peer_find(&self->dev, id);

	if (!p)
		PyErr_Format(PyExc_KeyError, "no peer %llu", id);
	return p;
}

/* set_endpoint(id, endpoint, source=None): where the peer is and the local
 * address it wrote to (a handshake's, learned by the daemon) */
static PyObject *Datapath_set_endpoint(DatapathObject *self, PyObject *args)
{
	unsigned long long id;
	PyObject *ep, *srcobj = Py_None;
	struct sockaddr_storage ss;
	socklen_t len;
	struct ssw_src src;
	struct ssw_peer *p;

	if (check(self) || !PyArg_ParseTuple(args, "KO|O", &id, &ep, &srcobj))
		return NULL;
	if (addr_from_py(ep, &ss, &len) || src_from_py(srcobj, &src))
		return NULL;
	wrlock(&self->dev);
	p = find_or_raise(self, id);
	if (p)
		ssw_peer_set_endpoint(p, (struct sockaddr *)&ss, len, &src);
	unlock(&self->dev);
	if (!p)
		return NULL;
	Py_RETURN_NONE;
}

/* id -> op(dev, peer) under the write lock; KeyError for an unknown id */
static PyObject *peer_op(DatapathObject *self, PyObject *args, void (*op)(struct ssw_dev *, struct ssw_peer *))
{
	unsigned long long id;
	struct ssw_peer *p;

	if (check(self) || !PyArg_ParseTuple(args, "K", &id))
		return NULL;
	wrlock(&self->dev);
	p = find_or_raise(self, id);
	if (p)
		op(&self->dev, p);
	unlock(&self->dev);
	if (!p)
		return NULL;
	Py_RETURN_NONE;
}

static void clear_src(struct ssw_dev *d, struct ssw_peer *p)
{
	ssw_peer_clear_src(p);
}

/* clear_source(id): sends to the peer leave from what routing picks until
 * it writes to us again (WireGuard does this on a handshake retransmit) */
static PyObject *Datapath_clear_source(DatapathObject *self, PyObject *args)
{
	return peer_op(self, args, clear_src);
}

static PyObject *Datapath_remove_peer(DatapathObject *self, PyObject *args)
{
	return peer_op(self, args, ssw_peer_remove);
}

/* set_allowed_ips(peer, [(4|6, packed address, cidr), ...]) */
static PyObject *Datapath_set_allowed_ips(DatapathObject *self, PyObject *args)
{
	unsigned long long id;
	PyObject *list, *seq;
	struct ssw_aip *a = NULL;
	Py_ssize_t n;
	struct ssw_peer *p;
	int r = 0;

	if (check(self) || !PyArg_ParseTuple(args, "KO", &id, &list))
		return NULL;
	seq = PySequence_Fast(list, "allowed IPs must be a sequence");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	a = PyMem_Calloc(n ? (size_t)n : 1, sizeof(*a));
	if (!a) {
		Py_DECREF(seq);
		return PyErr_NoMemory();
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		int family, cidr;
		const char *raw;
		Py_ssize_t rawlen;

		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iy#i", &family, &raw, &rawlen, &cidr))
			goto err;
		if (!((family == 4 && rawlen == 4 && cidr >= 0 && cidr <= 32) ||
		      (family == 6 && rawlen == 16 && cidr >= 0 && cidr <= 128))) {
			PyErr_SetString(PyExc_ValueError, "bad allowed IP (family, packed address, cidr)");
			goto err;
		}
		a[i].family = (uint8_t)family;
		a[i].cidr = (uint8_t)cidr;
		memcpy(a[i].addr, raw, (size_t)rawlen);
	}
	Py_DECREF(seq);
	wrlock(&self->dev);
	p = find_or_raise(self, id);
	if (p)
		r = ssw_peer_set_aips(&self->dev, p, a, (size_t)n);
	unlock(&self->dev);
	PyMem_Free(a);
	if (!p)
		return NULL;
	if (r)
		return PyErr_NoMemory();
	Py_RETURN_NONE;
err:
	Py_DECREF(seq);
	PyMem_Free(a);
	return NULL;
}

static int key_arg(PyObject *o, Py_buffer *b)
{
	if (PyObject_GetBuffer(o, b, PyBUF_SIMPLE))
		return -1;
	if (b->len != SSW_NOISE_KEY_LEN) {
		PyBuffer_Release(b);
		PyErr_SetString(PyExc_ValueError, "keys are 32 bytes");
		return -1;
	}
	return 0;
}

/* install_keypair(peer, local_index, remote_index, send_key, receive_key,
 *                 cipher, is_initiator, created): slots as WireGuard; an
 * initiator's keypair is sent a key-confirming keepalive at once. */
static PyObject *Datapath_install_keypair(DatapathObject *self, PyObject *args)
{
	unsigned long long id;
	unsigned int li, ri;
	PyObject *sk, *rk;
	int cipher, initiator;
	double created;
	Py_buffer sb, rb;
	struct ssw_keypair *kp;
	struct ssw_peer *p;
	bool sent = false;

	if (check(self) || !PyArg_ParseTuple(args, "KIIOOipd", &id, &li, &ri, &sk, &rk, &cipher, &initiator, &created))
		return NULL;
	if (cipher != SSW_CHACHA20_POLY1305 && cipher != SSW_AES_256_GCM) {
		PyErr_SetString(PyExc_ValueError, "cipher: 0 chacha20-poly1305, 1 aes-256-gcm");
		return NULL;
	}
	if (key_arg(sk, &sb))
		return NULL;
	if (key_arg(rk, &rb)) {
		PyBuffer_Release(&sb);
		return NULL;
	}
	kp = ssw_keypair_new(li, ri, sb.buf, rb.buf, cipher, initiator, created);
	PyBuffer_Release(&sb);
	PyBuffer_Release(&rb);
	if (!kp)
		return PyErr_NoMemory();
	wrlock(&self->dev);
	p = find_or_raise(self, id);
	if (p) {
		if (ssw_index_find(&self->dev, li)) {
			p = NULL;
			PyErr_SetString(PyExc_ValueError, "local index already installed");
		} else {
			ssw_peer_install(&self->dev, p, kp);
			kp = NULL;
			if (initiator)
				sent = ssw_send_packet(&self->dev, p, NULL, 0) == 0;
		}
	}
	unlock(&self->dev);
	if (kp)
		ssw_keypair_free(kp);
	if (!p)
		return NULL;
	return PyBool_FromLong(sent);
}

/* remove_keypair(peer, local_index=None): zero one keypair, or all of the peer's. */
static PyObject *Datapath_remove_keypair(DatapathObject *self, PyObject *args)
{
	unsigned long long id;
	PyObject *idx = Py_None;
	struct ssw_peer *p;
	bool found = false;

	if (check(self) || !PyArg_ParseTuple(args, "K|O", &id, &idx))
		return NULL;
	wrlock(&self->dev);
	p = find_or_raise(self, id);
	if (p && idx == Py_None) {
		found = p->current || p->previous || p->next;
		ssw_peer_clear_keypairs(&self->dev, p);
	} else if (p) {
		unsigned long v = PyLong_AsUnsignedLong(idx);
		struct ssw_keypair *_Atomic *slots[3] = { &p->current, &p->previous, &p->next };

		for (int i = 0; i < 3 && !PyErr_Occurred(); i++) {
			struct ssw_keypair *kp = *slots[i];

			if (kp && kp->local_index == v) {
				*slots[i] = NULL;
				ssw_keypair_drop(&self->dev, kp);
				found = true;
			}
		}
	}
	unlock(&self->dev);
	if (!p || PyErr_Occurred())
		return NULL;
	return PyBool_FromLong(found);
}

/* send(peer, packet=b"") -> bool: one packet under the current keypair
 * (b"" = keepalive); False if it could not go (no keypair: it went up as a
 * staged event; no endpoint; send error). */
static PyObject *Datapath_send(DatapathObject *self, PyObject *args)
{
	unsigned long long id;
	Py_buffer pkt = { 0 };
	struct ssw_peer *p;
	int r = -1;

	if (check(self) || !PyArg_ParseTuple(args, "K|y*", &id, &pkt))
		return NULL;
	wrlock(&self->dev);
	p = find_or_raise(self, id);
	if (p)
		r = ssw_send_packet(&self->dev, p, pkt.buf, (size_t)pkt.len);
	unlock(&self->dev);
	if (pkt.obj)
		PyBuffer_Release(&pkt);
	if (!p)
		return NULL;
	return PyBool_FromLong(r == 0);
}

/* route(packed_address) -> peer id | None: the allowed-IPs lookup the workers do */
static PyObject *Datapath_route(DatapathObject *self, PyObject *args)
{
	const char *addr;
	Py_ssize_t len;
	struct ssw_peer *p;
	PyObject *out;

	if (check(self) || !PyArg_ParseTuple(args, "y#", &addr, &len))
		return NULL;
	if (len != 4 && len != 16) {
		PyErr_SetString(PyExc_ValueError, "a packed IPv4 or IPv6 address");
		return NULL;
	}
	rdlock(&self->dev);
	p = len == 4 ? ssw_trie_lookup(self->dev.trie4, (const uint8_t *)addr, 32)
		     : ssw_trie_lookup(self->dev.trie6, (const uint8_t *)addr, 128);
	out = p ? PyLong_FromUnsignedLongLong(p->id) : Py_NewRef(Py_None);
	unlock(&self->dev);
	return out;
}

/* set_mtu(mtu): padding never takes a packet past it (the TUN link's MTU,
 * which `ip link set mtu` may change while we run) */
static PyObject *Datapath_set_mtu(DatapathObject *self, PyObject *args)
{
	int mtu;

	if (check(self) || !PyArg_ParseTuple(args, "i", &mtu))
		return NULL;
	if (mtu < 0) {
		PyErr_SetString(PyExc_ValueError, "mtu must be >= 0");
		return NULL;
	}
	wrlock(&self->dev); /* the workers read it under the read lock */
	self->dev.mtu = mtu;
	unlock(&self->dev);
	Py_RETURN_NONE;
}

/* tun_gone() -> bool: the TUN device went away under the send worker
 * (deleted, or its namespace was); it has stopped, the daemon should too */
static PyObject *Datapath_tun_gone(DatapathObject *self, PyObject *unused)
{
	if (check(self))
		return NULL;
	return PyBool_FromLong(atomic_load(&self->dev.tun_gone));
}

/* control_work() -> int: trie nodes and hash entries control calls visited
 * so far; tests check one change costs the same at 1k and at 10k peers. */
static PyObject *Datapath_control_work(DatapathObject *self, PyObject *unused)
{
	unsigned long long w;

	if (check(self))
		return NULL;
	wrlock(&self->dev);
	w = self->dev.control_work;
	unlock(&self->dev);
	return PyLong_FromUnsignedLongLong(w);
}

static PyObject *Datapath_event_fd(DatapathObject *self, PyObject *unused)
{
	if (check(self))
		return NULL;
	return PyLong_FromLong(self->dev.event_fd);
}

static const char *const event_names[] = {
	[SSW_EV_HANDSHAKE] = "handshake", [SSW_EV_STAGED] = "staged", [SSW_EV_REKEY] = "rekey",
	[SSW_EV_CONFIRMED] = "confirmed", [SSW_EV_ENDPOINT] = "endpoint",
};

/* Fills list[at:at + n] from ev; 0 or -1 (list freed). */
static int events_to_list(PyObject **list, Py_ssize_t at, struct ssw_event *ev, size_t n)
{
	for (size_t i = 0; *list && i < n; i++) {
		PyObject *peer = ev[i].kind == SSW_EV_HANDSHAKE ? Py_NewRef(Py_None) : PyLong_FromUnsignedLongLong(ev[i].peer);
		PyObject *data = ev[i].data ? PyBytes_FromStringAndSize((char *)ev[i].data, (Py_ssize_t)ev[i].len)
					    : Py_NewRef(Py_None);
		PyObject *addr = addr_to_py(&ev[i].addr, ev[i].addr_len);
		PyObject *local = src_to_py(&ev[i].local);
		PyObject *t = (peer && data && addr && local)
				      ? Py_BuildValue("(sOIOOO)", event_names[ev[i].kind], peer, ev[i].index, data, addr,
						      local)
				      : NULL;

		Py_XDECREF(peer);
		Py_XDECREF(data);
		Py_XDECREF(addr);
		Py_XDECREF(local);
		if (!t) {
			Py_CLEAR(*list);
			return -1;
		}
		PyList_SET_ITEM(*list, at + (Py_ssize_t)i, t);
	}
	return *list ? 0 : -1;
}

/* [(kind, peer | None, index, data | None, addr | None, local | None), ...]:
 * control events first, then the handshake messages. */
static PyObject *Datapath_poll_events(DatapathObject *self, PyObject *unused)
{
	struct ssw_event *ctl, *hs;
	size_t n_ctl, n_hs;
	PyObject *list;

	if (check(self))
		return NULL;
	ssw_events_take(&self->dev, &ctl, &n_ctl, &hs, &n_hs);
	list = PyList_New((Py_ssize_t)(n_ctl + n_hs));
	if (!events_to_list(&list, 0, ctl, n_ctl))
		events_to_list(&list, (Py_ssize_t)n_ctl, hs, n_hs);
	ssw_events_free(ctl, n_ctl);
	ssw_events_free(hs, n_hs);
	return list;
}

/* set_public_key(key32): our identity, for mac1 and cookie replies; a new
 * one voids the cookie secret. Until it is set every handshake message is
 * dropped (counted as mac1_invalid). */
static PyObject *Datapath_set_public_key(DatapathObject *self, PyObject *args)
{
	Py_buffer key;

	if (check(self) || !PyArg_ParseTuple(args, "y*", &key))
		return NULL;
	if (key.len != SSW_NOISE_KEY_LEN) {
		PyBuffer_Release(&key);
		PyErr_SetString(PyExc_ValueError, "public key must be 32 bytes");
		return NULL;
	}
	wrlock(&self->dev);
	ssw_cookie_set_public(&self->dev.ck, self->dev.type_data, key.buf);
	unlock(&self->dev);
	PyBuffer_Release(&key);
	Py_RETURN_NONE;
}

static double ns_to_s(uint64_t ns)
{
	return ns ? (double)ns / 1e9 : 0.0;
}

static PyObject *drops_dict(_Atomic uint64_t *drops)
{
	PyObject *d = PyDict_New();

	for (int i = 0; d && i < SSW_DROP__MAX; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(atomic_load(&drops[i]));

		if (!v || PyDict_SetItemString(d, ssw_drop_names[i], v)) {
			Py_XDECREF(v);
			Py_CLEAR(d);
			break;
		}
		Py_DECREF(v);
	}
	return d;
}

/* cookie.c's counters, and the handshake queue's length now */
static PyObject *hs_dict(struct ssw_dev *d)
{
	PyObject *out = PyDict_New(), *v;

	for (int i = 0; out && i <= SSW_HS__MAX; i++) {
		v = PyLong_FromUnsignedLongLong(i < SSW_HS__MAX ? atomic_load(&d->ck.c[i]) : atomic_load(&d->n_hs));
		if (!v || PyDict_SetItemString(out, i < SSW_HS__MAX ? ssw_hs_names[i] : "backlog", v))
			Py_CLEAR(out);
		Py_XDECREF(v);
	}
	return out;
}

static PyObject *peer_stats(struct ssw_peer *p)
{
	struct ssw_counters *c = &p->c;
	struct sockaddr_storage ep;
	socklen_t len;
	struct ssw_src src;
	struct ssw_keypair *cur = p->current;
	PyObject *drops = drops_dict(c->drops), *addr, *source;

	if (!drops)
		return NULL;
	ssw_peer_get_endpoint(p, &ep, &len, &src);
	addr = addr_to_py(&ep, len);
	source = src_to_py(&src);
	if (!addr || !source) {
		Py_DECREF(drops);
		Py_XDECREF(addr);
		Py_XDECREF(source);
		return NULL;
	}
	return Py_BuildValue(
		"{sKsKsKsKsdsdsdsdsNsNsNsisNsOsO}", "rx_bytes", (unsigned long long)atomic_load(&c->rx_bytes),
		"tx_bytes", (unsigned long long)atomic_load(&c->tx_bytes), "rx_packets",
		(unsigned long long)atomic_load(&c->rx_packets), "tx_packets",
		(unsigned long long)atomic_load(&c->tx_packets), "last_tx", ns_to_s(atomic_load(&c->last_tx_ns)),
		"last_rx", ns_to_s(atomic_load(&c->last_rx_ns)), "last_tx_data",
		ns_to_s(atomic_load(&c->last_tx_data_ns)), "last_rx_data", ns_to_s(atomic_load(&c->last_rx_data_ns)),
		"drops", drops, "endpoint", addr, "source", source, "source_ifindex", src.ifindex, "current",
		cur ? PyLong_FromUnsignedLong(cur->local_index) : Py_NewRef(Py_None), "previous",
		p->previous ? Py_True : Py_False, "next", p->next ? Py_True : Py_False);
}

/*
 * fn(p, ctx) for every peer, under the read lock (workers keep running;
 * counters are atomics); stops at the first nonzero return and returns it.
 * Every 256 peers a waiting writer (the receive worker freeing a retired
 * keypair) is let in: with writer preference the send worker would
 * otherwise queue behind it for the whole walk of 100k peers. Peers change
 * only by control calls, which the calling thread makes, so the array stays
 * as it is in between.
 */
static int walk_peers(struct ssw_dev *d, int (*fn)(struct ssw_peer *p, size_t i, void *ctx), void *ctx)
{
	int rc = 0;

	rdlock(d);
	for (size_t i = 0; !rc && i < d->n_peers; i++) {
		if (i && !(i % 256)) {
			unlock(d);
			rdlock(d);
		}
		rc = fn(d->peers[i], i, ctx);
	}
	unlock(d);
	return rc;
}

static int add_peer_stats(struct ssw_peer *p, size_t i, void *peers)
{
	PyObject *k = PyLong_FromUnsignedLongLong(p->id), *v = peer_stats(p);
	int rc = !k || !v || PyDict_SetItem(peers, k, v) ? -1 : 0;

	Py_XDECREF(k);
	Py_XDECREF(v);
	return rc;
}

/* stats() -> {"device": {"drops": {...}}, "peers": {id: {...}}} */
static PyObject *Datapath_stats(DatapathObject *self, PyObject *unused)
{
	PyObject *peers, *dev, *out = NULL;

	if (check(self))
		return NULL;
	peers = PyDict_New();
	if (!peers || walk_peers(&self->dev, add_peer_stats, peers)) {
		Py_XDECREF(peers);
		return NULL;
	}
	dev = Py_BuildValue("{sNsNsOsKsKsKsK}", "drops", drops_dict(self->dev.drops), "handshake",
			    hs_dict(&self->dev), "running",
			    self->dev.running ? Py_True : Py_False, "tun_reads",
			    (unsigned long long)atomic_load(&self->dev.tun_reads), "tun_writes",
			    (unsigned long long)atomic_load(&self->dev.tun_writes), "udp_send_msgs",
			    (unsigned long long)atomic_load(&self->dev.udp_send_msgs), "udp_recv_msgs",
			    (unsigned long long)atomic_load(&self->dev.udp_recv_msgs));
	if (dev)
		out = Py_BuildValue("{sNsN}", "device", dev, "peers", peers);
	else
		Py_DECREF(peers);
	return out;
}

static int set_peer_transfer(struct ssw_peer *p, size_t i, void *list)
{
	PyObject *t = Py_BuildValue("(KKK)", (unsigned long long)p->id,
				    (unsigned long long)atomic_load(&p->c.rx_bytes),
				    (unsigned long long)atomic_load(&p->c.tx_bytes));

	if (!t)
		return -1;
	PyList_SET_ITEM((PyObject *)list, (Py_ssize_t)i, t);
	return 0;
}

/* transfer() -> [(id, rx_bytes, tx_bytes)]: what a get or a dump reports
 * per peer, without stats()'s dictionaries (a dump of 100k peers reads it). */
static PyObject *Datapath_transfer(DatapathObject *self, PyObject *unused)
{
	PyObject *out;

	if (check(self))
		return NULL;
	/* n_peers changes only by this thread's control calls: sized once */
	out = PyList_New((Py_ssize_t)self->dev.n_peers);
	if (out && walk_peers(&self->dev, set_peer_transfer, out))
		Py_CLEAR(out);
	return out;
}

static PyMethodDef Datapath_methods[] = {
	{ "set_sockets", (PyCFunction)Datapath_set_sockets, METH_VARARGS, "set_sockets(tun_fd, udp4_fd, udp6_fd, vnet_hdr=False)" },
	{ "start", (PyCFunction)Datapath_start, METH_NOARGS, "start the worker threads" },
	{ "stop", (PyCFunction)Datapath_stop, METH_NOARGS, "join the workers, zero all keypairs" },
	{ "set_peer", (PyCFunction)Datapath_set_peer, METH_VARARGS, "set_peer(id, endpoint=None, persistent_keepalive=0)" },
	{ "set_endpoint", (PyCFunction)Datapath_set_endpoint, METH_VARARGS, "set_endpoint(id, endpoint, source=None)" },
	{ "clear_source", (PyCFunction)Datapath_clear_source, METH_VARARGS, "clear_source(id)" },
	{ "remove_peer", (PyCFunction)Datapath_remove_peer, METH_VARARGS, "remove_peer(id)" },
	{ "set_allowed_ips", (PyCFunction)Datapath_set_allowed_ips, METH_VARARGS,
	  "set_allowed_ips(id, [(family, packed, cidr)])" },
	{ "install_keypair", (PyCFunction)Datapath_install_keypair, METH_VARARGS,
	  "install_keypair(id, local, remote, send_key, receive_key, cipher, is_initiator, created)" },
	{ "remove_keypair", (PyCFunction)Datapath_remove_keypair, METH_VARARGS, "remove_keypair(id, local=None)" },
	{ "send", (PyCFunction)Datapath_send, METH_VARARGS, "send(id, packet=b'') -> bool" },
	{ "event_fd", (PyCFunction)Datapath_event_fd, METH_NOARGS, "readable while events are queued" },
	{ "set_mtu", (PyCFunction)Datapath_set_mtu, METH_VARARGS, "set_mtu(mtu): the padding limit" },
	{ "tun_gone", (PyCFunction)Datapath_tun_gone, METH_NOARGS, "the TUN device went away (the send worker stopped)" },
	{ "route", (PyCFunction)Datapath_route, METH_VARARGS, "route(packed_address) -> peer id | None" },
	{ "poll_events", (PyCFunction)Datapath_poll_events, METH_NOARGS, "drain the event queue" },
	{ "set_public_key", (PyCFunction)Datapath_set_public_key, METH_VARARGS, "set_public_key(key32)" },
	{ "stats", (PyCFunction)Datapath_stats, METH_NOARGS, "counters" },
	{ "transfer", (PyCFunction)Datapath_transfer, METH_NOARGS, "[(id, rx_bytes, tx_bytes)]" },
	{ "control_work", (PyCFunction)Datapath_control_work, METH_NOARGS, "work done by control calls so far" },
	{ NULL }
};

static PyTypeObject DatapathType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sswctl._datapath.Datapath",
	.tp_basicsize = sizeof(DatapathObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Datapath_init,
	.tp_dealloc = (destructor)Datapath_dealloc,
	.tp_methods = Datapath_methods,
	.tp_doc = "Native transport data path (see sswctl/datapath.py)",
};

/* --- test hooks: the workers' own functions, one call at a time ---------- */

/* seal(type_data, cipher, key, remote_index, counter, packet, mtu=0) -> bytes */
static PyObject *mod_seal(PyObject *m, PyObject *args)
{
	int type_data, cipher, mtu = 0;
	PyObject *key;
	unsigned int remote;
	unsigned long long counter;
	Py_buffer kb, pkt;
	struct ssw_keypair kp;
	uint8_t *buf;
	size_t n;
	PyObject *out = NULL;

	if (!PyArg_ParseTuple(args, "iiOIKy*|i", &type_data, &cipher, &key, &remote, &counter, &pkt, &mtu))
		return NULL;
	if (pkt.len > SSW_MAX_PLAINTEXT || key_arg(key, &kb)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "packet too large");
		PyBuffer_Release(&pkt);
		return NULL;
	}
	memset(&kp, 0, sizeof(kp));
	kp.remote_index = remote;
	buf = PyMem_Malloc(SSW_DATA_HEADER_LEN + SSW_MAX_PLAINTEXT + SSW_PADDING_MULTIPLE + SSW_AEAD_TAG_LEN);
	if (buf && ssw_aead_init(&kp.send, cipher, kb.buf, 1) == 0) {
		memcpy(buf + SSW_DATA_HEADER_LEN, pkt.buf, (size_t)pkt.len);
		n = ssw_encrypt_packet(&kp, (uint8_t)type_data, mtu, counter, buf, (size_t)pkt.len);
		out = n ? PyBytes_FromStringAndSize((char *)buf, (Py_ssize_t)n) : NULL;
		ssw_aead_free(&kp.send);
	}
	if (!out && !PyErr_Occurred())
		PyErr_SetString(PyExc_RuntimeError, "seal failed");
	PyMem_Free(buf);
	PyBuffer_Release(&kb);
	PyBuffer_Release(&pkt);
	return out;
}

/* open(cipher, key, datagram) -> padded plaintext, or None if not authentic */
static PyObject *mod_open(PyObject *m, PyObject *args)
{
	int cipher;
	PyObject *key, *out = NULL;
	Py_buffer kb, dg;
	struct ssw_aead a;
	uint8_t *buf;
	uint64_t counter = 0;

	if (!PyArg_ParseTuple(args, "iOy*", &cipher, &key, &dg))
		return NULL;
	if (key_arg(key, &kb)) {
		PyBuffer_Release(&dg);
		return NULL;
	}
	if (dg.len < SSW_DATA_HEADER_LEN + SSW_AEAD_TAG_LEN) {
		out = Py_NewRef(Py_None);
		goto done;
	}
	for (int i = 0; i < 8; i++)
		counter |= (uint64_t)((uint8_t *)dg.buf)[8 + i] << (8 * i);
	buf = PyMem_Malloc((size_t)dg.len);
	if (buf && ssw_aead_init(&a, cipher, kb.buf, 0) == 0) {
		size_t clen = (size_t)dg.len - SSW_DATA_HEADER_LEN;

		if (ssw_aead_open(&a, counter, (uint8_t *)dg.buf + SSW_DATA_HEADER_LEN, clen, buf))
			out = Py_NewRef(Py_None);
		else
			out = PyBytes_FromStringAndSize((char *)buf, (Py_ssize_t)(clen - SSW_AEAD_TAG_LEN));
		ssw_aead_free(&a);
	}
	if (!out && !PyErr_Occurred())
		PyErr_NoMemory();
	PyMem_Free(buf);
done:
	PyBuffer_Release(&kb);
	PyBuffer_Release(&dg);
	return out;
}

/* split(read) -> [packets]: the send worker's offload splitter (slots as
 * long as the longest segment); ValueError if malformed */
static PyObject *mod_split(PyObject *m, PyObject *args)
{
	Py_buffer in;
	uint8_t *mem = NULL, *pt[SSW_OFFLOAD_SLOTS];
	size_t len[SSW_OFFLOAD_SLOTS], longest = 0;
	PyObject *list = NULL;
	int n;

	if (!PyArg_ParseTuple(args, "y*", &in))
		return NULL;
	n = ssw_offload_count(in.buf, (size_t)in.len, &longest);
	if (n > SSW_OFFLOAD_SLOTS)
		n = -2;
	if (n >= 0) {
		mem = PyMem_Malloc((size_t)(n ? n : 1) * (longest ? longest : 1));
		if (!mem) {
			PyBuffer_Release(&in);
			return PyErr_NoMemory();
		}
		for (int i = 0; i < n; i++)
			pt[i] = mem + (size_t)i * longest;
		n = ssw_offload_split(in.buf, (size_t)in.len, pt, len, n, longest);
	}
	if (n < 0) {
		PyErr_SetString(PyExc_ValueError, n == -2 ? "too many segments" : "malformed");
	} else {
		list = PyList_New(n);
		for (int i = 0; list && i < n; i++) {
			PyObject *b = PyBytes_FromStringAndSize((char *)pt[i], (Py_ssize_t)len[i]);

			if (!b)
				Py_CLEAR(list);
			else
				PyList_SET_ITEM(list, i, b);
		}
	}
	PyMem_Free(mem);
	PyBuffer_Release(&in);
	return list;
}

/* coalesce([packets]) -> [virtio-framed TUN writes]: the receive worker's GRO */
static PyObject *mod_coalesce(PyObject *m, PyObject *args)
{
	PyObject *in, *seq, *list = NULL;
	uint8_t *pkts[SSW_BATCH], *merge = NULL;
	size_t lens[SSW_BATCH];
	Py_ssize_t n;
	int i, j;

	if (!PyArg_ParseTuple(args, "O", &in))
		return NULL;
	seq = PySequence_Fast(in, "a sequence of packets");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > SSW_BATCH) {
		Py_DECREF(seq);
		PyErr_SetString(PyExc_ValueError, "at most one batch of packets");
		return NULL;
	}
	memset(pkts, 0, sizeof(pkts));
	for (i = 0; i < n; i++) {
		char *b;
		Py_ssize_t bl;

		if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(seq, i), &b, &bl) < 0 || bl > SSW_MAX_PLAINTEXT)
			goto out;
		/* the worker's packets have a spent data header in front: room for the virtio header */
		pkts[i] = PyMem_Malloc(SSW_DATA_HEADER_LEN + (size_t)bl + 1);
		if (!pkts[i])
			goto out;
		pkts[i] += SSW_DATA_HEADER_LEN;
		memcpy(pkts[i], b, (size_t)bl);
		lens[i] = (size_t)bl;
	}
	merge = PyMem_Malloc(SSW_VNET_HDR_LEN + SSW_MAX_DATAGRAM);
	list = merge ? PyList_New(0) : NULL;
	for (i = 0; list && i < n; i = j) {
		PyObject *b;

		j = ssw_gro_run(pkts, lens, i, (int)n);
		if (j - i > 1) {
			b = PyBytes_FromStringAndSize((char *)merge, (Py_ssize_t)ssw_gro_merge(pkts, lens, i, j, merge));
		} else {
			uint8_t *h = pkts[i] - SSW_VNET_HDR_LEN;

			memset(h, 0, SSW_VNET_HDR_LEN);
			h[0] = SSW_VNET_F_DATA_VALID;
			b = PyBytes_FromStringAndSize((char *)h, (Py_ssize_t)(lens[i] + SSW_VNET_HDR_LEN));
		}
		if (!b || PyList_Append(list, b) < 0)
			Py_CLEAR(list);
		Py_XDECREF(b);
	}
out:
	for (i = 0; i < n; i++)
		if (pkts[i])
			PyMem_Free(pkts[i] - SSW_DATA_HEADER_LEN);
	PyMem_Free(merge);
	Py_DECREF(seq);
	if (!list && !PyErr_Occurred())
		PyErr_NoMemory();
	return list;
}

typedef struct {
	PyObject_HEAD
	struct ssw_replay r;
} ReplayObject;

static int Replay_init(ReplayObject *self, PyObject *args, PyObject *kw)
{
	ssw_replay_init(&self->r);
	return 0;
}

static int counter_arg(PyObject *args, uint64_t *out, bool *negative)
{
	PyObject *o;
	int overflow;
	long long v;

	if (!PyArg_ParseTuple(args, "O!", &PyLong_Type, &o))
		return -1;
	v = PyLong_AsLongLongAndOverflow(o, &overflow);
	*negative = (overflow < 0) || (!overflow && v < 0);
	if (*negative)
		return 0;
	*out = PyLong_AsUnsignedLongLong(o);
	if (PyErr_Occurred()) { /* > 2^64 - 1: beyond any window */
		PyErr_Clear();
		*out = UINT64_MAX;
	}
	return 0;
}

static PyObject *Replay_check(ReplayObject *self, PyObject *args)
{
	uint64_t c;
	bool neg;

	if (counter_arg(args, &c, &neg))
		return NULL;
	return PyBool_FromLong(!neg && ssw_replay_check(&self->r, c));
}

static PyObject *Replay_would_accept(ReplayObject *self, PyObject *args)
{
	uint64_t c;
	bool neg;

	if (counter_arg(args, &c, &neg))
		return NULL;
	return PyBool_FromLong(!neg && ssw_replay_would_accept(&self->r, c));
}

static PyObject *Replay_counter(ReplayObject *self, void *closure)
{
	return PyLong_FromUnsignedLongLong(self->r.counter);
}

static PyMethodDef Replay_methods[] = {
	{ "check", (PyCFunction)Replay_check, METH_VARARGS, "record a counter; False if refused" },
	{ "would_accept", (PyCFunction)Replay_would_accept, METH_VARARGS, "pre-check, no change" },
	{ NULL }
};
static PyGetSetDef Replay_getset[] = { { "counter", (getter)Replay_counter, NULL, NULL, NULL }, { NULL } };

static PyTypeObject ReplayType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sswctl._datapath.ReplayWindow",
	.tp_basicsize = sizeof(ReplayObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Replay_init,
	.tp_methods = Replay_methods,
	.tp_getset = Replay_getset,
	.tp_doc = "The data path's replay window (for tests)",
};

/* blake2s(data, key=b"", digest_size=32) -> bytes: blake2s.c */
static PyObject *mod_blake2s(PyObject *m, PyObject *args)
{
	Py_buffer data, key = { 0 };
	int size = 32;
	uint8_t out[32];

	if (!PyArg_ParseTuple(args, "y*|y*i", &data, &key, &size))
		return NULL;
	if (size < 1 || size > 32 || key.len > 32) {
		PyBuffer_Release(&data);
		PyBuffer_Release(&key);
		PyErr_SetString(PyExc_ValueError, "digest_size 1-32, key at most 32 bytes");
		return NULL;
	}
	ssw_blake2s(out, (size_t)size, data.buf, (size_t)data.len, key.buf, (size_t)key.len);
	PyBuffer_Release(&data);
	PyBuffer_Release(&key);
	return PyBytes_FromStringAndSize((char *)out, size);
}

/* cookie_reply(type_data, our_public, cookie16, nonce24, message) -> the
 * 64-byte reply cookie.c sends for that message (mac1 is its last 32..16). */
static PyObject *mod_cookie_reply(PyObject *m, PyObject *args)
{
	int type_data, err = -1;
	Py_buffer pub, cookie, nonce, msg;
	uint8_t mac1_key[32], cookie_key[32], out[SSW_COOKIE_REPLY_LEN];
	EVP_CIPHER_CTX *ctx;
	PyObject *ret = NULL;

	if (!PyArg_ParseTuple(args, "iy*y*y*y*", &type_data, &pub, &cookie, &nonce, &msg))
		return NULL;
	if (pub.len != SSW_NOISE_KEY_LEN || cookie.len != SSW_MAC_LEN || nonce.len != SSW_COOKIE_NONCE_LEN ||
	    msg.len < 2 * SSW_MAC_LEN) {
		PyErr_SetString(PyExc_ValueError, "key 32, cookie 16, nonce 24 bytes, message at least 32");
		goto out;
	}
	ctx = ssw_cookie_aead_new();
	if (!ctx) {
		PyErr_NoMemory();
		goto out;
	}
	ssw_cookie_keys((uint8_t)type_data, pub.buf, mac1_key, cookie_key);
	ssw_cookie_reply_make(ctx, (uint8_t)(type_data - 1), cookie_key, cookie.buf, nonce.buf, msg.buf,
			      (size_t)msg.len, out, &err);
	EVP_CIPHER_CTX_free(ctx);
	if (err)
		PyErr_SetString(PyExc_RuntimeError, "cookie reply encryption failed");
	else
		ret = PyBytes_FromStringAndSize((char *)out, sizeof(out));
out:
	PyBuffer_Release(&pub);
	PyBuffer_Release(&cookie);
	PyBuffer_Release(&nonce);
	PyBuffer_Release(&msg);
	return ret;
}

/* siphash(k0, k1, m) -> SipHash-2-4 of m's 8 little-endian bytes (test hook) */
static PyObject *mod_siphash(PyObject *m, PyObject *args)
{
	unsigned long long k0, k1, v;
	uint64_t key[2];

	if (!PyArg_ParseTuple(args, "KKK", &k0, &k1, &v))
		return NULL;
	key[0] = k0;
	key[1] = k1;
	return PyLong_FromUnsignedLongLong(ssw_siphash_u64(key, v));
}

static PyMethodDef module_methods[] = {
	{ "blake2s", mod_blake2s, METH_VARARGS, "blake2s(data, key=b'', digest_size=32) -> bytes" },
	{ "cookie_reply", mod_cookie_reply, METH_VARARGS, "cookie_reply(type_data, public, cookie, nonce, message)" },
	{ "siphash", mod_siphash, METH_VARARGS, "siphash(k0, k1, m) -> SipHash-2-4 of a u64" },
	{ "seal", mod_seal, METH_VARARGS, "seal(type_data, cipher, key, remote_index, counter, packet, mtu=0)" },
	{ "open", mod_open, METH_VARARGS, "open(cipher, key, datagram) -> padded plaintext | None" },
	{ "split", mod_split, METH_VARARGS, "split(tun_read_with_vnet_header) -> [packets]" },
	{ "coalesce", mod_coalesce, METH_VARARGS, "coalesce([packets]) -> [tun writes with vnet header]" },
	{ NULL }
};

static struct PyModuleDef moduledef = {
	PyModuleDef_HEAD_INIT, "sswctl._datapath", "SecureSwift native data path", -1, module_methods,
};

PyMODINIT_FUNC PyInit__datapath(void)
{
	PyObject *m;

	if (PyType_Ready(&DatapathType) < 0 || PyType_Ready(&ReplayType) < 0)
		return NULL;
	m = PyModule_Create(&moduledef);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Datapath", (PyObject *)&DatapathType) < 0 ||
	    PyModule_AddObjectRef(m, "ReplayWindow", (PyObject *)&ReplayType) < 0 ||
	    PyModule_AddIntConstant(m, "CHACHA20_POLY1305", SSW_CHACHA20_POLY1305) < 0 ||
	    PyModule_AddIntConstant(m, "AES_256_GCM", SSW_AES_256_GCM) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_EVENTS", SSW_MAX_EVENTS) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_STAGED", SSW_MAX_STAGED) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_HANDSHAKES", SSW_MAX_HANDSHAKES) < 0 ||
	    PyModule_AddIntConstant(m, "OFFLOAD_SLOTS", SSW_OFFLOAD_SLOTS) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
