/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/vfio_user.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/fd.h"

#define HDR_SIZE sizeof(struct vfio_user_header)
#define FLAGS_DEFINED (VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY | VFIO_USER_F_ERROR)

/* What each message must carry at least, and the fds it may carry. */
struct cmd_rule {
	const char *name;
	uint32_t req_min, reply_min;
	unsigned req_fds, reply_fds;
};

static const struct cmd_rule rules[] = {
	[VFIO_USER_VERSION] = { "VERSION", sizeof(struct vfio_user_version),
				sizeof(struct vfio_user_version), 0, 0 },
	/* One fd: the region's backing file, when it is mappable. */
	[VFIO_USER_DMA_MAP] = { "DMA_MAP", sizeof(struct vfio_user_dma_map), 0, 1, 0 },
	[VFIO_USER_DMA_UNMAP] = { "DMA_UNMAP", sizeof(struct vfio_user_dma_unmap),
				  sizeof(struct vfio_user_dma_unmap), 0, 0 },
	[VFIO_USER_DEVICE_GET_INFO] = { "DEVICE_GET_INFO",
					sizeof(struct vfio_user_device_info),
					sizeof(struct vfio_user_device_info), 0, 0 },
	/* One fd in the reply: the region's, for VFIO_REGION_INFO_FLAG_MMAP. */
	[VFIO_USER_DEVICE_GET_REGION_INFO] = { "DEVICE_GET_REGION_INFO",
					       sizeof(struct vfio_user_region_info),
					       sizeof(struct vfio_user_region_info), 0, 1 },
	[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = { "DEVICE_GET_REGION_IO_FDS",
						 sizeof(struct vfio_user_region_io_fds),
						 sizeof(struct vfio_user_region_io_fds),
						 0, VFU_MAX_FDS },
	[VFIO_USER_DEVICE_GET_IRQ_INFO] = { "DEVICE_GET_IRQ_INFO",
					    sizeof(struct vfio_user_irq_info),
					    sizeof(struct vfio_user_irq_info), 0, 0 },
	[VFIO_USER_DEVICE_SET_IRQS] = { "DEVICE_SET_IRQS", sizeof(struct vfio_user_irq_set),
					0, VFU_MAX_FDS, 0 },
	[VFIO_USER_REGION_READ] = { "REGION_READ", sizeof(struct vfio_user_region_access),
				    sizeof(struct vfio_user_region_access), 0, 0 },
	[VFIO_USER_REGION_WRITE] = { "REGION_WRITE", sizeof(struct vfio_user_region_access),
				     sizeof(struct vfio_user_region_access), 0, 0 },
	[VFIO_USER_DEVICE_RESET] = { "DEVICE_RESET", 0, 0, 0, 0 },
};

const char *vfu_command_name(unsigned cmd)
{
	if (cmd < sizeof(rules) / sizeof(rules[0]) && rules[cmd].name)
		return rules[cmd].name;
	return "unknown";
}

static void close_fds(const int *fds, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++)
		close(fds[i]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until @sock is ready for @events; -ETIMEDOUT at @deadline
 * (CLOCK_MONOTONIC ms).  The deadline is the message's (or the exchange's),
 * not the piece's: a peer that trickles a byte at a time gets no more
 * time than one that sends nothing.
 */
static int wait_ready(int sock, short events, int64_t deadline)
{
	struct pollfd p = { .fd = sock, .events = events };
	int n;

	do {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

static int send_msg(int sock, const struct vfio_user_header *hdr, const void *payload,
		    size_t len, const int *fds, unsigned nr_fds, int64_t deadline)
{
	struct vfio_user_header h = *hdr;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
	} ctl;
	struct iovec iov[2];
	size_t total = HDR_SIZE + len, sent = 0;

	if (nr_fds > VFU_MAX_FDS || total > UINT32_MAX)
		return -EINVAL;
	h.msg_size = (uint32_t)total;
	while (sent < total) {
		struct msghdr mh = { .msg_iov = iov };
		size_t skip = sent;
		ssize_t n;

		/* The rest of the header, then the rest of the payload. */
		if (skip < HDR_SIZE) {
			iov[mh.msg_iovlen++] = (struct iovec){ (char *)&h + skip, HDR_SIZE - skip };
			skip = 0;
		} else {
			skip -= HDR_SIZE;
		}
		if (len > skip)
			iov[mh.msg_iovlen++] = (struct iovec){ (char *)payload + skip, len - skip };
		if (!sent && nr_fds && fd_pass_attach(&mh, ctl.buf, sizeof(ctl.buf), fds, nr_fds))
			return -EINVAL;
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			int ret = -errno;

			if (ret == -EINTR)
				continue;
			if (ret == -EAGAIN) {
				ret = wait_ready(sock, POLLOUT, deadline);
				if (!ret)
					continue;
			}
			return ret;
		}
		sent += (size_t)n;
	}
	return 0;
}

int vfu_send(int sock, const struct vfio_user_header *hdr, const void *payload,
	     size_t len, const int *fds, unsigned nr_fds)
{
	return send_msg(sock, hdr, payload, len, fds, nr_fds, now_ms() + VFU_IO_TIMEOUT_MS);
}

/* Read exactly @len bytes into @buf, collecting fds that come with them. */
static int recv_full(int sock, void *buf, size_t len, struct vfu_msg *msg, int64_t deadline)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
	} ctl;
	size_t got = 0;

	while (got < len) {
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		int ret;

		if (n < 0) {
			ret = -errno;
			if (ret == -EINTR)
				continue;
			if (ret == -EAGAIN) {
				ret = wait_ready(sock, POLLIN, deadline);
				if (!ret)
					continue;
			}
			return ret;
		}
		if (!n)
			return -ECONNRESET;
		/* -EBADMSG past VFU_MAX_FDS. */
		ret = fd_pass_take(&mh, msg->fds, &msg->nr_fds, VFU_MAX_FDS);
		if (ret)
			return ret;
		got += (size_t)n;
	}
	return 0;
}

