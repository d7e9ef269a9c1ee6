/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host agent's half of the VPC mapping service (tools/lib/mapping_sync.h)
 * against a real 3-member etcd cluster and cards that serve the real
 * control-socket server (tools/lib/card_ctl.c) with cv-vpc's commands
 * kept in a table here: what a card is sent, not how cv-vpc routes (the
 * nested fleet test pings through real cards).  A card gets its VNI's
 * table at once and every change live; its own mapping is published with
 * the port it reports; a malformed entry is left out and forgets the one
 * it replaced; a card that restarts (empty table, generation 0, another
 * port) is synced again and published again; a detached card hears no
 * more; another VNI's changes never reach a card.  A VNI's watch that
 * resumes past a compaction reads the VNI again and syncs its cards in
 * full: what changed meanwhile reaches them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "tests/unit/etcd_cluster.h"
#include "tools/lib/card_ctl.h"
#include "tools/lib/fleet.h"
#include "tools/lib/json_field.h"
#include "tools/lib/mapping_sync.h"

/* A card's control socket, served from a thread of its own. */
struct card {
	char sock[108];
	unsigned vni;
	struct card_ctl ctl;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	json_object *table;      /* ip -> {"underlay","encap","gen"} */
	int64_t gen;             /* mapping_gen */
	int port;                /* the "underlay" it reports: 127.0.0.1:port */
	unsigned refused;        /* commands it said no to */
};

static void card_stats(void *opaque, struct json_object *reply)
{
	struct card *c = opaque;
	char u[32];

	snprintf(u, sizeof(u), "127.0.0.1:%d", c->port);
	json_object_object_add(reply, "underlay", json_object_new_string(u));
	json_object_object_add(reply, "mapping_gen", json_object_new_int64(c->gen));
	json_object_object_add(reply, "mappings",
			       json_object_new_int(json_object_object_length(c->table)));
}

/* cv-vpc's commands as docs/vpc.md has them, on a table. */
static int card_cmd(void *opaque, const char *cmd, struct json_object *req,
		    struct json_object *reply)
{
	struct card *c = opaque;
	int64_t gen = json_field_i64(req, "gen");
	bool ok = true;

