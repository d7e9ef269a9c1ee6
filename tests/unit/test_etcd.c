/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd v3 client (tools/lib/etcd.h) against a real 3-member etcd
 * cluster this program starts on loopback ports: KV, txn, leases,
 * watches, and what happens when members die.  Skips, with a line, only
 * where Debian's etcd is not installed (make deps installs it).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/etcd_cluster.h"
#include "tools/lib/etcd.h"

static struct etcd *client(const char *endpoints)
{
	struct etcd *e;

	assert_int_equal(etcd_open(&e, endpoints), 0);
	return e;
}

static void put_str(struct etcd *e, const char *key, const char *value)
{
	int r = etcd_put(e, key, value, strlen(value), 0, NULL);

	if (r)
		fail_msg("put %s: %s: %s", key, strerror(-r), etcd_error(e));
}

/* --- endpoints ------------------------------------------------------------ */

static void test_endpoint_lists(void **state)
{
	static const char *const bad[] = {
		"", ",", "http://a:1,,http://b:2", "ftp://a:1", "http://a b:1",
		"a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9",
	};
	struct etcd *e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(etcd_open(&e, bad[i]), -EINVAL);
	assert_int_equal(etcd_open(&e, "127.0.0.1:2379,https://etcd.example:2379/"), 0);
	assert_string_equal(etcd_endpoint(e), "http://127.0.0.1:2379");
	etcd_close(e);
}

/* No member answers: one clear error, nothing hangs. */
static void test_no_member_answers(void **state)
{
	char eps[64];
	struct etcd_kvs kvs;
	struct etcd *e;

	(void)state;
	snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", free_port(), free_port());
	e = client(eps);
	assert_int_equal(etcd_get(e, "/k", ETCD_KEY, &kvs), -EHOSTUNREACH);
	assert_non_null(strstr(etcd_error(e), "no etcd member answered (2 tried)"));
	etcd_close(e);
}

/* A member that is down is skipped; the client stays on the one that answered. */
static void test_down_member_skipped(void **state)
{
	char eps[300];
	struct etcd_kvs kvs;
	struct etcd *e;

	NEED_CLUSTER();
	snprintf(eps, sizeof(eps), "127.0.0.1:%d,%s", free_port(), cluster.m[1].url);
	e = client(eps);
	put_str(e, "/skip/k", "v");
	assert_string_equal(etcd_endpoint(e), cluster.m[1].url);
	assert_int_equal(etcd_get(e, "/skip/k", ETCD_KEY, &kvs), 0);
	assert_int_equal(kvs.n, 1);
	etcd_kvs_free(&kvs);
	etcd_close(e);
}

/* --- KV -------------------------------------------------------------------- */

