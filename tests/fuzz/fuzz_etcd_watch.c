/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd watch stream parser (tools/lib/etcd.c, etcd_watch_feed): what a
 * member's /v3/watch stream hands the fleet's agents and launches, cut
 * into chunks the way TCP may deliver them.
 *
 * Input: one byte, the chunk size (1..64; 0: all at once), then the
 * stream.  The watch starts from revision 5.
 *
 * Invariants beyond "no crash":
 *  - events reach the callback in revision order, none older than the
 *    watch's next revision when they arrived, each key and value
 *    NUL-terminated at its length;
 *  - next_revision never goes back, and follows the last event delivered;
 *  - the feed stops at the first message it refuses (-1 with a verdict
 *    of -EBADMSG, -EMSGSIZE or -ERANGE) or that ends the watch (1), and
 *    dropping the stream frees what it buffered.
 */
#include <errno.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "tools/lib/etcd.h"

static int64_t floor_revision;

static int on_events(void *arg, const struct etcd_event *ev, size_t n)
{
	struct etcd_watch *w = arg;

	FUZZ_CHECK(n > 0);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(ev[i].kv.mod_revision >= floor_revision);
		FUZZ_CHECK(i == 0 || ev[i].kv.mod_revision >= ev[i - 1].kv.mod_revision);
		FUZZ_CHECK(ev[i].kv.key[ev[i].kv.key_len] == 0);
		FUZZ_CHECK(ev[i].kv.value[ev[i].kv.value_len] == 0);
		FUZZ_CHECK(ev[i].type == ETCD_EVENT_PUT || ev[i].type == ETCD_EVENT_DELETE);
	}
	FUZZ_CHECK(w->next_revision == ev[n - 1].kv.mod_revision + 1);
	floor_revision = w->next_revision;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct etcd *e;
	struct fuzz_in in = fuzz_in(data, size);
	size_t chunk = fuzz_u8(&in) % 65, got;
	struct etcd_watch w = { .key = "/k/", .match = ETCD_PREFIX, .next_revision = 5,
				.fn = on_events };
	int r = 0;

	if (!e)
		FUZZ_CHECK(etcd_open(&e, "127.0.0.1:2379") == 0);
	w.arg = &w;
	floor_revision = w.next_revision;
	while (in.n && r == 0) {
		const uint8_t *p = fuzz_take(&in, chunk ? chunk : in.n, &got);
		int64_t before = w.next_revision;

		r = etcd_watch_feed(e, &w, (const char *)p, got);
		FUZZ_CHECK(w.next_revision >= before);
	}
	FUZZ_CHECK(r >= -1 && r <= 1);
	if (r < 0)
		FUZZ_CHECK(w.verdict == -EBADMSG || w.verdict == -EMSGSIZE || w.verdict == -ERANGE ||
			   w.verdict == -ENOMEM);
	etcd_watch_feed(e, &w, NULL, 0);
	FUZZ_CHECK(w.buf == NULL && w.len == 0);
	return 0;
}
