// SPDX-License-Identifier: GPL-2.0
/*
 * The queues between the data path's stages (see queueing.h): the
 * device's crypt rings with their per-CPU workers, and each peer's ordered
 * tx and rx queues with their consumers (tx work item, NAPI).
 */

#include "queueing.h"
#include "compat.h"
#include "device.h"
#include "keypair.h"
#include "peer.h"
#include "receive.h"
#include "send.h"

#include <linux/cpumask.h>
#include <linux/percpu.h>

int ssw_crypt_queue_init(struct ssw_crypt_queue *queue, work_func_t function)
{
	int cpu, ret;

	ret = ptr_ring_init(&queue->ring, SSW_MAX_QUEUED_PACKETS, GFP_KERNEL);
	if (ret)
		return ret;
	queue->workers = alloc_percpu(struct ssw_crypt_worker);
	if (!queue->workers) {
		ptr_ring_cleanup(&queue->ring, NULL);
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		per_cpu_ptr(queue->workers, cpu)->queue = queue;
		INIT_WORK(&per_cpu_ptr(queue->workers, cpu)->work, function);
	}
	queue->last_cpu = -1;
	return 0;
}

void ssw_crypt_queue_free(struct ssw_crypt_queue *queue)
{
	/* Every peer was removed first, and that drains the ring. */
	WARN_ON(!__ptr_ring_empty(&queue->ring));
	free_percpu(queue->workers);
	ptr_ring_cleanup(&queue->ring, NULL);
}

/* Round robin over the online CPUs, as WireGuard spreads its crypto. */
static int next_cpu(int *last_cpu)
{
	int cpu = cpumask_next(READ_ONCE(*last_cpu), cpu_online_mask);

	if (cpu >= nr_cpu_ids)
		cpu = cpumask_first(cpu_online_mask);
	WRITE_ONCE(*last_cpu, cpu);
	return cpu;
}

int ssw_queue_packet(struct ssw_device *ssw, struct ssw_crypt_queue *queue,
		     struct sk_buff_head *peer_queue, struct sk_buff *skb,
		     atomic64_t *send_counter)
{
	struct ssw_packet_cb *cb = SSW_PACKET_CB(skb);
	struct sk_buff *seg;
	unsigned int segs = 0;
	u64 nonce;
	int cpu;

	atomic_set(&cb->state, SSW_PACKET_UNCRYPTED);
	ssw_for_each_segment(skb, seg)
		++segs;
	spin_lock_bh(&peer_queue->lock);
	if (unlikely(skb_queue_len(peer_queue) >= SSW_MAX_QUEUED_PACKETS)) {
		spin_unlock_bh(&peer_queue->lock);
		return -ENOBUFS;
	}
	if (send_counter) {
		nonce = atomic64_add_return(segs, send_counter) - segs;
		if (unlikely(nonce + segs > SSW_REJECT_AFTER_MESSAGES)) {
			spin_unlock_bh(&peer_queue->lock);
			return -EKEYEXPIRED;
		}
		ssw_for_each_segment(skb, seg)
			SSW_PACKET_CB(seg)->nonce = nonce++;
	}
	__skb_queue_tail(peer_queue, skb);
	spin_unlock_bh(&peer_queue->lock);

	if (unlikely(ptr_ring_produce_bh(&queue->ring, skb))) {
		atomic_set_release(&cb->state, SSW_PACKET_OVERFLOW);
		return -EPIPE;
	}
	cpu = next_cpu(&queue->last_cpu);
	queue_work_on(cpu, ssw->crypt_wq, &per_cpu_ptr(queue->workers, cpu)->work);
	return 0;
}

struct sk_buff *ssw_queue_dequeue_done(struct sk_buff_head *peer_queue)
{
	struct sk_buff *skb;

	spin_lock_bh(&peer_queue->lock);
	skb = skb_peek(peer_queue);
	if (skb && atomic_read_acquire(&SSW_PACKET_CB(skb)->state) !=
		   SSW_PACKET_UNCRYPTED)
		__skb_unlink(skb, peer_queue);
	else
		skb = NULL;
	spin_unlock_bh(&peer_queue->lock);
	if (skb)
		skb->next = SSW_PACKET_CB(skb)->more;
	return skb;
}

/* Only once no worker can touch these packets any more. */
static void purge(struct sk_buff_head *peer_queue)
{
	struct sk_buff *skb;

	while ((skb = skb_dequeue(peer_queue)) != NULL) {
		ssw_keypair_put(SSW_PACKET_CB(skb)->keypair);
		skb->next = SSW_PACKET_CB(skb)->more;
		kfree_skb_list(skb);
	}
}

void ssw_peer_queues_init(struct ssw_peer *peer)
{
	skb_queue_head_init(&peer->tx_queue);
	skb_queue_head_init(&peer->rx_queue);
	INIT_WORK(&peer->tx_work, ssw_send_tx_worker);
	/* One CPU sends for a peer, so its packets leave in one stream. */
	peer->tx_cpu = cpumask_nth(peer->internal_id % num_online_cpus(),
				   cpu_online_mask);
	netif_napi_add(peer->device->dev, &peer->napi, ssw_receive_poll);
	napi_enable(&peer->napi);
}

/*
 * The peer is dead and no new packet can reach its queues (a grace period
 * has passed since): let the workers finish what they hold, stop the
 * consumers, free the rest.
 */
void ssw_peer_queues_stop(struct ssw_peer *peer)
{
	struct ssw_device *ssw = peer->device;

	flush_workqueue(ssw->crypt_wq);
	flush_work(&peer->tx_work);
	napi_disable(&peer->napi);
	/* The peer is freed after a grace period: enough for NAPI's RCU readers. */
	__netif_napi_del(&peer->napi);
	purge(&peer->tx_queue);
	purge(&peer->rx_queue);
}

int ssw_device_queues_init(struct ssw_device *ssw)
{
	int ret;

	ssw->crypt_wq = alloc_workqueue("ssw-crypt-%s",
					WQ_CPU_INTENSIVE | WQ_MEM_RECLAIM | SSW_COMPAT_WQ_PERCPU, 0,
					ssw->dev->name);
	if (!ssw->crypt_wq)
		return -ENOMEM;
	ret = ssw_crypt_queue_init(&ssw->encrypt_queue, ssw_send_encrypt_worker);
	if (ret)
		goto err_wq;
	ret = ssw_crypt_queue_init(&ssw->decrypt_queue, ssw_receive_decrypt_worker);
	if (ret)
		goto err_encrypt;
	return 0;

err_encrypt:
	ssw_crypt_queue_free(&ssw->encrypt_queue);
err_wq:
	destroy_workqueue(ssw->crypt_wq);
	return ret;
}

void ssw_device_queues_free(struct ssw_device *ssw)
{
	destroy_workqueue(ssw->crypt_wq);	/* drains */
	ssw_crypt_queue_free(&ssw->decrypt_queue);
	ssw_crypt_queue_free(&ssw->encrypt_queue);
}
