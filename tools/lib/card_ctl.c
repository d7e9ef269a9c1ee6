// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/card_ctl.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/fd.h"
#include "tools/lib/landlock.h"
#include "tools/lib/log.h"
#include "tools/lib/syscall_filter.h"

/* epoll data of the listening socket; a client's is its slot. */
#define LISTEN_TAG UINT32_MAX

int card_ctl_open(struct card_ctl *c, const char *card_socket, card_ctl_stats_fn stats,
		  card_ctl_cmd_fn cmd, void *opaque)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LISTEN_TAG };
	int ret;

	*c = (struct card_ctl){ .epfd = -1, .listen_fd = -1, .stats = stats, .cmd = cmd,
				.opaque = opaque };
	for (unsigned i = 0; i < CARD_CTL_CLIENTS; i++)
		c->client[i].fd = -1;
	if ((size_t)snprintf(c->path, sizeof(c->path), "%s%s", card_socket, CARD_CTL_SUFFIX) >=
	    sizeof(c->path)) {
		cv_err("control socket %s%s: path too long", card_socket, CARD_CTL_SUFFIX);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, c->path, sizeof(c->path));
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->epfd < 0 || c->listen_fd < 0)
		goto fail;
	unlink(c->path);
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->listen_fd, CARD_CTL_CLIENTS) < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->listen_fd, &ev) < 0)
		goto fail;
	return 0;
fail:
	ret = -errno;
	cv_err("control socket %s: %s", c->path, strerror(-ret));
	card_ctl_close(c);
	return ret;
}

int card_ctl_fd(const struct card_ctl *c)
{
	return c->epfd;
}

/* Closing the fd also takes it out of the epoll set. */
static void client_drop(struct card_ctl_client *cl)
{
	close(cl->fd);
	cl->fd = -1;
	cl->len = 0;
}

static void client_accept(struct card_ctl *c)
{
	int fd;

	while ((fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct card_ctl_client *cl = NULL;
		long uid;

		if (!fd_peer_trusted(fd, &uid)) {
			cv_err_once("control socket %s: refused a peer running as uid %ld",
				    c->path, uid);
			close(fd);
			continue;
		}
		for (unsigned i = 0; i < CARD_CTL_CLIENTS && !cl; i++)
			if (c->client[i].fd < 0)
				cl = &c->client[i];
		if (!cl) {
			close(fd); /* all slots busy: the client retries */
			continue;
		}
		cl->fd = fd;
		cl->len = 0;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd,
			      &(struct epoll_event){ .events = EPOLLIN,
						     .data.u32 = (uint32_t)(cl - c->client) }) < 0)
			client_drop(cl);
	}
}

/* The reply to one request line, as a newly made object. */
static struct json_object *answer(struct card_ctl *c, const char *line)
{
	struct json_object *req = json_tokener_parse(line), *reply = json_object_new_object(),
			   *cmd;
	const char *error = NULL, *name = "";

	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string))
		error = "expected a JSON object with a \"cmd\" string";
	else
		name = json_object_get_string(cmd);
	if (!error && strcmp(name, "stats") && strcmp(name, "seccomp-probe") &&
	    strcmp(name, "landlock-probe")) {
		if (c->cmd && c->cmd(c->opaque, name, req, reply) == 0) {
			json_object_put(req);
			return reply;
		}
		error = c->cmd ? "unknown command (stats, seccomp-probe, landlock-probe, or the "
				 "card's own)"
			       : "unknown command (stats, seccomp-probe, landlock-probe)";
	}
	json_object_object_add(reply, "ok", json_object_new_boolean(!error));
	if (error) {
		json_object_object_add(reply, "error", json_object_new_string(error));
	} else if (!strcmp(name, "stats")) {
		c->stats(c->opaque, reply);
	} else if (!strcmp(name, "landlock-probe")) {
		bool file, tcp;

		/* TCP port 9 (discard): none of the cards' own. */
		landlock_probe(9, &file, &tcp);
		json_object_object_add(reply, "file_open", json_object_new_boolean(file));
		json_object_object_add(reply, "tcp_connect", json_object_new_boolean(tcp));
	} else {
		/* Under the card's filter the card ends here (SIGSYS). */
		json_object_object_add(reply, "filtered",
				       json_object_new_boolean(syscall_filter_probe() < 0));
	}
	json_object_put(req);
	return reply;
}

static void client_read(struct card_ctl *c, struct card_ctl_client *cl)
{
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, 0);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_drop(cl);
		return;
	}
	cl->len += (size_t)n;
	while ((nl = memchr(cl->buf, '\n', cl->len))) {
		struct json_object *reply;
		const char *text;
		size_t used = (size_t)(nl - cl->buf) + 1;
		ssize_t sent;

		*nl = '\0';
		reply = answer(c, cl->buf);
		text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
		sent = send(cl->fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent == (ssize_t)strlen(text))
			sent = send(cl->fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		json_object_put(reply);
		/* A peer that does not take a reply at once is not waited for. */
		if (sent <= 0) {
			client_drop(cl);
			return;
		}
		memmove(cl->buf, cl->buf + used, cl->len - used);
		cl->len -= used;
	}
	if (cl->len == sizeof(cl->buf))
		client_drop(cl); /* a line longer than any request */
}

void card_ctl_process(struct card_ctl *c)
{
	struct epoll_event evs[CARD_CTL_CLIENTS + 1];
	int n = epoll_wait(c->epfd, evs, CARD_CTL_CLIENTS + 1, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == LISTEN_TAG)
			client_accept(c);
		else if (evs[i].data.u32 < CARD_CTL_CLIENTS &&
			 c->client[evs[i].data.u32].fd >= 0)
			client_read(c, &c->client[evs[i].data.u32]);
	}
}

void card_ctl_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

void card_ctl_close(struct card_ctl *c)
{
	for (unsigned i = 0; i < CARD_CTL_CLIENTS; i++)
		if (c->client[i].fd >= 0)
			client_drop(&c->client[i]);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	if (c->epfd >= 0)
		close(c->epfd);
	c->listen_fd = c->epfd = -1;
}

int card_ctl_connect(const char *path)
{
	return fd_unix_connect(path);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

struct json_object *card_ctl_request(int fd, const char *request)
{
	char buf[8192];
	size_t len = 0;
	long long deadline = now_ms() + CARD_CTL_REPLY_MS, left;
	char *nl = NULL;

	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		return NULL;
	while (!nl && len < sizeof(buf) - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return NULL;
		/*
		 * Peek, then take no more than the first line: whatever follows
		 * belongs to the next request on this connection.
		 */
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_PEEK);
		if (n <= 0)
			return NULL;
		nl = memchr(buf + len, '\n', (size_t)n);
		if (nl)
			n = nl - (buf + len) + 1;
		if (recv(fd, buf + len, (size_t)n, 0) != n)
			return NULL;
		len += (size_t)n;
	}
	if (!nl)
		return NULL;
	*nl = '\0';
	return json_tokener_parse(buf);
}

struct json_object *card_ctl_call(const char *path, const char *request)
{
	int fd = card_ctl_connect(path);
	struct json_object *reply;

	if (fd < 0)
		return NULL;
	reply = card_ctl_request(fd, request);
	close(fd);
	return reply;
}
