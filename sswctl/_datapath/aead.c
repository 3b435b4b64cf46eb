/* Transport AEAD through OpenSSL's EVP (AES-NI and the vectorised ChaCha20
 * come with it). One context per direction per keypair, keyed once; each
 * packet only sets the nonce: 4 zero bytes then the counter, u64 LE, as
 * tests/transport_oracle.py's TransportKeypair. No associated data. */
#include "dp.h"

#include <string.h>
#include <openssl/crypto.h>

static const EVP_CIPHER *cipher_of(int cipher)
{
	return cipher == SSW_AES_256_GCM ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

int ssw_aead_init(struct ssw_aead *a, int cipher, const uint8_t *key, int encrypt)
{
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx)
		return -1;
	if (EVP_CipherInit_ex(a->ctx, cipher_of(cipher), NULL, key, NULL, encrypt) != 1) {
		EVP_CIPHER_CTX_free(a->ctx);
		a->ctx = NULL;
		return -1;
	}
	return 0;
}

void ssw_aead_free(struct ssw_aead *a)
{
	/* EVP_CIPHER_CTX_free cleanses the key schedule (cipher_data). */
	EVP_CIPHER_CTX_free(a->ctx);
	a->ctx = NULL;
}

static void nonce_of(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

int ssw_aead_seal(struct ssw_aead *a, uint64_t counter, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	int outl = 0, finl = 0;

	nonce_of(nonce, counter);
	if (EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, nonce) != 1)
		return -1;
	if (len && EVP_EncryptUpdate(a->ctx, out, &outl, in, (int)len) != 1)
		return -1;
	if (EVP_EncryptFinal_ex(a->ctx, out + outl, &finl) != 1)
		return -1;
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, SSW_AEAD_TAG_LEN, out + len) != 1)
		return -1;
	return 0;
}

int ssw_aead_open(struct ssw_aead *a, uint64_t counter, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[12], tag[SSW_AEAD_TAG_LEN];
	int outl = 0, finl = 0;
	size_t clen;

	if (len < SSW_AEAD_TAG_LEN)
		return -1;
	clen = len - SSW_AEAD_TAG_LEN;
	memcpy(tag, in + clen, SSW_AEAD_TAG_LEN);
	nonce_of(nonce, counter);
	if (EVP_DecryptInit_ex(a->ctx, NULL, NULL, NULL, nonce) != 1)
		return -1;
	if (clen && EVP_DecryptUpdate(a->ctx, out, &outl, in, (int)clen) != 1)
		return -1;
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, SSW_AEAD_TAG_LEN, tag) != 1)
		return -1;
	if (EVP_DecryptFinal_ex(a->ctx, out + outl, &finl) != 1)
		return -1;
	return 0;
}

/* As the oracle: pad to 16; never beyond the MTU (but never below the packet). */
size_t ssw_padded_len(size_t n, int mtu)
{
	size_t padded = (n + SSW_PADDING_MULTIPLE - 1) & ~(size_t)(SSW_PADDING_MULTIPLE - 1);

	if (mtu > 0 && padded > (size_t)mtu)
		padded = n > (size_t)mtu ? n : (size_t)mtu;
	return padded;
}
