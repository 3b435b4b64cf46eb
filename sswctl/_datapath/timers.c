/* Data-path timers, as WireGuard's timers.c, run every SSW_TIMER_TICK_MS by
 * the send worker (the only worker that seals, so it may send keepalives
 * under the read lock):
 *  - passive keepalive: data received and nothing sent back for
 *    KEEPALIVE_TIMEOUT -> an empty data packet;
 *  - persistent keepalive: nothing sent or received for N seconds -> one;
 *  - data sent and nothing received for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT
 *    -> an SSW_EV_REKEY event (the daemon initiates a handshake).
 * Handshake retransmits and key zeroing stay with the engine in Python. */
#include "dp.h"

static double since(uint64_t now, uint64_t then)
{
	return (double)(now - then) / 1e9;
}

void ssw_timers_run(struct ssw_dev *d)
{
	uint64_t now = ssw_now_ns();

	if (now < d->next_timer_ns)
		return;
	d->next_timer_ns = now + SSW_TIMER_TICK_MS * 1000000ULL;
	pthread_rwlock_rdlock(&d->lock);
	for (size_t i = 0; i < d->n_peers; i++) {
		struct ssw_peer *p = d->peers[i];
		struct ssw_counters *c = &p->c;
		uint64_t rx_un = atomic_load(&c->rx_data_unanswered_ns);
		uint64_t tx_un = atomic_load(&c->tx_data_unanswered_ns);
		uint32_t pk = atomic_load(&p->persistent_keepalive);
		uint64_t last = atomic_load(&c->last_tx_ns);
		uint64_t last_rx = atomic_load(&c->last_rx_ns);

		if (last_rx > last)
			last = last_rx;
		if (tx_un && since(now, tx_un) >= d->keepalive_timeout + d->rekey_timeout) {
			atomic_store(&c->tx_data_unanswered_ns, 0);
			ssw_event_push(d, SSW_EV_REKEY, p->id, 0, NULL, 0, NULL, 0, NULL);
		}
		if (!p->current)
			continue;
		if ((rx_un && since(now, rx_un) >= d->keepalive_timeout) ||
		    (pk && last && since(now, last) >= (double)pk))
			ssw_send_packet(d, p, NULL, 0);
	}
	pthread_rwlock_unlock(&d->lock);
}
