/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `cardvisor run --nic` asks for: an ENI in a subnet, with the
 * underlay its card uses.  Everything not given gets the value AWS would
 * pick: a free address of the subnet (never the first four or the last,
 * which a VPC reserves), a locally administered MAC, a new eni- id.
 */
#ifndef CV_NIC_SPEC_H
#define CV_NIC_SPEC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nic_spec {
	char id[32];              /* "eni-" and 17 hex digits */
	char subnet[20];          /* "10.0.1.0/24" */
	char ipv4[16];
	char underlay[32];        /* "addr:port" the card binds */
	char encap[8];            /* "vxlan" or "geneve" */
	char sg[PATH_MAX];        /* "" for the default groups */
	char mapping[PATH_MAX];   /* "" for none: only the card's services */
	uint8_t mac[6];
	unsigned vni;
	unsigned conntrack;       /* tracked flows at most */
	bool ip_given;            /* ip= was given: never re-picked */
	bool underlay_given;      /* underlay= was given */
};

/*
 * Parse "subnet=10.0.1.0/24[,ip=A.B.C.D][,mac=02:..][,vni=N][,encap=vxlan|
 * geneve][,underlay=ADDR:PORT][,sg=FILE][,mapping=FILE][,conntrack=N][,id=eni-...]"
 * and fill in the rest.  -EINVAL with a message for the user in @err.
 */
int nic_spec_parse(const char *s, struct nic_spec *n, char *err, size_t errlen);
/*
 * Another address of the subnet for a NIC whose ip= was not given (the
 * fleet's placement, when the one picked is taken): from a random one on,
 * the first that @taken (NULL: none is) does not say another ENI holds.
 * 0, -EPERM for an ip= the user gave, -EADDRNOTAVAIL when all are taken.
 */
int nic_spec_pick_ip(struct nic_spec *n, bool (*taken)(void *arg, const char *ip), void *arg);
/*
 * @n as a spec nic_spec_parse() reads back to the same NIC: every key but
 * underlay= and mapping= (the host's to say).  -ENAMETOOLONG past @len.
 */
int nic_spec_format(const struct nic_spec *n, char *buf, size_t len);

#endif /* CV_NIC_SPEC_H */