static void test_put_get_delete(void **state)
{
	static const uint8_t binary[] = { 0, 1, 0xff, '\n', '"', 0 };
	struct etcd_kvs kvs;
	int64_t rev1, rev2, deleted;
	struct etcd *e;

	NEED_CLUSTER();
	e = client(cluster.endpoints);
	assert_int_equal(etcd_put(e, "/kv/a", "1", 1, 0, &rev1), 0);
	assert_int_equal(etcd_put(e, "/kv/b", binary, sizeof(binary), 0, &rev2), 0);
	assert_true(rev2 > rev1);
	put_str(e, "/kv0", "neighbour");   /* after "/kv/" in key order, not under it */

	assert_int_equal(etcd_get(e, "/kv/b", ETCD_KEY, &kvs), 0);
	assert_int_equal(kvs.n, 1);
	assert_int_equal(kvs.kv[0].value_len, sizeof(binary));
	assert_memory_equal(kvs.kv[0].value, binary, sizeof(binary));
	assert_int_equal(kvs.kv[0].mod_revision, rev2);
	assert_int_equal(kvs.kv[0].version, 1);
	assert_true(kvs.revision >= rev2);
	etcd_kvs_free(&kvs);

	assert_int_equal(etcd_get(e, "/kv/", ETCD_PREFIX, &kvs), 0);
	assert_int_equal(kvs.n, 2);
	assert_string_equal(kvs.kv[0].key, "/kv/a");
	assert_string_equal(kvs.kv[0].value, "1");
	assert_string_equal(kvs.kv[1].key, "/kv/b");
	etcd_kvs_free(&kvs);

	assert_int_equal(etcd_get(e, "/kv/none", ETCD_KEY, &kvs), 0);
	assert_int_equal(kvs.n, 0);
	etcd_kvs_free(&kvs);

	assert_int_equal(etcd_delete(e, "/kv/", ETCD_PREFIX, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(etcd_get(e, "/kv", ETCD_PREFIX, &kvs), 0);
	assert_int_equal(kvs.n, 1);
	assert_string_equal(kvs.kv[0].key, "/kv0");
	etcd_kvs_free(&kvs);
	etcd_close(e);
}

/* --- Txn ------------------------------------------------------------------- */

/* Create-if-absent, the compare-and-swap placement and attachment rest on. */
static bool create_if_absent(struct etcd *e, const char *key, const char *value,
			     struct etcd_kvs *now)
{
	struct etcd_cmp absent = { .key = key, .target = ETCD_CMP_VERSION,
				   .result = ETCD_CMP_EQUAL, .number = 0 };
	struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = value,
			       .value_len = strlen(value) };
	struct etcd_op get = { .type = ETCD_OP_GET, .key = key };
	struct etcd_txn t = { .cmp = &absent, .n_cmp = 1, .then = &put, .n_then = 1,
			      .otherwise = &get, .n_otherwise = 1, .kvs = now };

	assert_int_equal(etcd_txn(e, &t), 0);
	assert_true(t.revision > 0);
	return t.succeeded;
}

static void test_txn_compare_and_swap(void **state)
{
	struct etcd_kvs now;
	struct etcd *e;

	NEED_CLUSTER();
	e = client(cluster.endpoints);
	assert_true(create_if_absent(e, "/txn/slot", "first", &now));
	assert_int_equal(now.n, 0);   /* a PUT's entry stays empty */
	assert_false(create_if_absent(e, "/txn/slot", "second", &now));
	assert_int_equal(now.n, 1);
	assert_string_equal(now.kv[0].value, "first");

	/* Swap only from the revision read: a stale writer loses. */
	struct etcd_cmp same_mod = { .key = "/txn/slot", .target = ETCD_CMP_MOD,
				     .result = ETCD_CMP_EQUAL, .number = now.kv[0].mod_revision };
	struct etcd_cmp same_value = { .key = "/txn/slot", .target = ETCD_CMP_VALUE,
				       .result = ETCD_CMP_EQUAL, .value = "first", .value_len = 5 };
	struct etcd_op swap = { .type = ETCD_OP_PUT, .key = "/txn/slot", .value = "third",
				.value_len = 5 };
	struct etcd_txn t = { .cmp = &same_mod, .n_cmp = 1, .then = &swap, .n_then = 1 };

	etcd_kvs_free(&now);
	assert_int_equal(etcd_txn(e, &t), 0);
	assert_true(t.succeeded);
	assert_int_equal(etcd_txn(e, &t), 0);
	assert_false(t.succeeded);
	t.cmp = &same_value;
	assert_int_equal(etcd_txn(e, &t), 0);
	assert_false(t.succeeded);   /* the value is "third" now */
	etcd_close(e);
}

/* Two clients racing for one slot: exactly one wins. */
struct racer {
	const char *value;
	bool won;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct etcd_kvs now;
	struct etcd *e = client(cluster.endpoints);

	r->won = create_if_absent(e, "/txn/race", r->value, &now);
	etcd_kvs_free(&now);
	etcd_close(e);
	return NULL;
}

static void test_txn_race(void **state)
{
	struct racer r[2] = { { .value = "a" }, { .value = "b" } };
	pthread_t t[2];
	struct etcd_kvs kvs;
	struct etcd *e;

	NEED_CLUSTER();
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r[0].won + r[1].won, 1);
	e = client(cluster.endpoints);
	assert_int_equal(etcd_get(e, "/txn/race", ETCD_KEY, &kvs), 0);
	assert_string_equal(kvs.kv[0].value, r[0].won ? "a" : "b");
	etcd_kvs_free(&kvs);
	etcd_close(e);
}

