/* The upcall queue: workers append, Python drains it in poll_events(). An
 * eventfd is readable while the queue is non-empty, so the daemon's
 * selector can watch it. Bounded: beyond SSW_MAX_EVENTS (or
 * SSW_MAX_STAGED staged packets) events are dropped and counted. */
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
	if (d->n_events >= SSW_MAX_EVENTS || (kind == SSW_EV_STAGED && d->n_staged >= SSW_MAX_STAGED)) {
		pthread_mutex_unlock(&d->ev_lock);
		free(copy);
		goto drop;
	}
	if (!d->events) {
		d->events = calloc(SSW_MAX_EVENTS, sizeof(*d->events));
		if (!d->events) {
			pthread_mutex_unlock(&d->ev_lock);
			free(copy);
			goto drop;
		}
	}
	ev = &d->events[d->n_events++];
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
	wake = d->n_events == 1;
	pthread_mutex_unlock(&d->ev_lock);
	if (wake && d->event_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(d->event_fd, &one, sizeof(one));
		(void)r;
	}
	return true;
drop:
	ssw_count(&d->drops[SSW_DROP_EVENT_OVERFLOW], 1);
	return false;
}

/* Hands the queue over to the caller (who frees it with ssw_events_free). */
size_t ssw_events_take(struct ssw_dev *d, struct ssw_event **out)
{
	size_t n;
	uint64_t v;

	pthread_mutex_lock(&d->ev_lock);
	if (d->event_fd >= 0) {
		ssize_t r = read(d->event_fd, &v, sizeof(v)); /* reset; nonblocking */
		(void)r;
	}
	*out = d->events;
	n = d->n_events;
	d->events = NULL;
	d->n_events = d->n_staged = 0;
	pthread_mutex_unlock(&d->ev_lock);
	return n;
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
