/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/control.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hv/vm.h"
#include "tools/lib/fd.h"
#include "tools/lib/log.h"

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_LINE_MAX 4096

struct control_client {
	int fd;
	size_t len;
	char buf[CONTROL_LINE_MAX];
};

struct control {
	struct vm *vm;
	char path[108];
	int listen_fd;
	int wake_fd;               /* eventfd: tells the thread to exit */
	pthread_t thread;
	struct control_client clients[CONTROL_MAX_CLIENTS];
	int64_t force_stop_at_ms;  /* graceful stop deadline, 0 when none */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Serialize @o as one line and release it. */
static char *json_take(struct json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return s;
}

static char *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *reply_error(const char *fmt, ...)
{
	char msg[256];
	struct json_object *o = json_object_new_object();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return json_take(o);
}

static char *reply_status(struct control *ctl)
{
	struct vm *vm = ctl->vm;
	struct json_object *o = json_object_new_object();
	char quirks[256];
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	quirks_format(&vm->quirks, quirks, sizeof(quirks));
	pthread_mutex_lock(&vm->lock);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "id", json_object_new_string(vm->cfg.id));
	json_object_object_add(o, "state", json_object_new_string(vm_state_name(vm->state)));
	json_object_object_add(o, "state_reason", json_object_new_string(vm_state_reason(vm)));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "vcpus", json_object_new_int((int)vm->cfg.nr_vcpus));
	json_object_object_add(o, "memory", json_object_new_int64((int64_t)vm->cfg.mem_size));
	json_object_object_add(o, "uptime_ms",
			       json_object_new_int64((int64_t)(ts.tv_sec - vm->started.tv_sec) * 1000 +
						     (ts.tv_nsec - vm->started.tv_nsec) / 1000000));
	json_object_object_add(o, "kernel", json_object_new_string(vm->cfg.kernel));
	json_object_object_add(o, "quirks", json_object_new_string(quirks));
	json_object_object_add(o, "exits", json_object_new_int64((int64_t)vm_exits(vm)));
	if (vm->stop_reason[0])
		json_object_object_add(o, "stop_reason", json_object_new_string(vm->stop_reason));
	if (vm->state == VM_STATE_PAUSED) {
		/* Where each vCPU stopped: what a hung guest is doing, without a debugger. */
		struct json_object *rips = json_object_new_array();

		for (unsigned i = 0; i < vm->cfg.nr_vcpus; i++) {
			char rip[24];

			snprintf(rip, sizeof(rip), "0x%llx",
				 (unsigned long long)vm->vcpus[i].parked_rip);
			json_object_array_add(rips, json_object_new_string(rip));
		}
		json_object_object_add(o, "vcpu_rip", rips);
	}
	pthread_mutex_unlock(&vm->lock);
	return json_take(o);
}

static char *reply_ok_state(struct control *ctl)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "state",
			       json_object_new_string(vm_state_name(vm_get_state(ctl->vm))));
	return json_take(o);
}

