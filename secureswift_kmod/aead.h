/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_AEAD_H
#define _SSW_AEAD_H

#include <linux/types.h>

struct ssw_keypair;
struct scatterlist;

/*
 * The transport AEAD of a keypair's suite: ChaCha20-Poly1305 from
 * lib/crypto, or AES-256-GCM through the kernel crypto API (which picks
 * AES-NI/PCLMULQDQ where the CPU has them). Nonce: 4 zero bytes, then the
 * counter as u64 little endian; no associated data.
 */
int ssw_aead_init(struct ssw_keypair *keypair);
void ssw_aead_free(struct ssw_keypair *keypair);
/*
 * Seal @len bytes described by @sg in place; the 16-byte tag goes right
 * after them (@sg covers it). Process context only: an AES-GCM
 * implementation may complete asynchronously and this waits for it.
 */
bool ssw_aead_seal_sg(struct ssw_keypair *keypair, struct scatterlist *sg,
		      size_t len, u64 counter);
/* Open @len bytes (tag included) at @sg in place; false if not authentic. */
bool ssw_aead_open_sg(struct ssw_keypair *keypair, struct scatterlist *sg,
		      size_t len, u64 counter);

#endif /* _SSW_AEAD_H */
