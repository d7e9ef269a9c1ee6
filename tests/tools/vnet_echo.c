/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vnet_echo SOCKET [PAIRS]: a vhost-user-net back-end (cards/vpc/vnet.c)
 * that sends every frame the guest transmits straight back to it, for
 * integration tests against real front-ends (DPDK's net_virtio_user,
 * QEMU).  Runs until SIGTERM/SIGINT, then prints one line of counters:
 *   vnet_echo: connects N tx N rx N rx_dropped N tx_bad N rejected N
 * and, on every front-end connect and disconnect, a "vnet_echo: ..." line.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cards/vpc/vnet.h"
#include "tools/lib/log.h"

static struct vnet net;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void echo(void *opaque, const uint8_t *frame, size_t len)
{
	(void)opaque;
	/* Drops are counted by vnet itself. */
	vnet_rx(&net, frame, len);
}

int main(int argc, char **argv)
{
	struct vnet_config cfg = { .pairs = 1, .tx = echo };
	struct sigaction sa = { .sa_handler = on_signal };
	bool was_connected = false;
	int r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SOCKET [PAIRS]\n", argv[0]);
		return 2;
	}
	cv_log_init("vnet_echo", getenv("VERBOSE") != NULL);
	cfg.path = argv[1];
	if (argc == 3)
		cfg.pairs = (unsigned)atoi(argv[2]);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	r = vnet_open(&net, &cfg);
	if (r) {
		fprintf(stderr, "vnet_echo: %s: %s\n", cfg.path, strerror(-r));
		return 1;
	}
	printf("vnet_echo: listening on %s\n", cfg.path);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = { .fd = vnet_fd(&net), .events = POLLIN };

		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
		if (pfd.revents && (r = vnet_process(&net))) {
			fprintf(stderr, "vnet_echo: %s\n", strerror(-r));
			break;
		}
		if (vu_connected(&net.vu) != was_connected) {
			was_connected = !was_connected;
			printf("vnet_echo: front-end %s\n",
			       was_connected ? "connected" : "disconnected");
			fflush(stdout);
		}
	}
	printf("vnet_echo: connects %llu tx %llu rx %llu rx_dropped %llu tx_bad %llu rejected %llu\n",
	       (unsigned long long)net.vu.stats.connects,
	       (unsigned long long)net.stats.tx_frames, (unsigned long long)net.stats.rx_frames,
	       (unsigned long long)(net.stats.rx_no_buffer + net.stats.rx_too_big +
				    net.stats.rx_no_queue + net.stats.rx_bad_buffer),
	       (unsigned long long)net.stats.tx_bad, (unsigned long long)net.vu.stats.rejected);
	/* Out before the exit, which under LeakSanitizer can outlast a kill timer. */
	fflush(stdout);
	vnet_close(&net);
	return 0;
}
