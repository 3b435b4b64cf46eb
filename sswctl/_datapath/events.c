/* The upcall queues: workers append, Python drains them in poll_events().
 * An eventfd is readable while either is non-empty, so the daemon's
 * selector can watch it. Two queues, so that a handshake flood can never
 * crowd out a control event (REKEY, CONFIRMED, ENDPOINT): handshake
 * messages (already checked by cookie.c) go to their own, d->hs_cap long,
 * overflow counted as shed_queue_full; the rest to one of SSW_MAX_EVENTS
 * (at most SSW_MAX_STAGED of them staged packets), overflow counted as
 * event_overflow. */
#include "dp.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

bool ssw_event_push(struct ssw_dev *d, int kind, uint64_t peer, uint32_t index, const uint8_t *data,
		    size_t len, const struct sockaddr_storage *addr, socklen_t addr_len, const struct ssw_src *local)
{
	struct ssw_event *ev;
	uint8_t *copy = NULL;
	bool wake;

	if (len) {
		copy = malloc(len);
		if (!copy)
			goto drop;
		memcpy(copy, data, len);
	}
	pthread_mutex_lock(&d->ev_lock);
	if (kind == SSW_EV_HANDSHAKE) {
		size_t n = atomic_load(&d->n_hs);

		if (n >= d->hs_cap) {
			pthread_mutex_unlock(&d->ev_lock);
			free(copy);
			ssw_count(&d->ck.c[SSW_HS_SHED_QUEUE_FULL], 1);
			return false;
		}
		if (!d->hs_events && !(d->hs_events = calloc(d->hs_cap, sizeof(*d->hs_events))))
			goto drop_locked;
		ev = &d->hs_events[n];
		atomic_store(&d->n_hs, n + 1);
	} else {
		if (d->n_events >= SSW_MAX_EVENTS || (kind == SSW_EV_STAGED && d->n_staged >= SSW_MAX_STAGED))
			goto drop_locked;
		if (!d->events && !(d->events = calloc(SSW_MAX_EVENTS, sizeof(*d->events))))
			goto drop_locked;
		ev = &d->events[d->n_events++];
	}
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->peer = peer;
	ev->index = index;
	ev->data = copy;
	ev->len = len;
	if (addr && addr_len) {
		ev->addr = *addr;
		ev->addr_len = addr_len;
	}
	if (local)
		ev->local = *local;
	if (kind == SSW_EV_STAGED)
		d->n_staged++;
	wake = d->n_events + atomic_load(&d->n_hs) == 1;
	pthread_mutex_unlock(&d->ev_lock);
	if (wake && d->event_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(d->event_fd, &one, sizeof(one));
		(void)r;
	}
	return true;
drop_locked:
	pthread_mutex_unlock(&d->ev_lock);
	free(copy);
drop:
	ssw_count(&d->drops[SSW_DROP_EVENT_OVERFLOW], 1);
	return false;
}

/* Hands both queues over to the caller (who frees each with ssw_events_free). */
void ssw_events_take(struct ssw_dev *d, struct ssw_event **ctl, size_t *n_ctl, struct ssw_event **hs, size_t *n_hs)
{
	uint64_t v;

	pthread_mutex_lock(&d->ev_lock);
	if (d->event_fd >= 0) {
		ssize_t r = read(d->event_fd, &v, sizeof(v)); /* reset; nonblocking */
		(void)r;
	}
	*ctl = d->events;
	*n_ctl = d->n_events;
	d->events = NULL;
	d->n_events = d->n_staged = 0;
	*hs = d->hs_events;
	*n_hs = atomic_load(&d->n_hs);
	d->hs_events = NULL;
	atomic_store(&d->n_hs, 0);
	pthread_mutex_unlock(&d->ev_lock);
}

void ssw_events_free(struct ssw_event *ev, size_t n)
{
	if (!ev)
		return;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].data) {
			/* staged packets are plaintext traffic: do not leave them in the heap */
			OPENSSL_cleanse(ev[i].data, ev[i].len);
			free(ev[i].data);
		}
	}
	free(ev);
}
