/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "hv/vm.h"
#include "tools/lib/fd.h"
#include "tools/lib/log.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A, as in QEMU */
/* What a socket client sees on attach: the boot log it missed, like a serial log. */
#define CONSOLE_HISTORY (64 * 1024)

struct console {
	pthread_mutex_t lock;     /* output sinks */
	int out_fd;               /* stdout, or -1 */
	int file_fd;              /* file: sink, or -1 */
	int listen_fd;            /* socket: listener, or -1 */
	int client_fd;            /* the attached socket client, or -1 */
	char sock_path[108];
	int in_fd;                /* terminal/pipe input, or -1 */
	bool tty;
	struct termios saved_tio;
	int wake_fd;
	pthread_t thread;
	bool thread_started;
	bool escape;
	struct vm *vm;
	console_rx_fn rx;
	void *rx_opaque;
	uint8_t history[CONSOLE_HISTORY];  /* ring of the latest output */
	size_t history_head, history_len;
};

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void history_append(struct console *con, const uint8_t *buf, size_t len)
{
	if (len > CONSOLE_HISTORY) {
		buf += len - CONSOLE_HISTORY;
		len = CONSOLE_HISTORY;
	}
	for (size_t done = 0; done < len;) {
		size_t n = CONSOLE_HISTORY - con->history_head;

		if (n > len - done)
			n = len - done;
		memcpy(con->history + con->history_head, buf + done, n);
		con->history_head = (con->history_head + n) % CONSOLE_HISTORY;
		done += n;
	}
	con->history_len = con->history_len + len > CONSOLE_HISTORY ? CONSOLE_HISTORY
								   : con->history_len + len;
}

/* Replay the history to a new client (oldest first); called with the lock held. */
static void history_replay(struct console *con, int fd)
{
	size_t start = (con->history_head + CONSOLE_HISTORY - con->history_len) % CONSOLE_HISTORY;
	size_t first = CONSOLE_HISTORY - start;

	if (first > con->history_len)
		first = con->history_len;
	write_all(fd, con->history + start, first);
	write_all(fd, con->history, con->history_len - first);
}

void console_write(struct console *con, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&con->lock);
	if (con->listen_fd >= 0)
		history_append(con, buf, len);
	if (con->out_fd >= 0)
		write_all(con->out_fd, buf, len);
	if (con->file_fd >= 0)
		write_all(con->file_fd, buf, len);
	if (con->client_fd >= 0 &&
	    send(con->client_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN) {
		close(con->client_fd);
		con->client_fd = -1;
	}
	pthread_mutex_unlock(&con->lock);
}

static int console_listen(struct console *con, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path));
	snprintf(con->sock_path, sizeof(con->sock_path), "%s", path);
	con->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (con->listen_fd < 0)
		return -errno;
	unlink(path);
	if (bind(con->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(con->listen_fd, 1) < 0)
		return -errno;
	return 0;
}

int console_open(struct console **out, const char *spec, const char *attach_path)
{
	struct console *con = calloc(1, sizeof(*con));
	int ret = 0;

	if (!con)
		return -ENOMEM;
	pthread_mutex_init(&con->lock, NULL);
	con->out_fd = con->file_fd = con->listen_fd = con->client_fd = con->in_fd = -1;
	con->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (!strcmp(spec, "stdio")) {
		con->out_fd = STDOUT_FILENO;
		con->in_fd = STDIN_FILENO;
	} else if (!strncmp(spec, "file:", 5)) {
		con->file_fd = open(spec + 5, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (con->file_fd < 0)
			ret = -errno;
	} else if (!strncmp(spec, "socket:", 7)) {
		attach_path = spec + 7;
	} else if (strcmp(spec, "none")) {
		ret = -EINVAL;
	}
	if (!ret && attach_path)
		ret = console_listen(con, attach_path);
	if (ret) {
		cv_err("console: %s: %s", spec, ret == -EINVAL ?
		       "expected stdio, file:PATH, socket:PATH or none" : strerror(-ret));
		console_close(con);
		return ret;
	}
	*out = con;
	return 0;
}

/* Feed guest input, waiting while the UART's FIFO is full (no byte is lost). */
static void console_deliver(struct console *con, const uint8_t *buf, size_t len)
{
	while (len && !__atomic_load_n(&con->vm->stop_requested, __ATOMIC_ACQUIRE)) {
		size_t n = con->rx(con->rx_opaque, buf, len);

		buf += n;
		len -= n;
		if (len)
			usleep(1000);
	}
}

/* Terminal input: strip the escape sequence, pass everything else through. */
static void console_terminal_input(struct console *con, uint8_t *buf, size_t len)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		if (con->escape) {
			con->escape = false;
			if (buf[i] == 'x' || buf[i] == 'X') {
				vm_stop(con->vm, VM_STOP_REQUESTED, "stopped from the console (Ctrl-A x)");
				return;
			}
			if (buf[i] != CONSOLE_ESCAPE)
				continue;
		} else if (buf[i] == CONSOLE_ESCAPE && con->tty) {
			con->escape = true;
			continue;
		}
		buf[out++] = buf[i];
	}
	console_deliver(con, buf, out);
}

