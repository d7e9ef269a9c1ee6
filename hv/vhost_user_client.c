/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/vhost_user_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "tools/lib/fd.h"
#include "tools/lib/log.h"

/* A request's payload: the largest is the memory table. */
union vuc_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_memory mem;
	struct vhost_user_config config;
};

struct vuc_msg {
	struct vhost_user_hdr hdr;
	union vuc_payload p;
} __attribute__((packed));

static int fail(struct vuc *c, uint32_t req, int err, const char *what)
{
	c->broken = true;
	/* A failed opening is the caller's to report, once per outage. */
	if (!c->opening)
		cv_err("vhost-user: %s: %s: %s: %s", c->path, vhost_user_request_name(req), what,
	       strerror(-err));
	return err;
}

static int send_msg(struct vuc *c, const struct vuc_msg *m, const int *fds,
		    unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VHOST_MEMORY_BASELINE_NREGIONS)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(m->hdr) + m->hdr.size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds && fd_pass_attach(&mh, ctl.buf, sizeof(ctl.buf), fds, nfds))
		return fail(c, m->hdr.request, -EINVAL, "too many fds");
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(c, m->hdr.request, -errno, "send");
	/* A stream socket takes a message this small whole or not at all. */
	if ((size_t)n != iov.iov_len)
		return fail(c, m->hdr.request, -EIO, "short send");
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly @len bytes before the reply deadline. */
static int recv_all(struct vuc *c, uint32_t req, void *buf, size_t len,
		    int64_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return fail(c, req, -ETIMEDOUT, "no reply");
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(c, req, -errno, "poll");
		if (!r)
			continue;
		n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return fail(c, req, -errno, "receive");
		if (!n)
			return fail(c, req, -ECONNRESET, "back-end closed the socket");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Await the reply to @req: header with the REPLY flag, the same request,
 * exactly @size payload bytes.  Anything else means the stream can no
 * longer be trusted, so the connection is given up.
 */
static int recv_reply(struct vuc *c, uint32_t req, void *payload, uint32_t size)
{
	int64_t deadline = now_ms() + VUC_REPLY_TIMEOUT_MS;
	struct vhost_user_hdr h;
	int r;

	r = recv_all(c, req, &h, sizeof(h), deadline);
	if (r)
		return r;
	if (h.request != req || !(h.flags & VHOST_USER_REPLY_MASK) ||
	    (h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION || h.size != size) {
		cv_err("vhost-user: %s: reply to %s is request %u flags %#x size %u, "
		       "expected %u bytes", c->path, vhost_user_request_name(req), h.request,
		       h.flags, h.size, size);
		return fail(c, req, -EPROTO, "bad reply");
	}
	return recv_all(c, req, payload, size, deadline);
}

/*
 * Send @req with @size payload bytes and @nfds descriptors.  With
 * @reply_size, the request has a reply of its own, read into @m's payload;
 * otherwise, when REPLY_ACK is negotiated, NEED_REPLY is set and the ack
 * awaited, so the caller knows the back-end took the request.
 */
static int request(struct vuc *c, struct vuc_msg *m, uint32_t req, uint32_t size,
		   const int *fds, unsigned nfds, uint32_t reply_size)
{
	bool ack = !reply_size &&
		   (c->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	int r;

	if (c->fd < 0 || c->broken)
		return -ENOTCONN;
	m->hdr = (struct vhost_user_hdr){
		.request = req,
		.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0),
		.size = size,
	};
	r = send_msg(c, m, fds, nfds);
	if (r)
		return r;
	if (reply_size)
		return recv_reply(c, req, &m->p, reply_size);
	if (!ack)
		return 0;
	r = recv_reply(c, req, &m->p.u64, sizeof(m->p.u64));
	if (r)
		return r;
	if (m->p.u64) {
		/* A refusal is the back-end's verdict, not a broken stream. */
		cv_err("vhost-user: %s: back-end refused %s (status %llu)", c->path,
		       vhost_user_request_name(req), (unsigned long long)m->p.u64);
		return -EREMOTEIO;
	}
	return 0;
}

static int request_u64(struct vuc *c, uint32_t req, uint64_t v, const int *fds,
		       unsigned nfds)
{
	struct vuc_msg m = { .p.u64 = v };

	return request(c, &m, req, sizeof(m.p.u64), fds, nfds, 0);
}

static int get_u64(struct vuc *c, uint32_t req, uint64_t *v)
{
	struct vuc_msg m = { 0 };
	int r = request(c, &m, req, 0, NULL, 0, sizeof(m.p.u64));

	if (!r)
		*v = m.p.u64;
	return r;
}

static int vring_state(struct vuc *c, uint32_t req, unsigned idx, uint32_t num)
{
	struct vuc_msg m = { .p.state = { .index = idx, .num = num } };

	return request(c, &m, req, sizeof(m.p.state), NULL, 0, 0);
}

int vuc_connect(struct vuc *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t pf;
	long uid;
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail;
	}
	/* Guest memory goes only to a back-end of ours, whatever sits at the path. */
	if (!fd_peer_trusted(c->fd, &uid)) {
		cv_err("vhost-user: %s is served by uid %ld, not by a card of this VM's owner: "
		       "not connecting", path, uid);
		r = -EPERM;
		goto fail;
	}
	c->opening = true;
	r = get_u64(c, VHOST_USER_GET_FEATURES, &c->features);
	if (!r && (c->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))) {
		r = get_u64(c, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
		/* Not acked yet: SET_PROTOCOL_FEATURES itself goes without NEED_REPLY. */
		if (!r)
			r = request_u64(c, VHOST_USER_SET_PROTOCOL_FEATURES,
					pf & VUC_PROTOCOL_FEATURES, NULL, 0);
		if (!r)
			c->protocol_features = pf & VUC_PROTOCOL_FEATURES;
	}
	if (!r) {
		struct vuc_msg m = { 0 };

		r = request(c, &m, VHOST_USER_SET_OWNER, 0, NULL, 0, 0);
	}
	c->opening = false;
	if (r)
		goto fail;
	return 0;
fail:
	vuc_close(c);
	return r;
}

void vuc_close(struct vuc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->broken = false;
	c->protocol_features = 0;
}

bool vuc_dead(struct vuc *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	char b;

	if (c->fd < 0 || c->broken)
		return true;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP))
		return true;
	/* Readable with no request pending: EOF, or a message nobody asked for. */
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN;
}