/* --- Lease ----------------------------------------------------------------- */

static void test_lease(void **state)
{
	struct etcd_kvs kvs;
	int64_t id, ttl;
	struct etcd *e;

	NEED_CLUSTER();
	e = client(cluster.endpoints);
	assert_int_equal(etcd_lease_grant(e, 60, &id), 0);
	assert_int_equal(etcd_put(e, "/lease/host", "up", 2, id, NULL), 0);
	assert_int_equal(etcd_get(e, "/lease/host", ETCD_KEY, &kvs), 0);
	assert_int_equal(kvs.kv[0].lease, id);
	etcd_kvs_free(&kvs);
	assert_int_equal(etcd_lease_keepalive(e, id, &ttl), 0);
	assert_true(ttl > 0 && ttl <= 60);

	assert_int_equal(etcd_lease_revoke(e, id), 0);
	assert_int_equal(etcd_get(e, "/lease/host", ETCD_KEY, &kvs), 0);
	assert_int_equal(kvs.n, 0);   /* went with its lease */
	etcd_kvs_free(&kvs);
	assert_int_equal(etcd_lease_keepalive(e, id, &ttl), -ENOENT);
	assert_int_equal(etcd_lease_revoke(e, id), -ENOENT);
	/* A put on a lease that is gone is refused, not stored forever. */
	assert_int_equal(etcd_put(e, "/lease/host", "up", 2, id, NULL), -ENOENT);
	etcd_close(e);
}

/* --- Watch ----------------------------------------------------------------- */

#define SEEN_MAX 64

struct watcher {
	pthread_t thread;
	struct etcd *e;
	struct etcd_watch w;
	int rc;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t n;
	struct {
		enum etcd_event_type type;
		char key[32], value[32];
		int64_t revision;
	} ev[SEEN_MAX];
};

