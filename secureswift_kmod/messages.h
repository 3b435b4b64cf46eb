/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_MESSAGES_H
#define _SSW_MESSAGES_H

#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/types.h>
#include <linux/udp.h>

#include "uapi/secureswift.h"

/*
 * Transport data (docs/protocol.md 3.4): type byte and three zero bytes
 * (one little-endian word), the receiver's index, the counter that is
 * also the AEAD nonce, then the sealed, zero-padded inner packet.
 */
struct ssw_data_header {
	__le32 type;
	__le32 receiver_index;
	__le64 counter;
} __packed;

#define SSW_AEAD_TAG_LEN 16
#define SSW_MAC_LEN 16		/* mac1 and mac2, the last 32 bytes of a handshake */
#define SSW_DATA_PADDING 16
#define SSW_DATA_MIN_LEN (sizeof(struct ssw_data_header) + SSW_AEAD_TAG_LEN)

/* Room for the outer IPv6 + UDP headers and the link layer below them. */
#define SSW_TX_HEADROOM (LL_MAX_HEADER + sizeof(struct ipv6hdr) + \
			 sizeof(struct udphdr) + sizeof(struct ssw_data_header))

static inline u8 ssw_data_type(u8 protocol)
{
	return protocol == SSW_PROTOCOL_WIREGUARD ? SSW_MESSAGE_WG_DATA :
						    SSW_MESSAGE_SSW_DATA;
}

/*
 * The exact size of a handshake message of @type in @protocol
 * (docs/protocol.md); 0: not a handshake message of that protocol.
 */
static inline size_t ssw_handshake_len(u8 protocol, u32 type)
{
	if (protocol == SSW_PROTOCOL_WIREGUARD) {
		switch (type) {
		case SSW_MESSAGE_WG_HANDSHAKE_INITIATION:
			return 148;
		case SSW_MESSAGE_WG_HANDSHAKE_RESPONSE:
			return 92;
		case SSW_MESSAGE_WG_HANDSHAKE_COOKIE:
			return 64;
		}
		return 0;
	}
	switch (type) {
	case SSW_MESSAGE_SSW_HANDSHAKE_INITIATION:
		return 1332;
	case SSW_MESSAGE_SSW_HANDSHAKE_RESPONSE:
		return 1180;
	case SSW_MESSAGE_SSW_HANDSHAKE_COOKIE:
		return 64;
	}
	return 0;
}

#endif /* _SSW_MESSAGES_H */
