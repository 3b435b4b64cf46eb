"""Primitives against published test vectors, and ML-KEM across two libraries."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from sswctl.protocol import primitives as P
from sswctl.protocol.errors import DecryptError

H = bytes.fromhex

LADIES = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future,"
          b" sunscreen would be it.")


def test_x25519_rfc7748_section_5_2():
    scalar = H("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = H("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert P.dh(scalar, u) == H("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")


def test_x25519_rfc7748_section_6_1_diffie_hellman():
    a_priv = H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b_priv = H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    assert P.public_key(a_priv) == H("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert P.public_key(b_priv) == H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = H("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert P.dh(a_priv, P.public_key(b_priv)) == shared == P.dh(b_priv, P.public_key(a_priv))


def test_x25519_low_order_point_is_refused():
    with pytest.raises(DecryptError):
        P.dh(bytes(range(32)), bytes(32))


def test_chacha20_poly1305_rfc8439_section_2_8_2():
    key = H("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    nonce = H("070000004041424344454647")
    aad = H("50515253c0c1c2c3c4c5c6c7")
    ct = H("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
           "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
           "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
           "3ff4def08e4b7a9de576d26586cec64b6116")
    tag = H("1ae10b594f09e26a7e902ecbd0600691")
    assert ChaCha20Poly1305(key).encrypt(nonce, LADIES, aad) == ct + tag


def test_handshake_aead_nonce_is_four_zero_bytes_then_counter_le():
    key = bytes(range(32))
    nonce = bytes(4) + (0x0102030405060708).to_bytes(8, "little")
    assert P.aead_encrypt(key, 0x0102030405060708, b"x", b"ad") == ChaCha20Poly1305(key).encrypt(nonce, b"x", b"ad")


def test_blake2s_rfc7693_appendix_b_abc():
    assert P.blake2s_hash(b"abc") == H("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")


def test_hmac_blake2s_is_rfc2104_over_blake2s():
    # RFC 2104 by hand: H((K ^ opad) || H((K ^ ipad) || m)), 64-byte block.
    key, msg = b"k" * 32, b"message"
    k = key.ljust(64, b"\x00")
    inner = hashlib.blake2s(bytes(b ^ 0x36 for b in k) + msg).digest()
    want = hashlib.blake2s(bytes(b ^ 0x5C for b in k) + inner).digest()
    assert P.hmac_blake2s(key, msg) == want


def test_kdf_outputs_chain_as_in_the_wireguard_paper():
    ck, data = b"c" * 32, b"input"
    t0 = P.hmac_blake2s(ck, data)
    t1 = P.hmac_blake2s(t0, b"\x01")
    t2 = P.hmac_blake2s(t0, t1 + b"\x02")
    t3 = P.hmac_blake2s(t0, t2 + b"\x03")
    assert P.kdf1(ck, data) == t1
    assert P.kdf2(ck, data) == (t1, t2)
    assert P.kdf3(ck, data) == (t1, t2, t3)


def test_hchacha20_draft_irtf_cfrg_xchacha_section_2_2_1():
    key = bytes(range(32))
    nonce = H("000000090000004a0000000031415927")
    assert P.hchacha20(key, nonce) == H("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")


def test_xchacha20_poly1305_draft_irtf_cfrg_xchacha_appendix_a_3_1():
    key = H("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    nonce = H("404142434445464748494a4b4c4d4e4f5051525354555657")
    aad = H("50515253c0c1c2c3c4c5c6c7")
    ct = H("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
           "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
           "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
           "21f9664c97637da9768812f615c68b13b52e")
    tag = H("c0875924c1c7987947deafd8780acf49")
    assert P.xaead_encrypt(key, nonce, LADIES, aad) == ct + tag
    assert P.xaead_decrypt(key, nonce, ct + tag, aad) == LADIES
    with pytest.raises(DecryptError):
        P.xaead_decrypt(key, nonce, ct + bytes(16), aad)


def test_tai64n_matches_wireguard_encoding():
    assert P.tai64n(0.0) == H("400000000000000a00000000")
    # Nanoseconds are rounded down to a multiple of 2**24 (kernel noise.c).
    assert P.tai64n(1.999) == H("400000000000000b") + (59 * (1 << 24)).to_bytes(4, "big")
    assert P.tai64n(100.0) > P.tai64n(99.99)


# --- ML-KEM-768: the engine's library (cryptography) against pqcrypto ---------


def test_mlkem768_cryptography_encapsulation_decapsulates_with_pqcrypto():
    pq = pytest.importorskip("pqcrypto.kem.ml_kem_768")
    pk, sk = pq.keygen()
    secret, ct = mlkem.MLKEM768PublicKey.from_public_bytes(pk).encapsulate()
    assert len(ct) == 1088 and len(secret) == 32
    assert pq.decaps(sk, ct) == secret


def test_mlkem768_pqcrypto_encapsulation_decapsulates_with_cryptography():
    pq = pytest.importorskip("pqcrypto.kem.ml_kem_768")
    sk, pk = P.mlkem_generate(lambda n: bytes(range(n)))
    assert len(pk) == 1184
    ct, secret = pq.encaps(pk)
    assert P.mlkem_decapsulate(sk, ct) == secret
    # A tampered ciphertext yields a different (implicit-rejection) secret.
    bad = bytes([ct[0] ^ 1]) + ct[1:]
    assert P.mlkem_decapsulate(sk, bad) != secret