static int on_events(void *arg, const struct etcd_event *ev, size_t n)
{
	struct watcher *wt = arg;

	pthread_mutex_lock(&wt->lock);
	for (size_t i = 0; i < n && wt->n < SEEN_MAX; i++, wt->n++) {
		wt->ev[wt->n].type = ev[i].type;
		snprintf(wt->ev[wt->n].key, sizeof(wt->ev[0].key), "%s", ev[i].kv.key);
		snprintf(wt->ev[wt->n].value, sizeof(wt->ev[0].value), "%s", ev[i].kv.value);
		wt->ev[wt->n].revision = ev[i].kv.mod_revision;
	}
	pthread_cond_broadcast(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
	return 0;
}

static void *watch_thread(void *arg)
{
	struct watcher *wt = arg;

	wt->rc = etcd_watch_run(wt->e, &wt->w);
	return NULL;
}

static void watcher_start(struct watcher *wt, const char *endpoints, const char *prefix,
			  int64_t from)
{
	memset(wt, 0, sizeof(*wt));
	pthread_mutex_init(&wt->lock, NULL);
	pthread_cond_init(&wt->cond, NULL);
	wt->e = client(endpoints);
	wt->w.key = prefix;
	wt->w.match = ETCD_PREFIX;
	wt->w.next_revision = from;
	wt->w.fn = on_events;
	wt->w.arg = wt;
	assert_int_equal(pthread_create(&wt->thread, NULL, watch_thread, wt), 0);
	/* A watch "from now" counts from when etcd created it: wait for that. */
	for (int t = 0; t < HANG_S * 10 && !wt->w.next_revision; t++)
		sleep_ms(100);
}

/* Until @n events have been seen. */
static void watcher_wait(struct watcher *wt, size_t n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HANG_S;
	pthread_mutex_lock(&wt->lock);
	while (wt->n < n && pthread_cond_timedwait(&wt->cond, &wt->lock, &until) == 0)
		;
	pthread_mutex_unlock(&wt->lock);
	if (wt->n < n)
		fail_msg("the watch saw %zu events, not %zu: %s", wt->n, n, etcd_error(wt->e));
}

static void watcher_stop(struct watcher *wt)
{
	etcd_watch_stop(&wt->w);
	pthread_join(wt->thread, NULL);
	assert_int_equal(wt->rc, 0);
	etcd_close(wt->e);
	pthread_mutex_destroy(&wt->lock);
	pthread_cond_destroy(&wt->cond);
}

static void test_watch_events(void **state)
{
	struct watcher wt;
	struct etcd *e;

	NEED_CLUSTER();
	watcher_start(&wt, cluster.endpoints, "/watch/", 0);
	e = client(cluster.endpoints);
	put_str(e, "/watch/a", "1");
	put_str(e, "/watchless", "not under the prefix");
	put_str(e, "/watch/b", "2");
	assert_int_equal(etcd_delete(e, "/watch/a", ETCD_KEY, NULL), 0);
	watcher_wait(&wt, 3);
	watcher_stop(&wt);
	assert_int_equal(wt.n, 3);
	assert_int_equal(wt.ev[0].type, ETCD_EVENT_PUT);
	assert_string_equal(wt.ev[0].key, "/watch/a");
	assert_string_equal(wt.ev[0].value, "1");
	assert_string_equal(wt.ev[1].key, "/watch/b");
	assert_int_equal(wt.ev[2].type, ETCD_EVENT_DELETE);
	assert_string_equal(wt.ev[2].key, "/watch/a");
	assert_true(wt.ev[0].revision < wt.ev[1].revision && wt.ev[1].revision < wt.ev[2].revision);
	assert_int_equal(wt.w.next_revision, wt.ev[2].revision + 1);
	assert_int_equal(wt.w.resumes, 0);
	etcd_close(e);
}

/* From a past revision: the history first, in order. */
static void test_watch_from_revision(void **state)
{
	struct watcher wt;
	int64_t first;
	struct etcd *e;

	NEED_CLUSTER();
	e = client(cluster.endpoints);
	assert_int_equal(etcd_put(e, "/hist/1", "a", 1, 0, &first), 0);
	put_str(e, "/hist/2", "b");
	put_str(e, "/hist/1", "c");
	watcher_start(&wt, cluster.endpoints, "/hist/", first);
	watcher_wait(&wt, 3);
	watcher_stop(&wt);
	assert_string_equal(wt.ev[0].value, "a");
	assert_string_equal(wt.ev[1].value, "b");
	assert_string_equal(wt.ev[2].value, "c");
	assert_int_equal(wt.ev[0].revision, first);
	etcd_close(e);
}

/* The callback ends the watch with its own value. */
static int stop_at_first(void *arg, const struct etcd_event *ev, size_t n)
{
	(void)arg, (void)ev, (void)n;
	return 7;
}

static void test_watch_callback_ends_it(void **state)
{
	struct etcd_watch w = { .key = "/end/", .match = ETCD_PREFIX, .fn = stop_at_first };
	int64_t rev;
	struct etcd *e;

	NEED_CLUSTER();
	e = client(cluster.endpoints);
	assert_int_equal(etcd_put(e, "/end/k", "v", 1, 0, &rev), 0);
	w.next_revision = rev;
	assert_int_equal(etcd_watch_run(e, &w), 7);
	etcd_close(e);
}

/* A watch from before the compacted revision: -ERANGE, not a silent gap. */
static void test_watch_compacted(void **state)
{
	struct etcd_watch w = { .key = "/compact/", .match = ETCD_PREFIX, .fn = stop_at_first,
				.next_revision = 1 };
	char cmd[512];
	int64_t rev;
	struct etcd *e;

	NEED_CLUSTER();
	e = client(cluster.endpoints);
	put_str(e, "/compact/a", "1");
	assert_int_equal(etcd_put(e, "/compact/a", "2", 1, 0, &rev), 0);
	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints=%s compact %lld >/dev/null",
		 cluster.endpoints, (long long)rev);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
	assert_int_equal(etcd_watch_run(e, &w), -ERANGE);
	assert_non_null(strstr(etcd_error(e), "compacted"));
	etcd_close(e);
}

