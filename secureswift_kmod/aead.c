// SPDX-License-Identifier: GPL-2.0
/*
 * Transport encryption for both cipher suites (see aead.h).
 */

#include "aead.h"
#include "keypair.h"
#include "messages.h"

#include <crypto/aead.h>
#include <crypto/chacha20poly1305.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#define GCM_IV_LEN 12

static struct crypto_aead *gcm_new(const u8 key[SSW_KEY_LEN])
{
	struct crypto_aead *tfm;
	int ret;

	/*
	 * Any implementation: the crypto workers run in process context and
	 * wait for one that completes asynchronously (x86's AES-NI GCM is
	 * such a wrapper, synchronous whenever the FPU is usable).
	 */
	tfm = crypto_alloc_aead("gcm(aes)", 0, 0);
	if (IS_ERR(tfm))
		return tfm;
	ret = crypto_aead_setkey(tfm, key, SSW_KEY_LEN);
	if (!ret)
		ret = crypto_aead_setauthsize(tfm, SSW_AEAD_TAG_LEN);
	if (ret) {
		crypto_free_aead(tfm);
		return ERR_PTR(ret);
	}
	return tfm;
}

int ssw_aead_init(struct ssw_keypair *keypair)
{
	struct crypto_aead *send, *receive;

	if (keypair->cipher != SSW_CIPHER_AES_256_GCM)
		return 0;
	send = gcm_new(keypair->send_key);
	if (IS_ERR(send))
		return PTR_ERR(send);
	receive = gcm_new(keypair->receive_key);
	if (IS_ERR(receive)) {
		crypto_free_aead(send);
		return PTR_ERR(receive);
	}
	keypair->send_aead = send;
	keypair->receive_aead = receive;
	return 0;
}

void ssw_aead_free(struct ssw_keypair *keypair)
{
	/* The tfms hold their own copy of the key schedule and wipe it on free. */
	crypto_free_aead(keypair->send_aead);
	crypto_free_aead(keypair->receive_aead);
	keypair->send_aead = NULL;
	keypair->receive_aead = NULL;
}

static bool gcm_crypt(struct crypto_aead *tfm, struct scatterlist *sg,
		      size_t len, u64 counter, bool seal)
{
	DECLARE_CRYPTO_WAIT(wait);
	struct aead_request *req;
	struct {
		__le32 zero;
		__le64 counter;
	} __packed iv = { 0, cpu_to_le64(counter) };
	int ret;

	BUILD_BUG_ON(sizeof(iv) != GCM_IV_LEN);
	req = aead_request_alloc(tfm, GFP_ATOMIC);
	if (unlikely(!req))
		return false;
	/* In place; sealing writes the tag after the text, opening reads it there. */
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG,
				  crypto_req_done, &wait);
	aead_request_set_crypt(req, sg, sg, len, (u8 *)&iv);
	aead_request_set_ad(req, 0);
	ret = crypto_wait_req(seal ? crypto_aead_encrypt(req) :
				     crypto_aead_decrypt(req), &wait);
	aead_request_free(req);
	return !ret;
}

bool ssw_aead_seal_sg(struct ssw_keypair *keypair, struct scatterlist *sg,
		      size_t len, u64 counter)
{
	if (keypair->cipher == SSW_CIPHER_AES_256_GCM)
		return gcm_crypt(keypair->send_aead, sg, len, counter, true);
	return chacha20poly1305_encrypt_sg_inplace(sg, len, NULL, 0, counter,
						   keypair->send_key);
}

bool ssw_aead_open_sg(struct ssw_keypair *keypair, struct scatterlist *sg,
		      size_t len, u64 counter)
{
	if (keypair->cipher == SSW_CIPHER_AES_256_GCM)
		return gcm_crypt(keypair->receive_aead, sg, len, counter, false);
	return chacha20poly1305_decrypt_sg_inplace(sg, len, NULL, 0, counter,
						   keypair->receive_key);
}
