/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Front-end side of vhost-user (QEMU docs/interop/vhost-user.rst): cv-hv
 * connects to a back-end's UNIX socket (cv-vpc, DPDK's vhost library, any
 * vhost-user-net device) and hands it guest memory and virtqueues.  Every
 * request is synchronous: it is sent, and its reply (or, with REPLY_ACK
 * negotiated, its ack) is awaited for at most VUC_REPLY_TIMEOUT_MS, so a
 * back-end that stops answering cannot hang a vCPU.  Any failure on the
 * socket marks the connection broken; the owner closes and reconnects.
 *
 * Not locked: the owner serialises calls.
 */
#ifndef CV_HV_VHOST_USER_CLIENT_H
#define CV_HV_VHOST_USER_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "guest-abi/vhost_user.h"
#include "guest-abi/virtio.h"
#include "hv/memory.h"

#define VUC_REPLY_TIMEOUT_MS 5000

struct vuc {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;                     /* -1 when not connected */
	bool broken;                /* the socket failed: close and reconnect */
	bool opening;               /* in vuc_connect: failures are returned, not logged */
	uint64_t features;          /* GET_FEATURES: what the back-end offers */
	uint64_t protocol_features; /* negotiated with SET_PROTOCOL_FEATURES */
};

/*
 * The protocol features cv-hv asks for when the back-end offers them:
 * acks, and the device's configuration space (a virtio-blk back-end's
 * capacity and limits).
 */
#define VUC_PROTOCOL_FEATURES                                   \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |          \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG))

/*
 * Connect to @path and do the session's opening: GET_FEATURES, the protocol
 * feature exchange when the back-end offers VHOST_USER_F_PROTOCOL_FEATURES,
 * and SET_OWNER.  0, or a negative errno with nothing left open.
 */
int vuc_connect(struct vuc *c, const char *path);
void vuc_close(struct vuc *c);

/*
 * Whether the back-end went away: the socket hung up or holds bytes that
 * no request asked for (a back-end that sends unsolicited messages is not
 * one cv-hv negotiated with).  Never blocks.
 */
bool vuc_dead(struct vuc *c);

int vuc_set_features(struct vuc *c, uint64_t features);
/*
 * SET_MEM_TABLE for all of @mem: guest physical [0, low) and, when present,
 * [4 GiB, 4 GiB + high), both backed by the memfd, userspace_addr being
 * cv-hv's own mapping (the address space of SET_VRING_ADDR).
 */
int vuc_set_mem_table(struct vuc *c, const struct guest_mem *mem);

/* The per-ring requests, named as the spec names them. */
int vuc_set_vring_num(struct vuc *c, unsigned idx, unsigned num);
int vuc_set_vring_base(struct vuc *c, unsigned idx, uint16_t base);
int vuc_set_vring_addr(struct vuc *c, unsigned idx, uint64_t desc, uint64_t avail,
		       uint64_t used);
/* @fd -1 sends VHOST_USER_VRING_NOFD_MASK instead of a descriptor. */
int vuc_set_vring_kick(struct vuc *c, unsigned idx, int fd);
int vuc_set_vring_call(struct vuc *c, unsigned idx, int fd);
/* No-op (0) when protocol features were not negotiated: rings start enabled. */
int vuc_set_vring_enable(struct vuc *c, unsigned idx, bool enable);
/* Stop the ring; @base gets the back-end's next available index. */
int vuc_get_vring_base(struct vuc *c, unsigned idx, uint16_t *base);
/*
 * GET_CONFIG: @len bytes of the device configuration space at @offset.
 * -EOPNOTSUPP when the back-end did not offer PROTOCOL_F_CONFIG.
 */
int vuc_get_config(struct vuc *c, uint32_t offset, void *buf, uint32_t len);

#endif /* CV_HV_VHOST_USER_CLIENT_H */