int vuc_set_features(struct vuc *c, uint64_t features)
{
	return request_u64(c, VHOST_USER_SET_FEATURES, features, NULL, 0);
}

int vuc_set_mem_table(struct vuc *c, const struct guest_mem *mem)
{
	struct vuc_msg m = { 0 };
	int fds[2] = { mem->memfd, mem->memfd };
	struct vhost_user_memory *t = &m.p.mem;

	t->regions[t->nregions++] = (struct vhost_user_mem_region){
		.guest_phys_addr = 0,
		.memory_size = mem->low_size,
		.userspace_addr = (uint64_t)(uintptr_t)mem->host,
		.mmap_offset = 0,
	};
	if (mem->high_size)
		t->regions[t->nregions++] = (struct vhost_user_mem_region){
			.guest_phys_addr = CV_HIGHMEM_START,
			.memory_size = mem->high_size,
			.userspace_addr = (uint64_t)(uintptr_t)(mem->host + mem->low_size),
			.mmap_offset = mem->low_size,
		};
	/* "Memory regions description": the header, then nregions entries. */
	return request(c, &m, VHOST_USER_SET_MEM_TABLE,
		       (uint32_t)(8 + t->nregions * sizeof(t->regions[0])), fds,
		       t->nregions, 0);
}

int vuc_set_vring_num(struct vuc *c, unsigned idx, unsigned num)
{
	return vring_state(c, VHOST_USER_SET_VRING_NUM, idx, num);
}

int vuc_set_vring_base(struct vuc *c, unsigned idx, uint16_t base)
{
	return vring_state(c, VHOST_USER_SET_VRING_BASE, idx, base);
}

int vuc_set_vring_addr(struct vuc *c, unsigned idx, uint64_t desc, uint64_t avail,
		       uint64_t used)
{
	struct vuc_msg m = { .p.addr = {
		.index = idx,
		.desc_user_addr = desc,
		.avail_user_addr = avail,
		.used_user_addr = used,
	} };

	return request(c, &m, VHOST_USER_SET_VRING_ADDR, sizeof(m.p.addr), NULL, 0, 0);
}

static int vring_fd(struct vuc *c, uint32_t req, unsigned idx, int fd)
{
	uint64_t v = (idx & VHOST_USER_VRING_IDX_MASK) |
		     (fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0);

	return request_u64(c, req, v, &fd, fd < 0 ? 0 : 1);
}

int vuc_set_vring_kick(struct vuc *c, unsigned idx, int fd)
{
	return vring_fd(c, VHOST_USER_SET_VRING_KICK, idx, fd);
}

int vuc_set_vring_call(struct vuc *c, unsigned idx, int fd)
{
	return vring_fd(c, VHOST_USER_SET_VRING_CALL, idx, fd);
}

int vuc_set_vring_enable(struct vuc *c, unsigned idx, bool enable)
{
	if (!(c->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		return 0;
	return vring_state(c, VHOST_USER_SET_VRING_ENABLE, idx, enable);
}

int vuc_get_config(struct vuc *c, uint32_t offset, void *buf, uint32_t len)
{
	struct vuc_msg m = { .p.config = { .offset = offset, .size = len } };
	int r;

	if (!(c->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG)))
		return -EOPNOTSUPP;
	if (len > VHOST_USER_MAX_CONFIG_SIZE)
		return -EINVAL;
	/* The reply has the same window: offset, size and flags, then the bytes. */
	r = request(c, &m, VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + len, NULL, 0,
		    VHOST_USER_CONFIG_HDR_SIZE + len);
	if (r)
		return r;
	if (m.p.config.offset != offset || m.p.config.size != len) {
		cv_err("vhost-user: %s: GET_CONFIG of %u bytes at %u answered %u at %u", c->path,
		       len, offset, m.p.config.size, m.p.config.offset);
		return fail(c, VHOST_USER_GET_CONFIG, -EPROTO, "bad reply");
	}
	memcpy(buf, m.p.config.region, len);
	return 0;
}

int vuc_get_vring_base(struct vuc *c, unsigned idx, uint16_t *base)
{
	struct vuc_msg m = { .p.state = { .index = idx } };
	int r = request(c, &m, VHOST_USER_GET_VRING_BASE, sizeof(m.p.state), NULL, 0,
			sizeof(m.p.state));

	if (r)
		return r;
	if (m.p.state.index != idx || m.p.state.num > UINT16_MAX) {
		cv_err("vhost-user: %s: GET_VRING_BASE for ring %u answered ring %u base %u",
		       c->path, idx, m.p.state.index, m.p.state.num);
		return fail(c, VHOST_USER_GET_VRING_BASE, -EPROTO, "bad reply");
	}
	*base = (uint16_t)m.p.state.num;
	return 0;
}