	pthread_mutex_lock(&c->lock);
	if (gen > c->gen)
		c->gen = gen;
	if (!strcmp(cmd, "mapping-set")) {
		json_object *e = json_object_new_object();

		ok = json_field_i64(req, "vni") == c->vni;
		json_object_object_add(e, "underlay", json_object_new_string(
			json_field_str(req, "underlay", "")));
		json_object_object_add(e, "encap", json_object_new_string(
			json_field_str(req, "encap", "vxlan")));
		json_object_object_add(e, "gen", json_object_new_int64(gen));
		if (ok)
			json_object_object_add(c->table, json_field_str(req, "ip", ""), e);
		else
			json_object_put(e);
	} else if (!strcmp(cmd, "mapping-remove")) {
		ok = json_field_i64(req, "vni") == c->vni;
		if (ok)
			json_object_object_del(c->table, json_field_str(req, "ip", ""));
	} else if (!strcmp(cmd, "mapping-prune")) {
		json_object *keep = json_object_new_object();

		json_object_object_foreach(c->table, ip, e)
			if (json_field_i64(e, "gen") >= gen)
				json_object_object_add(keep, ip, json_object_get(e));
		json_object_put(c->table);
		c->table = keep;
	} else {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	c->refused += !ok;
	pthread_mutex_unlock(&c->lock);
	json_object_object_add(reply, "ok", json_object_new_boolean(ok));
	return 0;
}

static void *card_serve(void *arg)
{
	struct card *c = arg;
	struct pollfd p = { .fd = card_ctl_fd(&c->ctl), .events = POLLIN };

	while (!atomic_load(&c->stop))
		if (poll(&p, 1, 50) > 0)
			card_ctl_process(&c->ctl);
	return NULL;
}

/* Start (or, after card_down, start again: a restart) card @c. */
static void card_up(struct card *c, int port)
{
	c->table = json_object_new_object();
	c->gen = 0;
	c->port = port;
	atomic_store(&c->stop, false);
	pthread_mutex_init(&c->lock, NULL);
	assert_int_equal(card_ctl_open(&c->ctl, c->sock, card_stats, card_cmd, c), 0);
	assert_int_equal(pthread_create(&c->thread, NULL, card_serve, c), 0);
}

static void card_down(struct card *c)
{
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	card_ctl_close(&c->ctl);
	json_object_put(c->table);
	c->table = NULL;
}

/* The card's entry for @ip: its underlay, or "" when it has none. */
static const char *card_has(struct card *c, const char *ip)
{
	static char u[32];
	json_object *e;

	pthread_mutex_lock(&c->lock);
	snprintf(u, sizeof(u), "%s", json_object_object_get_ex(c->table, ip, &e) ?
		 json_field_str(e, "underlay", "") : "");
	pthread_mutex_unlock(&c->lock);
	return u;
}

static int card_count(struct card *c)
{
	int n;

	pthread_mutex_lock(&c->lock);
	n = json_object_object_length(c->table);
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Until the card's entry for @ip is @underlay ("": none), HANG_S at most. */
static bool card_wait(struct card *c, const char *ip, const char *underlay)
{
	for (int i = 0; i < HANG_S * 20; i++) {
		if (!strcmp(card_has(c, ip), underlay))
			return true;
		sleep_ms(50);
	}
	return false;
}

/*
 * @call until it is done: while a member is frozen the cluster may be
 * electing a leader, and a write that timed out is not re-sent by the
 * client (etcd.h); each of these writes may be sent twice.
 */
#define SURELY(call)                                                              \
	do {                                                                      \
		int r_, t_ = 0;                                                   \
		while ((r_ = (call)) == -ETIMEDOUT || r_ == -EHOSTUNREACH) {      \
			assert_true(++t_ < HANG_S * 5);                           \
			sleep_ms(200);                                            \
		}                                                                 \
		assert_int_equal(r_, 0);                                          \
	} while (0)

static int mapping_put(struct etcd *e, unsigned vni, const char *ip, const char *underlay)
{
	struct fleet_mapping m = { .vni = vni, .ip = ip, .underlay = underlay,
				   .encap = "vxlan", .instance = "i-0000000000000000f",
				   .eni = "eni-0000000000000000f", .host = "far" };

	return fleet_mapping_put(e, &m, 0);
}

/* Another host's ENI @ip of @vni at @underlay, written as its agent would. */
static void remote_put(struct etcd *e, unsigned vni, const char *ip, const char *underlay)
{
	assert_int_equal(mapping_put(e, vni, ip, underlay), 0);
}

static void raw_put(struct etcd *e, unsigned vni, const char *ip, const char *value)
{
	char key[128];

	snprintf(key, sizeof(key), FLEET_PREFIX "mapping/%u/%s", vni, ip);
	assert_int_equal(etcd_put(e, key, value, strlen(value), 0, NULL), 0);
}

/* mapping/<vni>/<ip>'s underlay in etcd ("" when absent). */
static const char *published(struct etcd *e, unsigned vni, const char *ip)
{
	static char u[32];
	struct etcd_kvs kvs;
	json_object *o = NULL;
	char key[128];

	snprintf(key, sizeof(key), FLEET_PREFIX "mapping/%u/%s", vni, ip);
	assert_int_equal(etcd_get(e, key, ETCD_KEY, &kvs), 0);
	if (kvs.n)
		o = json_tokener_parse(kvs.kv[0].value);
	snprintf(u, sizeof(u), "%s", o ? json_field_str(o, "underlay", "") : "");
	json_object_put(o);
	etcd_kvs_free(&kvs);
	return u;
}

static bool published_wait(struct etcd *e, unsigned vni, const char *ip, const char *underlay)
{
	for (int i = 0; i < HANG_S * 20; i++) {
		if (!strcmp(published(e, vni, ip), underlay))
			return true;
		sleep_ms(50);
	}
	return false;
}

static void test_mapping_sync(void **state)
{
	static struct card a = { .vni = 5 }, other = { .vni = 6 };
	static struct mapsync ms;
	char dir[] = "/tmp/cv-mapsync-XXXXXX";
	struct instance_nic nic_a = { .id = "eni-0000000000000000a", .ipv4 = "10.5.0.10",
				      .encap = "vxlan", .vni = 5, .socket = a.sock };
	struct instance_nic nic_o = { .id = "eni-0000000000000000b", .ipv4 = "10.6.0.10",
				      .encap = "vxlan", .vni = 6, .socket = other.sock };
	struct etcd *e;

	NEED_CLUSTER();
	assert_non_null(mkdtemp(dir));
	snprintf(a.sock, sizeof(a.sock), "%s/a.sock", dir);
	snprintf(other.sock, sizeof(other.sock), "%s/o.sock", dir);
	assert_int_equal(etcd_open(&e, cluster.endpoints), 0);
	assert_int_equal(etcd_delete(e, FLEET_PREFIX, ETCD_PREFIX, NULL), 0);
	remote_put(e, 5, "10.5.0.20", "10.233.0.2:4790");
	remote_put(e, 5, "10.5.0.21", "10.233.0.2:4791");
	card_up(&a, 40001);
	card_up(&other, 40002);
	assert_int_equal(mapsync_start(&ms, cluster.endpoints, "here", 0), 0);

	/* Attached: the VNI's table at once, its own mapping published. */
	assert_int_equal(mapsync_attach(&ms, "i-0000000000000000a", &nic_a, 1), 0);
	assert_int_equal(mapsync_attach(&ms, "i-0000000000000000b", &nic_o, 1), 0);
	assert_string_equal(card_has(&a, "10.5.0.20"), "10.233.0.2:4790");
	assert_string_equal(card_has(&a, "10.5.0.21"), "10.233.0.2:4791");
	assert_string_equal(published(e, 5, "10.5.0.10"), "127.0.0.1:40001");
	assert_true(card_wait(&a, "10.5.0.10", "127.0.0.1:40001"));
	assert_true(a.gen > 0);

	/* Live: a new ENI, one that moved, one that stopped. */
	remote_put(e, 5, "10.5.0.22", "10.233.0.3:4790");
	assert_true(card_wait(&a, "10.5.0.22", "10.233.0.3:4790"));
	remote_put(e, 5, "10.5.0.20", "10.233.0.4:4790");
	assert_true(card_wait(&a, "10.5.0.20", "10.233.0.4:4790"));
	raw_put(e, 5, "10.5.0.21", "");
	assert_true(card_wait(&a, "10.5.0.21", ""));
	assert_int_equal(etcd_delete(e, FLEET_PREFIX "mapping/5/10.5.0.22", ETCD_KEY, NULL), 0);
	assert_true(card_wait(&a, "10.5.0.22", ""));

	/* Checked, not trusted: none of these reaches the card. */
	raw_put(e, 5, "10.5.0.30", "{\"underlay\":\"10.233.0.9\"}");
	raw_put(e, 5, "10.5.0.31", "{\"underlay\":\"10.233.0.9:4790\",\"encap\":\"gre\"}");
	raw_put(e, 5, "10.5.0.32\",\"vni\":6,\"x\":\"", "{\"underlay\":\"10.233.0.9:4790\"}");
	raw_put(e, 5, "10.5.0.33", "{\"underlay\":\"10.233.0.9:4790\"}");
	assert_true(card_wait(&a, "10.5.0.33", "10.233.0.9:4790"));
	assert_int_equal(card_count(&a), 3);   /* .10, .20, .33 */
	assert_int_equal(a.refused, 0);

	/* Another VNI's card heard none of it: its own mapping only. */
	assert_true(card_wait(&other, "10.6.0.10", "127.0.0.1:40002"));
	assert_int_equal(card_count(&other), 1);

	/* A restart: empty, generation 0, another port; synced and published again. */
	card_down(&a);
	card_up(&a, 40011);
	assert_true(published_wait(e, 5, "10.5.0.10", "127.0.0.1:40011"));
	assert_true(card_wait(&a, "10.5.0.20", "10.233.0.4:4790"));
	assert_true(card_wait(&a, "10.5.0.10", "127.0.0.1:40011"));
	assert_true(card_wait(&a, "10.5.0.33", "10.233.0.9:4790"));
	assert_int_equal(card_count(&a), 3);

	/* Detached: no more changes reach it. */
	mapsync_detach(&ms, "i-0000000000000000a");
	remote_put(e, 5, "10.5.0.40", "10.233.0.5:4790");
	assert_true(card_wait(&other, "10.6.0.10", "127.0.0.1:40002"));
	remote_put(e, 6, "10.6.0.40", "10.233.0.5:4790");
	assert_true(card_wait(&other, "10.6.0.40", "10.233.0.5:4790"));
	assert_string_equal(card_has(&a, "10.5.0.40"), "");

	mapsync_stop(&ms);
	card_down(&a);
	card_down(&other);
	etcd_close(e);
	rmdir(dir);
}

/*
 * The member the VNI's watch is on is frozen while the VNI changes and
 * etcd compacts past it, then killed: the watch resumes elsewhere from a
 * compacted revision (-ERANGE), the agent reads the VNI again and syncs
 * the card in full.
 */
static void test_compacted(void **state)
{
	static struct card c = { .vni = 7 };
	static struct mapsync ms;
	char dir[] = "/tmp/cv-mapsync-XXXXXX", others[160], cmd[512];
	struct instance_nic nic = { .id = "eni-0000000000000000c", .ipv4 = "10.7.0.10",
				    .encap = "vxlan", .vni = 7, .socket = c.sock };
	struct etcd *e, *live;
	int64_t rev;

	NEED_CLUSTER();
	assert_non_null(mkdtemp(dir));
	snprintf(c.sock, sizeof(c.sock), "%s/c.sock", dir);
	snprintf(others, sizeof(others), "%s,%s", cluster.m[1].url, cluster.m[2].url);
	assert_int_equal(etcd_open(&e, cluster.endpoints), 0);
	assert_int_equal(etcd_open(&live, others), 0);
	assert_int_equal(etcd_delete(e, FLEET_PREFIX, ETCD_PREFIX, NULL), 0);
	remote_put(e, 7, "10.7.0.20", "10.233.0.2:4790");
	card_up(&c, 40021);
	/* m0 first: the VNI's watch starts there. */
	assert_int_equal(mapsync_start(&ms, cluster.endpoints, "here", 0), 0);
	assert_int_equal(mapsync_attach(&ms, "i-0000000000000000c", &nic, 1), 0);
	assert_true(card_wait(&c, "10.7.0.20", "10.233.0.2:4790"));

	kill(cluster.m[0].pid, SIGSTOP);
	SURELY(mapping_put(live, 7, "10.7.0.21", "10.233.0.3:4790"));
	SURELY(etcd_delete(live, FLEET_PREFIX "mapping/7/10.7.0.20", ETCD_KEY, NULL));
	SURELY(etcd_put(live, "/unrelated", "x", 1, 0, &rev));
	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints=%s compact %lld >/dev/null",
		 others, (long long)rev);
	assert_int_equal(system(cmd), 0);
	assert_string_equal(card_has(&c, "10.7.0.21"), "");   /* the frozen watch saw nothing */
	member_kill(0);

	assert_true(card_wait(&c, "10.7.0.21", "10.233.0.3:4790"));
	assert_true(card_wait(&c, "10.7.0.20", ""));
	assert_true(card_wait(&c, "10.7.0.10", "127.0.0.1:40021"));
	member_start(0);
	member_wait_ready(0);

	mapsync_stop(&ms);
	card_down(&c);
	etcd_close(live);
	etcd_close(e);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping_sync),
		cmocka_unit_test(test_compacted),
	};

	return cmocka_run_group_tests(tests, cluster_up, cluster_down);
}