static void *console_thread(void *arg)
{
	struct console *con = arg;
	uint8_t buf[256];

	pthread_setname_np(pthread_self(), "console");
	for (;;) {
		struct pollfd pfd[4] = {
			{ .fd = con->wake_fd, .events = POLLIN },
			{ .fd = con->in_fd, .events = POLLIN },
			{ .fd = con->listen_fd, .events = POLLIN },
			{ .fd = con->client_fd, .events = POLLIN },
		};
		ssize_t n;

		if (poll(pfd, 4, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents) {
			n = read(con->in_fd, buf, sizeof(buf));
			if (n <= 0)
				con->in_fd = -1; /* EOF on stdin: output only from now */
			else
				console_terminal_input(con, buf, (size_t)n);
		}
		if (pfd[2].revents & POLLIN) {
			int fd = accept4(con->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			long uid;

			if (fd >= 0 && !fd_peer_trusted(fd, &uid)) {
				cv_err_once("console: refused an attach from uid %ld: only this VM's "
					    "owner and root may read its console", uid);
				close(fd);
				continue;
			}
			pthread_mutex_lock(&con->lock);
			if (con->client_fd >= 0)
				close(con->client_fd); /* the newest attach wins */
			con->client_fd = fd;
			if (fd >= 0)
				history_replay(con, fd);
			pthread_mutex_unlock(&con->lock);
			continue;
		}
		if (pfd[3].revents) {
			n = recv(con->client_fd, buf, sizeof(buf), 0);
			if (n > 0) {
				console_deliver(con, buf, (size_t)n);
			} else {
				pthread_mutex_lock(&con->lock);
				close(con->client_fd);
				con->client_fd = -1;
				pthread_mutex_unlock(&con->lock);
			}
		}
	}
	return NULL;
}

int console_start(struct console *con, struct vm *vm, console_rx_fn rx, void *opaque)
{
	int ret;

	con->vm = vm;
	con->rx = rx;
	con->rx_opaque = opaque;
	if (con->in_fd >= 0 && isatty(con->in_fd) && !tcgetattr(con->in_fd, &con->saved_tio)) {
		struct termios raw = con->saved_tio;

		/* Raw input so the guest sees every key; output keeps its line discipline. */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
		raw.c_iflag &= ~(tcflag_t)(ICRNL | IXON | BRKINT | INPCK | ISTRIP);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		con->tty = !tcsetattr(con->in_fd, TCSANOW, &raw);
	}
	ret = pthread_create(&con->thread, NULL, console_thread, con);
	if (ret)
		return -ret;
	con->thread_started = true;
	return 0;
}

void console_close(struct console *con)
{
	uint64_t one = 1;

	if (!con)
		return;
	if (con->thread_started && write(con->wake_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(con->thread, NULL);
	if (con->tty)
		tcsetattr(con->in_fd, TCSANOW, &con->saved_tio);
	if (con->file_fd >= 0)
		close(con->file_fd);
	if (con->client_fd >= 0)
		close(con->client_fd);
	if (con->listen_fd >= 0) {
		close(con->listen_fd);
		unlink(con->sock_path);
	}
	if (con->wake_fd >= 0)
		close(con->wake_fd);
	pthread_mutex_destroy(&con->lock);
	free(con);
}