/*
 * Put @value under @key whatever the cluster goes through: a put that may
 * have been applied (-ETIMEDOUT) is checked by reading the key back.
 */
static void put_surely(struct etcd *e, const char *key, const char *value)
{
	for (int t = 0; t < HANG_S * 5; t++) {
		struct etcd_kvs kvs;
		int r = etcd_put(e, key, value, strlen(value), 0, NULL);

		if (r == -ETIMEDOUT && etcd_get(e, key, ETCD_KEY, &kvs) == 0) {
			r = kvs.n == 1 && !strcmp(kvs.kv[0].value, value) ? 0 : r;
			etcd_kvs_free(&kvs);
		}
		if (!r)
			return;
		if (r != -ETIMEDOUT && r != -EHOSTUNREACH)
			fail_msg("put %s: %s: %s", key, strerror(-r), etcd_error(e));
		sleep_ms(200);
	}
	fail_msg("put %s: the cluster did not come back: %s", key, etcd_error(e));
}

/*
 * The member serving a watch dies while the cluster moves on: the watch
 * goes on from the next member at its revision, every event once and in
 * order; then the member comes back with its data and catches up.
 */
static void test_watch_survives_member_kill(void **state)
{
	char key[32], value[32];
	struct watcher wt;
	struct etcd *e;

	NEED_CLUSTER();
	/* m0 first: the watch's stream starts there. */
	watcher_start(&wt, cluster.endpoints, "/resume/", 0);
	e = client(cluster.endpoints);
	put_surely(e, "/resume/00", "v00");
	watcher_wait(&wt, 1);
	assert_string_equal(etcd_endpoint(wt.e), cluster.m[0].url);

	/* Frozen first, so that the puts happen while the stream is still
	 * open on m0 and delivers nothing; the kill then breaks it. */
	kill(cluster.m[0].pid, SIGSTOP);
	for (int i = 1; i < 10; i++) {
		snprintf(key, sizeof(key), "/resume/%02d", i);
		snprintf(value, sizeof(value), "v%02d", i);
		put_surely(e, key, value);
	}
	assert_int_equal(wt.n, 1);
	member_kill(0);
	watcher_wait(&wt, 10);
	assert_string_not_equal(etcd_endpoint(wt.e), cluster.m[0].url);
	member_start(0);
	member_wait_ready(0);
	watcher_stop(&wt);

	assert_int_equal(wt.n, 10);
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/resume/%02d", i);
		assert_string_equal(wt.ev[i].key, key);
		assert_int_equal(wt.ev[i].type, ETCD_EVENT_PUT);
		if (i)
			assert_true(wt.ev[i].revision > wt.ev[i - 1].revision);
	}
	assert_true(wt.w.resumes >= 1);
	etcd_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_lists),
		cmocka_unit_test(test_no_member_answers),
		cmocka_unit_test(test_down_member_skipped),
		cmocka_unit_test(test_put_get_delete),
		cmocka_unit_test(test_txn_compare_and_swap),
		cmocka_unit_test(test_txn_race),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_watch_from_revision),
		cmocka_unit_test(test_watch_callback_ends_it),
		cmocka_unit_test(test_watch_compacted),
		cmocka_unit_test(test_watch_survives_member_kill),
	};

	return cmocka_run_group_tests(tests, cluster_up, cluster_down);
}
