/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SSW_MESSAGES_H
#define _SSW_MESSAGES_H

#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/types.h>
#include <linux/udp.h>

#include "uapi/secureswift.h"
#include "wire.h"

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

static_assert(sizeof(struct ssw_data_header) == SSW_DATA_HEADER_LEN);

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
	return ssw_wire_handshake_len(ssw_data_type(protocol), type);
}

#endif /* _SSW_MESSAGES_H */
