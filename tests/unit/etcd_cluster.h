/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A real etcd cluster for the tests: MEMBERS members of Debian's etcd on
 * loopback ports, their data and logs in a temporary directory.
 * cluster_up/cluster_down are cmocka group set-up and tear-down; where
 * etcd is not installed cluster_up says so and cluster.up stays false, and
 * NEED_CLUSTER() skips the test.
 */
#ifndef CV_TEST_ETCD_CLUSTER_H
#define CV_TEST_ETCD_CLUSTER_H

#include <stdbool.h>
#include <sys/types.h>

#define MEMBERS 3
/* How long a cluster or a watch may take before a test calls it hung. */
#define HANG_S 60

struct etcd_member {
	pid_t pid;
	int client_port, peer_port;
	char url[64];
};

extern struct etcd_cluster {
	bool up;
	char dir[64];
	char initial[256];       /* --initial-cluster */
	char endpoints[256];     /* every member, m0 first */
	struct etcd_member m[MEMBERS];
} cluster;

int cluster_up(void **state);
int cluster_down(void **state);
/* Start member @i (again: with its data), SIGKILL it. */
void member_start(unsigned i);
void member_kill(unsigned i);
/* Until member @i serves a linearizable read (it has a leader). */
void member_wait_ready(unsigned i);
/* A loopback port nobody listens on now. */
int free_port(void);
void sleep_ms(long ms);

#define NEED_CLUSTER()                  \
	do {                            \
		(void)state;            \
		if (!cluster.up)        \
			skip();         \
	} while (0)

#endif /* CV_TEST_ETCD_CLUSTER_H */
