/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DHCP server (RFC 2131, options from RFC 2132) a VPC runs for each
 * ENI: one client (the ENI's MAC), one address (its private IPv4), a
 * lease that never moves, so the server keeps no state and a crashed and
 * restarted card answers exactly as before.
 */
#ifndef CV_VPC_DHCP_H
#define CV_VPC_DHCP_H

#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/eni.h"

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
/* EC2's lease; T1 and T2 are RFC 2131 §4.4.5's defaults (0.5, 0.875). */
#define DHCP_LEASE_SECS 3600

/* BOOTP message (RFC 2131 §2, Figure 1) up to the options' magic cookie. */
struct dhcp_msg {
	uint8_t op;
	uint8_t htype;
	uint8_t hlen;
	uint8_t hops;
	uint32_t xid;
	uint16_t secs;
	uint16_t flags;
	uint32_t ciaddr;
	uint32_t yiaddr;
	uint32_t siaddr;
	uint32_t giaddr;
	uint8_t chaddr[16];
	uint8_t sname[64];
	uint8_t file[128];
	uint32_t cookie;
} __attribute__((packed));

#define DHCP_BOOTREQUEST 1
#define DHCP_BOOTREPLY 2
#define DHCP_FLAG_BROADCAST 0x8000
#define DHCP_MAGIC_COOKIE 0x63825363   /* RFC 2131 §3 */

/* RFC 2132 option codes the server reads or writes. */
enum dhcp_option {
	DHCP_OPT_PAD = 0,
	DHCP_OPT_SUBNET_MASK = 1,
	DHCP_OPT_ROUTER = 3,
	DHCP_OPT_DNS = 6,
	DHCP_OPT_HOSTNAME = 12,
	DHCP_OPT_DOMAIN_NAME = 15,
	DHCP_OPT_MTU = 26,
	DHCP_OPT_BROADCAST = 28,
	DHCP_OPT_REQUESTED_IP = 50,
	DHCP_OPT_LEASE_TIME = 51,
	DHCP_OPT_MSG_TYPE = 53,
	DHCP_OPT_SERVER_ID = 54,
	DHCP_OPT_MESSAGE = 56,
	DHCP_OPT_T1 = 58,
	DHCP_OPT_T2 = 59,
	DHCP_OPT_END = 255,
};

/* Option 53's values (RFC 2132 §9.6). */
enum dhcp_msg_type {
	DHCPDISCOVER = 1,
	DHCPOFFER,
	DHCPREQUEST,
	DHCPDECLINE,
	DHCPACK,
	DHCPNAK,
	DHCPRELEASE,
	DHCPINFORM,
};

/*
 * For a frame the guest sent: the length of the reply frame (OFFER, ACK
 * or NAK) written to @reply; 0 if the frame is not a DHCP request to this
 * server or needs no answer (RELEASE, DECLINE, a REQUEST naming another
 * server, a relayed message); -EINVAL if malformed (BOOTP fields, cookie,
 * options running past the end), -EPERM if the client is not the ENI's
 * MAC (or an INFORM not from its address), -ENOSPC if @cap is too small.
 */
int dhcp_answer(const struct eni *eni, const uint8_t *frame, size_t len,
		uint8_t *reply, size_t cap);

#endif /* CV_VPC_DHCP_H */