static int recv_msg(int sock, struct vfu_msg *msg, int64_t deadline)
{
	int ret;

	memset(msg, 0, sizeof(*msg));
	ret = recv_full(sock, &msg->hdr, HDR_SIZE, msg, deadline);
	if (ret)
		goto fail;
	if (msg->hdr.msg_size < HDR_SIZE || msg->hdr.msg_size > VFU_MAX_MSG_SIZE) {
		ret = -EBADMSG;
		goto fail;
	}
	msg->len = msg->hdr.msg_size - (uint32_t)HDR_SIZE;
	if (msg->len) {
		msg->payload = malloc(msg->len);
		if (!msg->payload) {
			ret = -ENOMEM;
			goto fail;
		}
		ret = recv_full(sock, msg->payload, msg->len, msg, deadline);
		if (ret)
			goto fail;
	}
	return 0;
fail:
	vfu_msg_release(msg);
	return ret;
}

int vfu_recv(int sock, struct vfu_msg *msg)
{
	return recv_msg(sock, msg, now_ms() + VFU_IO_TIMEOUT_MS);
}

void vfu_msg_release(struct vfu_msg *msg)
{
	close_fds(msg->fds, msg->nr_fds);
	free(msg->payload);
	msg->payload = NULL;
	msg->len = 0;
	msg->nr_fds = 0;
}

int vfu_msg_check(const struct vfu_msg *msg)
{
	const struct vfio_user_header *h = &msg->hdr;
	unsigned type = h->flags & VFIO_USER_F_TYPE_MASK;
	bool reply = type == VFIO_USER_F_TYPE_REPLY;
	const struct cmd_rule *r;

	if (h->msg_size != HDR_SIZE + msg->len || (h->flags & ~FLAGS_DEFINED) ||
	    (type != VFIO_USER_F_TYPE_COMMAND && !reply))
		return -EINVAL;
	/* An error reply is the header alone ("Header"), whatever it answers. */
	if (reply && (h->flags & VFIO_USER_F_ERROR))
		return msg->len || msg->nr_fds ? -EINVAL : 0;
	if (h->command >= sizeof(rules) / sizeof(rules[0]) || !rules[h->command].name)
		return -EOPNOTSUPP;
	r = &rules[h->command];
	if (msg->len < (reply ? r->reply_min : r->req_min) ||
	    msg->nr_fds > (reply ? r->reply_fds : r->req_fds))
		return -EINVAL;
	return 0;
}

