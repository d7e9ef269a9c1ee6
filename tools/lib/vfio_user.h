/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfio-user message framing over a UNIX stream socket, shared by cv-hv (the
 * client, hv/vfio_user.c) and the cards (the server, cards/ebs/vfio_server.c):
 * a 16-byte header, the payload, and file descriptors as SCM_RIGHTS
 * ancillary data (QEMU docs/interop/vfio-user.rst, "Header").  Every
 * received header and payload size is checked here before either side looks
 * at a field, so both ends reject the same malformed messages the same way.
 *
 * The socket may be blocking or not: a message is always sent and received
 * whole within VFU_IO_TIMEOUT_MS (vfu_call: the command and its reply
 * together), however the peer splits it, so a stuck or trickling peer
 * costs a bounded wait, never a hang.
 */
#ifndef CV_LIB_VFIO_USER_H
#define CV_LIB_VFIO_USER_H

#include <stddef.h>
#include <stdint.h>

#include "guest-abi/vfio_user.h"

/* The most fds we accept in one message: our max_msg_fds. */
#define VFU_MAX_FDS 128
/* The largest REGION_READ/WRITE count we accept: our max_data_xfer_size. */
#define VFU_MAX_DATA_XFER VFIO_USER_DEFAULT_MAX_DATA_XFER
/* The largest message: a REGION_WRITE of VFU_MAX_DATA_XFER bytes. */
#define VFU_MAX_MSG_SIZE                                                   \
	(sizeof(struct vfio_user_header) +                                 \
	 sizeof(struct vfio_user_region_access) + VFU_MAX_DATA_XFER)
#define VFU_IO_TIMEOUT_MS 5000

struct vfu_msg {
	struct vfio_user_header hdr;
	void *payload;      /* hdr.msg_size - header bytes, malloc'ed */
	uint32_t len;
	int fds[VFU_MAX_FDS];
	unsigned nr_fds;
};

/*
 * Send one message: @hdr's msg_size is set from @len; @nr_fds (at most
 * VFU_MAX_FDS) fds ride with its first byte.  -EPIPE/-ECONNRESET when the
 * peer is gone (never SIGPIPE), -ETIMEDOUT when it stops reading.
 */
int vfu_send(int sock, const struct vfio_user_header *hdr, const void *payload,
	     size_t len, const int *fds, unsigned nr_fds);

/*
 * Receive one whole message into @msg (release it with vfu_msg_release()).
 * 0, or -ECONNRESET on EOF, -ETIMEDOUT, -EBADMSG for a header whose size is
 * out of bounds or more fds than VFU_MAX_FDS (the stream cannot be trusted
 * after that: drop the connection).  Does not judge the contents: see
 * vfu_msg_check().
 */
int vfu_recv(int sock, struct vfu_msg *msg);
void vfu_msg_release(struct vfu_msg *msg);

/*
 * Whether @msg is a command or reply this protocol version defines, with at
 * least the fixed part of its payload and no more fds than that message can
 * carry.  -EOPNOTSUPP for a command we do not implement (unknown, or
 * server-to-client DMA_READ/WRITE), -EINVAL for the rest.
 */
int vfu_msg_check(const struct vfu_msg *msg);

/* A reply to @req: the error flag and @error when @error is non-zero (then no payload). */
int vfu_reply(int sock, const struct vfu_msg *req, int error,
	      const void *payload, size_t len, const int *fds, unsigned nr_fds);

/*
 * Client side: send command @cmd with id @msg_id and wait for its reply into
 * @reply, which is checked (type, id, command, vfu_msg_check).  Returns 0
 * when a well-formed reply came; if it was an error reply, *@error is its
 * -errno (-EIO when the server named none) and @reply is already released.
 * Any other return is a transport or protocol failure: the connection is
 * unusable.
 */
int vfu_call(int sock, uint16_t msg_id, uint16_t cmd, const void *req,
	     size_t len, const int *fds, unsigned nr_fds, struct vfu_msg *reply,
	     int *error);

/* Room for the VERSION payload vfu_version_build() writes. */
#define VFU_VERSION_SIZE 160
/*
 * Our VERSION payload, request or reply ("Version"): major 0, @minor, and
 * the capabilities JSON naming VFU_MAX_FDS and VFU_MAX_DATA_XFER.  Returns
 * its length.
 */
size_t vfu_version_build(void *buf, uint16_t minor);
/*
 * A peer's VERSION payload: -ENOTSUP unless its major is ours, -EINVAL when
 * its JSON is malformed.  @max_fds and @max_xfer get the peer's
 * max_msg_fds and max_data_xfer_size, or the spec's defaults.
 */
int vfu_version_parse(const struct vfu_msg *m, uint16_t *minor,
		      uint32_t *max_fds, uint32_t *max_xfer);

const char *vfu_command_name(unsigned cmd);

#endif /* CV_LIB_VFIO_USER_H */