static char *handle_stop(struct control *ctl, struct json_object *req)
{
	struct json_object *v;
	int64_t timeout = CONTROL_STOP_TIMEOUT_MS_DEFAULT;
	bool force = false;

	if (json_object_object_get_ex(req, "force", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return reply_error("\"force\" must be a boolean");
		force = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(req, "timeout_ms", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
			return reply_error("\"timeout_ms\" must be a non-negative integer");
		timeout = json_object_get_int64(v);
	}
	if (force || timeout == 0) {
		vm_stop(ctl->vm, VM_STOP_REQUESTED, "stopped on request (forced)");
	} else {
		/* A paused guest cannot answer Ctrl+Alt+Del: let it run first. */
		vm_resume(ctl->vm);
		if (vm_request_shutdown(ctl->vm) < 0)
			vm_stop(ctl->vm, VM_STOP_REQUESTED, "stopped on request (no way to ask the guest)");
		else if (!ctl->force_stop_at_ms || ctl->force_stop_at_ms > now_ms() + timeout)
			ctl->force_stop_at_ms = now_ms() + timeout;
	}
	return reply_ok_state(ctl);
}

char *control_handle_request(struct control *ctl, const char *line)
{
	struct json_object *req, *cmd_obj;
	const char *cmd;
	char *reply;
	int ret;

	req = json_tokener_parse(line);
	if (!req || !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return reply_error("request is not a JSON object");
	}
	if (!json_object_object_get_ex(req, "cmd", &cmd_obj) ||
	    !json_object_is_type(cmd_obj, json_type_string)) {
		json_object_put(req);
		return reply_error("request has no \"cmd\" string");
	}
	cmd = json_object_get_string(cmd_obj);
	if (!strcmp(cmd, "status")) {
		reply = reply_status(ctl);
	} else if (!strcmp(cmd, "stop")) {
		reply = handle_stop(ctl, req);
	} else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		ret = cmd[0] == 'p' ? vm_pause(ctl->vm) : vm_resume(ctl->vm);
		reply = ret ? reply_error("cannot %s a VM that is %s", cmd,
					  vm_state_name(vm_get_state(ctl->vm)))
			    : reply_ok_state(ctl);
	} else {
		reply = reply_error("unknown command \"%.64s\"", cmd);
	}
	json_object_put(req);
	return reply;
}

static void client_close(struct control_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void client_send(struct control_client *c, char *reply)
{
	size_t len;

	if (!reply) {
		client_close(c);
		return;
	}
	len = strlen(reply);
	reply[len] = '\n';
	/* Replies are small; a client that does not read them is dropped. */
	if (send(c->fd, reply, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len + 1)
		client_close(c);
	free(reply);
}

static void client_readable(struct control *ctl, struct control_client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
	char *nl;

	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->len))) {
		size_t used = (size_t)(nl - c->buf) + 1;

		*nl = '\0';
		client_send(c, control_handle_request(ctl, c->buf));
		if (c->fd < 0)
			return;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->buf[c->len] = '\0';
	}
	if (c->len == sizeof(c->buf) - 1) {
		client_send(c, reply_error("request longer than %d bytes", CONTROL_LINE_MAX - 1));
		client_close(c);
	}
}

static void control_accept(struct control *ctl)
{
	int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	long uid;

	if (fd < 0)
		return;
	if (!fd_peer_trusted(fd, &uid)) {
		cv_err_once("control: refused a connection from uid %ld: only this VM's owner "
			    "and root may control it", uid);
		close(fd);
		return;
	}
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (ctl->clients[i].fd < 0) {
			ctl->clients[i].fd = fd;
			ctl->clients[i].len = 0;
			return;
		}
	}
	close(fd);
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	struct pollfd pfd[2 + CONTROL_MAX_CLIENTS];

	pthread_setname_np(pthread_self(), "control");
	for (;;) {
		int timeout = -1, n = 2;

		if (ctl->force_stop_at_ms) {
			int64_t left = ctl->force_stop_at_ms - now_ms();

			if (left <= 0) {
				ctl->force_stop_at_ms = 0;
				vm_stop(ctl->vm, VM_STOP_REQUESTED,
					"stopped on request (forced: the guest did not shut down in time)");
				continue;
			}
			timeout = (int)left;
		}
		pfd[0] = (struct pollfd){ .fd = ctl->wake_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = ctl->listen_fd, .events = POLLIN };
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = ctl->clients[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			control_accept(ctl);
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
			if (pfd[2 + i].revents && ctl->clients[i].fd >= 0)
				client_readable(ctl, &ctl->clients[i]);
	}
	return NULL;
}

int control_start(struct control **out, struct vm *vm, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct control *ctl;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		cv_err("control: socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->vm = vm;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i].fd = -1;
	ctl->wake_fd = eventfd(0, EFD_CLOEXEC);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->wake_fd < 0 || ctl->listen_fd < 0)
		goto fail;
	memcpy(addr.sun_path, path, strlen(path));
	unlink(path);
	if (bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(ctl->listen_fd, 8) < 0)
		goto fail;
	ret = pthread_create(&ctl->thread, NULL, control_thread, ctl);
	if (ret) {
		errno = ret;
		goto fail;
	}
	*out = ctl;
	return 0;
fail:
	ret = -errno;
	cv_err("control: cannot listen on %s: %s", path, strerror(errno));
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	if (ctl->wake_fd >= 0)
		close(ctl->wake_fd);
	free(ctl);
	return ret;
}

void control_stop(struct control *ctl)
{
	uint64_t one = 1;

	if (!ctl)
		return;
	if (write(ctl->wake_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(ctl->thread, NULL);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd >= 0)
			close(ctl->clients[i].fd);
	close(ctl->listen_fd);
	close(ctl->wake_fd);
	unlink(ctl->path);
	free(ctl);
}
