/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC router's side of ARP (RFC 826) on an ENI's link.  Like a VPC,
 * the card answers a guest's who-has for every address of its subnet but
 * its own (and for the metadata service's link-local address) with the
 * router's MAC: the guest sends every frame to the card, which then routes
 * it by its mapping table, so no other instance's MAC is ever exposed and
 * no broadcast leaves the ENI.
 */
#ifndef CV_VPC_ARP_H
#define CV_VPC_ARP_H

#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/eni.h"

#define ARP_FRAME_LEN (ETH_HLEN + (int)sizeof(struct arp_hdr))

/*
 * For a frame the guest sent: the length of the ARP reply written to
 * @reply; 0 if there is nothing to answer (not ARP, a reply, a gratuitous
 * announcement or probe, an address outside the subnet); -EINVAL for a
 * malformed ARP packet, -EPERM for one whose sender is not the ENI (MAC or
 * IPv4 address spoofed), -ENOSPC if @cap is too small.
 */
int arp_answer(const struct eni *eni, const uint8_t *frame, size_t len,
	       uint8_t *reply, size_t cap);

#endif /* CV_VPC_ARP_H */
