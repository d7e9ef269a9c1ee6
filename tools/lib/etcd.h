/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for etcd's v3 API through its JSON gateway (etcd 3.4: POST
 * /v3/kv/range, /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn,
 * /v3/lease/grant|keepalive|revoke, /v3/watch), on libcurl and json-c: the
 * store of the many-host control plane (docs/fleet.md, issue 15).  Keys and
 * values travel base64-encoded, 64-bit numbers as JSON strings, as the
 * gateway's protobuf-to-JSON mapping has them.
 *
 * Endpoints are tried in turn, starting with the one that answered last: a
 * member that refuses the connection, times out or has lost its leader is
 * skipped; while members say they have no leader, the round is tried again
 * for a few seconds (an election).  A request that may have been applied (a put, delete or txn sent
 * to a member that then stopped answering) is not sent again: it fails
 * with -ETIMEDOUT and the caller re-reads, as etcd's own client does.
 * Every request carries "hasleader" metadata so that a member cut off from
 * the quorum refuses it instead of serving stale data (etcd's
 * WithRequireLeader).
 *
 * One struct etcd belongs to one thread at a time.  Functions return 0 or
 * a negative errno; etcd_error() says why in words, for the caller's one
 * log line.
 */
#ifndef CV_ETCD_H
#define CV_ETCD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_ENDPOINTS_MAX 8
/* The environment variable naming the endpoints when --etcd does not. */
#define ETCD_ENV "CARDVISOR_ETCD"

struct etcd;

/*
 * A client for @endpoints: "URL[,URL...]", each http://host:port or
 * https://host:port (host:port alone means http) of at most 256
 * characters, at most ETCD_ENDPOINTS_MAX.  Nothing is sent yet.  -EINVAL for a malformed list
 * (the caller says so: a command-line mistake, not a log line).
 */
int etcd_open(struct etcd **out, const char *endpoints);
void etcd_close(struct etcd *e);
/* Why the last call failed, or "". */
const char *etcd_error(const struct etcd *e);
/* The endpoint that answered last (for logs). */
const char *etcd_endpoint(const struct etcd *e);

/* mvccpb.KeyValue.  key and value are NUL-terminated as well. */
struct etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

/* What a range read: n pairs, and the store's revision when it was read. */
struct etcd_kvs {
	struct etcd_kv *kv;
	size_t n;
	int64_t revision;
};
void etcd_kvs_free(struct etcd_kvs *kvs);

/* How a key names keys: itself, or every key it prefixes. */
enum etcd_match { ETCD_KEY, ETCD_PREFIX };

/* Range: the pair(s) under @key, in key order; none is not an error. */
int etcd_get(struct etcd *e, const char *key, enum etcd_match match, struct etcd_kvs *out);
/*
 * Put @value under @key, attached to @lease (0: none).  @revision, if not
 * NULL, receives the store's revision after the put.
 */
int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *revision);
/* DeleteRange; @deleted, if not NULL, receives how many keys went. */
int etcd_delete(struct etcd *e, const char *key, enum etcd_match match, int64_t *deleted);

/* etcdserverpb.Compare: @key's @target compared with a number or a value. */
enum etcd_cmp_target { ETCD_CMP_VERSION, ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VALUE,
		       ETCD_CMP_LEASE };
enum etcd_cmp_result { ETCD_CMP_EQUAL, ETCD_CMP_GREATER, ETCD_CMP_LESS, ETCD_CMP_NOT_EQUAL };
struct etcd_cmp {
	const char *key;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t number;          /* VERSION, CREATE, MOD, LEASE */
	const void *value;       /* VALUE */
	size_t value_len;
};

/* etcdserverpb.RequestOp: a range, put or delete inside a txn. */
enum etcd_op_type { ETCD_OP_GET, ETCD_OP_PUT, ETCD_OP_DELETE };
struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	enum etcd_match match;   /* GET, DELETE */
	const void *value;       /* PUT */
	size_t value_len;
	int64_t lease;           /* PUT */
};

/*
 * A transaction: if every comparison holds, the @then operations, else the
 * @otherwise ones, atomically.  Out: @succeeded, the revision after it, and
 * where @kvs is not NULL (as many entries as the longer branch), what each
 * GET of the branch taken read (other entries empty).
 */
struct etcd_txn {
	const struct etcd_cmp *cmp;
	size_t n_cmp;
	const struct etcd_op *then;
	size_t n_then;
	const struct etcd_op *otherwise;
	size_t n_otherwise;
	bool succeeded;
	int64_t revision;
	struct etcd_kvs *kvs;
};
int etcd_txn(struct etcd *e, struct etcd_txn *t);

/* A lease of @ttl_s seconds; etcd picks the id. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id);
/* Renew @id; @ttl_s receives its new TTL.  -ENOENT: it has expired. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s);
/* End @id now; the keys attached to it go with it.  -ENOENT: no such lease. */
int etcd_lease_revoke(struct etcd *e, int64_t id);

/* mvccpb.Event */
enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE };
struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;       /* a DELETE carries the key and mod_revision only */
};

/*
 * Called with each batch of events, all of one revision or of consecutive
 * ones, in order; 0 to go on, anything else ends etcd_watch_run() with
 * that value.
 */
typedef int (*etcd_watch_fn)(void *arg, const struct etcd_event *ev, size_t n);

/*
 * A watch on @key (or its prefix) from @next_revision (0: from now).
 * next_revision follows what was delivered: when the stream breaks (the
 * member died, lost its leader or the connection failed), it is opened
 * again on the next member from there, so nothing is missed or repeated.
 * While no member answers it retries every second until stopped.
 */
struct etcd_watch {
	const char *key;
	enum etcd_match match;
	int64_t next_revision;
	etcd_watch_fn fn;
	void *arg;
	atomic_bool stop;
	unsigned resumes;        /* streams opened again after a break */
	/* private: the stream's unparsed bytes, how it went, the verdict */
	char *buf;
	size_t len, cap;
	bool answered, canceled;
	int verdict;
};

/*
 * Runs @w on @e's endpoints until its callback ends it, it is stopped
 * (0), or etcd can no longer serve it: -ERANGE when next_revision has been
 * compacted away (read the keys again, then watch from the read's
 * revision + 1).
 */
int etcd_watch_run(struct etcd *e, struct etcd_watch *w);
/* From any thread: etcd_watch_run() returns 0 within about a second. */
void etcd_watch_stop(struct etcd_watch *w);
/*
 * What etcd_watch_run() does with @n bytes of a stream: parse the
 * messages they complete, follow next_revision, call back.  0 to go on, 1
 * when the member ended the watch (resume elsewhere), -1 when the watch is
 * over (w->verdict: a negative errno, or the callback's value); a message
 * that is not what the gateway sends, or events out of order or older than
 * next_revision, are -EBADMSG.  @n 0: the stream ended, its partial
 * message is dropped.  Public for the fuzz harness.
 */
int etcd_watch_feed(struct etcd *e, struct etcd_watch *w, const char *p, size_t n);

#endif /* CV_ETCD_H */