int vfu_reply(int sock, const struct vfu_msg *req, int error,
	      const void *payload, size_t len, const int *fds, unsigned nr_fds)
{
	struct vfio_user_header h = {
		.msg_id = req->hdr.msg_id,
		.command = req->hdr.command,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};

	if (error) {
		h.flags |= VFIO_USER_F_ERROR;
		h.error = (uint32_t)(error < 0 ? -error : error);
		return vfu_send(sock, &h, NULL, 0, NULL, 0);
	}
	return vfu_send(sock, &h, payload, len, fds, nr_fds);
}

int vfu_call(int sock, uint16_t msg_id, uint16_t cmd, const void *req,
	     size_t len, const int *fds, unsigned nr_fds, struct vfu_msg *reply,
	     int *error)
{
	struct vfio_user_header h = { .msg_id = msg_id, .command = cmd,
				      .flags = VFIO_USER_F_TYPE_COMMAND };
	/* One deadline for the command and its reply. */
	int64_t deadline = now_ms() + VFU_IO_TIMEOUT_MS;
	int ret = send_msg(sock, &h, req, len, fds, nr_fds, deadline);

	if (ret)
		return ret;
	*error = 0;
	ret = recv_msg(sock, reply, deadline);
	if (ret)
		return ret;
	/* We send one command at a time, so the next message must answer it. */
	if ((reply->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY ||
	    reply->hdr.msg_id != msg_id || reply->hdr.command != cmd ||
	    vfu_msg_check(reply)) {
		vfu_msg_release(reply);
		return -EBADMSG;
	}
	if (reply->hdr.flags & VFIO_USER_F_ERROR) {
		*error = reply->hdr.error && reply->hdr.error < 4096 ?
			 -(int)reply->hdr.error : -EIO;
		vfu_msg_release(reply);
	}
	return 0;
}

size_t vfu_version_build(void *buf, uint16_t minor)
{
	struct vfio_user_version *v = buf;
	int n;

	v->major = VFIO_USER_MAJOR;
	v->minor = minor;
	n = snprintf(v->data, VFU_VERSION_SIZE - sizeof(*v),
		     "{\"capabilities\":{\"max_msg_fds\":%u,"
		     "\"max_data_xfer_size\":%u,\"pgsizes\":4096}}",
		     VFU_MAX_FDS, VFU_MAX_DATA_XFER);
	return sizeof(*v) + (size_t)n + 1;
}

/* One positive integer capability, left as it is when absent. */
static int cap_u32(struct json_object *caps, const char *key, uint32_t *val)
{
	struct json_object *o;
	int64_t v;

	if (!json_object_object_get_ex(caps, key, &o))
		return 0;
	if (!json_object_is_type(o, json_type_int))
		return -EINVAL;
	v = json_object_get_int64(o);
	if (v < 1 || v > UINT32_MAX)
		return -EINVAL;
	*val = (uint32_t)v;
	return 0;
}

int vfu_version_parse(const struct vfu_msg *m, uint16_t *minor,
		      uint32_t *max_fds, uint32_t *max_xfer)
{
	const struct vfio_user_version *v = m->payload;
	size_t len = m->len - sizeof(*v);
	struct json_object *root, *caps;
	int ret = 0;

	*max_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	*max_xfer = VFIO_USER_DEFAULT_MAX_DATA_XFER;
	if (v->major != VFIO_USER_MAJOR)
		return -ENOTSUP;
	*minor = v->minor;
	if (!len)
		return 0;
	/* "version data ... (including terminating NUL)" */
	if (v->data[len - 1] != '\0' || strlen(v->data) != len - 1)
		return -EINVAL;
	root = json_tokener_parse(v->data);
	if (!root || !json_object_is_type(root, json_type_object))
		ret = -EINVAL;
	else if (json_object_object_get_ex(root, "capabilities", &caps))
		ret = !json_object_is_type(caps, json_type_object) ? -EINVAL :
		      cap_u32(caps, "max_msg_fds", max_fds) ?:
		      cap_u32(caps, "max_data_xfer_size", max_xfer);
	json_object_put(root);
	return ret;
}
