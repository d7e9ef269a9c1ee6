/* SPDX-License-Identifier: Apache-2.0 */
/* A 3-member etcd cluster on loopback ports for the tests (etcd_cluster.h). */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/etcd_cluster.h"
#include "tools/lib/etcd.h"

#define ETCD_BIN "/usr/bin/etcd"

struct etcd_cluster cluster;
void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 },
		  NULL);
}

/* A loopback port nobody listens on now. */
int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

void member_start(unsigned i)
{
	struct etcd_member *m = &cluster.m[i];
	char name[8], data[96], log[96], client[64], peer[64];

	snprintf(name, sizeof(name), "m%u", i);
	snprintf(data, sizeof(data), "%s/%s", cluster.dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", cluster.dir, name);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", m->client_port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", m->peer_port);
	m->pid = fork();
	assert_true(m->pid >= 0);
	if (m->pid == 0) {
		if (!freopen(log, "a", stdout) || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
			_exit(127);
		execl(ETCD_BIN, "etcd", "--name", name, "--data-dir", data,
		      "--listen-client-urls", client, "--advertise-client-urls", client,
		      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		      "--initial-cluster", cluster.initial, "--initial-cluster-token", cluster.dir,
		      "--initial-cluster-state", "new", (char *)NULL);
		_exit(127);
	}
}

void member_kill(unsigned i)
{
	kill(cluster.m[i].pid, SIGKILL);
	waitpid(cluster.m[i].pid, NULL, 0);
	cluster.m[i].pid = 0;
}

/*
 * Whether member @i comes to serve a linearizable read (it has a leader)
 * within HANG_S; why not in @why.  A member that exited is not waited for.
 */
static bool member_ready(unsigned i, char *why, size_t len)
{
	struct etcd *e;
	int r = -1, status;

	assert_int_equal(etcd_open(&e, cluster.m[i].url), 0);
	for (int t = 0; t < HANG_S * 10 && r; t++) {
		struct etcd_kvs kvs;

		r = etcd_get(e, "/ready", ETCD_KEY, &kvs);
		if (!r) {
			etcd_kvs_free(&kvs);
		} else if (waitpid(cluster.m[i].pid, &status, WNOHANG) == cluster.m[i].pid) {
			cluster.m[i].pid = 0;
			snprintf(why, len, "etcd member %u exited (log %s/m%u.log)", i, cluster.dir, i);
			break;
		} else {
			sleep_ms(100);
		}
	}
	if (r && cluster.m[i].pid)
		snprintf(why, len, "etcd member %u not ready: %s (log %s/m%u.log)", i,
			 etcd_error(e), cluster.dir, i);
	etcd_close(e);
	return !r;
}

void member_wait_ready(unsigned i)
{
	char why[256];

	if (!member_ready(i, why, sizeof(why)))
		fail_msg("%s", why);
}

/* @n distinct loopback ports nobody listens on now (all bound at once). */
static void free_ports(int *ports, unsigned n)
{
	int fd[2 * MEMBERS];

	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);

		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd[i] >= 0);
		assert_int_equal(bind(fd[i], (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(fd[i], (struct sockaddr *)&a, &len), 0);
		ports[i] = ntohs(a.sin_port);
	}
	for (unsigned i = 0; i < n; i++)
		close(fd[i]);
}

/*
 * The members on fresh ports, each ready; false (with why, members
 * stopped, their data gone) if one is not: another process may have taken
 * a port between its choice and etcd's bind.
 */
static bool cluster_start(char *why, size_t len)
{
	int ports[2 * MEMBERS];
	size_t o = 0, p = 0;
	char cmd[128];
	bool ready = true;

	free_ports(ports, 2 * MEMBERS);
	for (unsigned i = 0; i < MEMBERS; i++) {
		struct etcd_member *m = &cluster.m[i];

		m->client_port = ports[2 * i];
		m->peer_port = ports[2 * i + 1];
		snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", m->client_port);
		o += snprintf(cluster.initial + o, sizeof(cluster.initial) - o, "%sm%u=http://127.0.0.1:%d",
			      i ? "," : "", i, m->peer_port);
		p += snprintf(cluster.endpoints + p, sizeof(cluster.endpoints) - p, "%s%s",
			      i ? "," : "", m->url);
	}
	for (unsigned i = 0; i < MEMBERS; i++)
		member_start(i);
	for (unsigned i = 0; i < MEMBERS && ready; i++)
		ready = member_ready(i, why, len);
	if (ready)
		return true;
	for (unsigned i = 0; i < MEMBERS; i++)
		if (cluster.m[i].pid > 0)
			member_kill(i);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/m[0-9]", cluster.dir);
	if (system(cmd))
		snprintf(why + strlen(why), len - strlen(why), "; %s failed", cmd);
	return false;
}

int cluster_up(void **state)
{
	char why[256];

	(void)state;
	if (access(ETCD_BIN, X_OK)) {
		printf("# skipping: %s is not installed (make deps installs etcd-server)\n",
		       ETCD_BIN);
		return 0;
	}
	strcpy(cluster.dir, "/tmp/cv-etcd-XXXXXX");
	assert_non_null(mkdtemp(cluster.dir));
	/* Three tries: a port may be taken between its choice and the bind. */
	for (int t = 0; t < 3 && !cluster.up; t++) {
		cluster.up = cluster_start(why, sizeof(why));
		if (!cluster.up)
			printf("# etcd cluster, try %d: %s\n", t + 1, why);
	}
	if (!cluster.up) {
		cluster_down(NULL);
		fail_msg("no etcd cluster: %s", why);
	}
	return 0;
}

int cluster_down(void **state)
{
	char cmd[96];

	(void)state;
	if (!cluster.dir[0])
		return 0;
	for (unsigned i = 0; i < MEMBERS; i++)
		if (cluster.m[i].pid > 0)
			member_kill(i);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", cluster.dir);
	return system(cmd) == 0 ? 0 : -1;
}
