// SPDX-License-Identifier: Apache-2.0
/*
 * etcd v3 over its JSON gateway (see etcd.h).  Each call builds the
 * request as the gateway's JSON mapping of etcdserverpb (api/etcdserverpb/
 * rpc.proto: bytes as base64, int64 as strings, enums by name), POSTs it
 * with libcurl to one member after another, and maps the answer back.
 */
#include "tools/lib/etcd.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "tools/lib/log.h"

/* A unary call: connect, then the whole exchange (a txn may wait for raft). */
#define ETCD_CONNECT_MS 1000
#define ETCD_REQUEST_MS 5000
/* Rounds over the members while they elect a leader, and the pause between. */
#define ETCD_ELECTION_ROUNDS   8
#define ETCD_ELECTION_PAUSE_MS 500
/* Largest response (unary) or watch message taken from a member. */
#define ETCD_RESPONSE_MAX (64u << 20)
/* Dead peers under a watch are noticed by TCP keepalive (seconds). */
#define ETCD_KEEPIDLE_S  5
#define ETCD_KEEPINTVL_S 2
/* Longest endpoint URL. */
#define ETCD_ENDPOINT_LEN 256
/* Between rounds of a watch over endpoints none of which answered. */
#define ETCD_WATCH_RETRY_MS 1000

struct etcd {
	CURL *curl;
	struct curl_slist *headers;
	char *endpoint[ETCD_ENDPOINTS_MAX];
	unsigned n_endpoints, current;
	char error[256];
};

/* A response body as it arrives. */
struct etcd_body {
	char *buf;
	size_t len, cap;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void set_error(struct etcd *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->error, sizeof(e->error), fmt, ap);
	va_end(ap);
}

const char *etcd_error(const struct etcd *e)
{
	return e->error;
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->endpoint[e->current];
}

static int add_endpoint(struct etcd *e, const char *s, size_t n)
{
	bool bare = !memmem(s, n, "://", 3);
	char *url;

	while (n && s[n - 1] == '/')
		n--;
	/* Paths go after it in one URL buffer (curl_common). */
	if (!n || n > ETCD_ENDPOINT_LEN || memchr(s, ' ', n) ||
	    e->n_endpoints == ETCD_ENDPOINTS_MAX)
		return -EINVAL;
	if (!bare && strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
		return -EINVAL;
	if (asprintf(&url, "%s%.*s", bare ? "http://" : "", (int)n, s) < 0)
		return -ENOMEM;
	e->endpoint[e->n_endpoints++] = url;
	return 0;
}

int etcd_open(struct etcd **out, const char *endpoints)
{
	struct etcd *e;
	int r = 0;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		cv_err("etcd: libcurl: %s", curl_easy_strerror(curl_init_rc));
		return -ENOMEM;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (const char *s = endpoints; r == 0;) {
		size_t n = strcspn(s, ",");

		r = add_endpoint(e, s, n);
		if (!s[n])
			break;
		s += n + 1;
	}
	if (!r) {
		e->curl = curl_easy_init();
		/* "hasleader" is rpctypes.MetadataRequireLeaderKey: a member
		 * without a leader refuses the call instead of answering from
		 * what may be a minority partition. */
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
		struct curl_slist *both = h ? curl_slist_append(h, "Grpc-Metadata-hasleader: true") :
			NULL;

		e->headers = both ? both : h;
		if (!e->curl || !both)
			r = -ENOMEM;
	}
	if (r) {
		etcd_close(e);
		return r;
	}
	*out = e;
	return 0;
}

void etcd_close(struct etcd *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	for (unsigned i = 0; i < e->n_endpoints; i++)
		free(e->endpoint[i]);
	free(e);
}

/* --- JSON mapping of the protobuf types ---------------------------------- */

static json_object *b64_new(const void *p, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *s = malloc(cap);
	json_object *o;

	if (!s)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	o = json_object_new_string(s);
	free(s);
	return o;
}

/* Base64 @s into a new NUL-terminated buffer. */
static int b64_decode(const char *s, char **out, size_t *out_len)
{
	size_t n = strlen(s), pad = 0;
	char *p;
	int len;

	if (n % 4 || n > INT_MAX)
		return -EBADMSG;
	if (n && s[n - 1] == '=')
		pad = 1 + (n > 1 && s[n - 2] == '=');
	p = malloc(n / 4 * 3 + 1);
	if (!p)
		return -ENOMEM;
	len = EVP_DecodeBlock((unsigned char *)p, (const unsigned char *)s, (int)n);
	if (len < 0 || (size_t)len < pad) {
		free(p);
		return -EBADMSG;
	}
	*out_len = (size_t)len - pad;
	p[*out_len] = 0;
	*out = p;
	return 0;
}

static json_object *i64_new(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_object_new_string(s);
}

/* An int64 field: a JSON string of digits (or a number); absent is 0. */
static int i64_get(json_object *o, const char *name, int64_t *v)
{
	json_object *f;
	const char *s;
	char *end;

	*v = 0;
	if (!json_object_object_get_ex(o, name, &f))
		return 0;
	if (json_object_is_type(f, json_type_int)) {
		*v = json_object_get_int64(f);
		return 0;
	}
	if (!json_object_is_type(f, json_type_string))
		return -EBADMSG;
	s = json_object_get_string(f);
	errno = 0;
	*v = strtoll(s, &end, 10);
	return (errno || end == s || *end) ? -EBADMSG : 0;
}

static bool bool_get(json_object *o, const char *name)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) && json_object_get_boolean(f);
}

/* A bytes field; absent is empty. */
static int bytes_get(json_object *o, const char *name, char **p, size_t *n)
{
	json_object *f;

	if (!json_object_object_get_ex(o, name, &f))
		return b64_decode("", p, n);
	if (!json_object_is_type(f, json_type_string))
		return -EBADMSG;
	return b64_decode(json_object_get_string(f), p, n);
}

static void kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static int kv_parse(json_object *o, struct etcd_kv *kv)
{
	int r;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object))
		return -EBADMSG;
	r = bytes_get(o, "key", &kv->key, &kv->key_len);
	if (!r)
		r = bytes_get(o, "value", &kv->value, &kv->value_len);
	if (!r)
		r = i64_get(o, "create_revision", &kv->create_revision);
	if (!r)
		r = i64_get(o, "mod_revision", &kv->mod_revision);
	if (!r)
		r = i64_get(o, "version", &kv->version);
	if (!r)
		r = i64_get(o, "lease", &kv->lease);
	if (r)
		kv_free(kv);
	return r;
}

void etcd_kvs_free(struct etcd_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++)
		kv_free(&kvs->kv[i]);
	free(kvs->kv);
	memset(kvs, 0, sizeof(*kvs));
}

/* RangeResponse (or a txn's response_range): its kvs and header.revision. */
static int kvs_parse(json_object *o, struct etcd_kvs *out)
{
	json_object *kvs, *header;
	size_t n = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (json_object_object_get_ex(o, "header", &header))
		r = i64_get(header, "revision", &out->revision);
	if (r || !json_object_object_get_ex(o, "kvs", &kvs))
		return r;
	if (!json_object_is_type(kvs, json_type_array))
		return -EBADMSG;
	n = json_object_array_length(kvs);
	out->kv = calloc(n ? n : 1, sizeof(*out->kv));
	if (!out->kv)
		return -ENOMEM;
	for (size_t i = 0; i < n && !r; i++) {
		r = kv_parse(json_object_array_get_idx(kvs, i), &out->kv[i]);
		if (!r)
			out->n++;
	}
	if (r)
		etcd_kvs_free(out);
	return r;
}

/*
 * The key, and for a prefix its range_end: the key with its last byte
 * below 0xff incremented and the rest dropped ("\0", every key from @key
 * on, when there is none): rpc.proto's RangeRequest.range_end.
 */
static int key_fields(json_object *req, const char *key, enum etcd_match match)
{
	size_t n = strlen(key);
	unsigned char end[n + 1];

	json_object_object_add(req, "key", b64_new(key, n));
	if (match != ETCD_PREFIX)
		return 0;
	memcpy(end, key, n);
	while (n && end[n - 1] == 0xff)
		n--;
	if (n)
		end[n - 1]++;
	else
		end[n++] = 0;
	json_object_object_add(req, "range_end", b64_new(end, n));
	return 0;
}

/* --- transport ------------------------------------------------------------ */

static size_t body_write(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct etcd_body *b = opaque;
	size_t n = size * nmemb;

	if (b->len + n + 1 > ETCD_RESPONSE_MAX)
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *buf;

		while (cap < b->len + n + 1)
			cap *= 2;
		buf = realloc(b->buf, cap);
		if (!buf)
			return 0;
		b->buf = buf;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = 0;
	return n;
}

static void curl_common(struct etcd *e, const char *path, const char *body)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", e->endpoint[e->current], path);
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ETCD_CONNECT_MS);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

/*
 * google.rpc.Code of an error the gateway returned, as an errno; @retry
 * says whether another member may do better.  UNAVAILABLE is "no leader",
 * "leader changed", "not capable": nothing was applied only for the first
 * (clientv3's isSafeRetryMutableRPC), so a mutation retries on that alone.
 */
static int grpc_errno(int code, const char *message, bool mutation, bool *retry)
{
	*retry = false;
	switch (code) {
	case 3:  /* INVALID_ARGUMENT */
	case 9:  /* FAILED_PRECONDITION */
		return -EINVAL;
	case 5:  /* NOT_FOUND: "requested lease not found" */
		return -ENOENT;
	case 7:  /* PERMISSION_DENIED */
	case 16: /* UNAUTHENTICATED */
		return -EACCES;
	case 8:  /* RESOURCE_EXHAUSTED: "database space exceeded", too many requests */
		return -ENOSPC;
	case 11: /* OUT_OF_RANGE: "required revision has been compacted" */
		return -ERANGE;
	case 4:  /* DEADLINE_EXCEEDED: "request timed out", maybe applied */
		*retry = !mutation;
		return -ETIMEDOUT;
	case 14: /* UNAVAILABLE */
		*retry = !mutation || strstr(message, "no leader");
		return mutation && !*retry ? -ETIMEDOUT : -EAGAIN;
	default:
		return -EIO;
	}
}

/* The gateway's error body: {"error","message","code"}. */
static int error_body(struct etcd *e, const struct etcd_body *b, long http, bool mutation,
		      bool *retry)
{
	json_object *o = b->buf ? json_tokener_parse(b->buf) : NULL, *f;
	const char *msg = "";
	int code = -1, r;

	if (o && json_object_object_get_ex(o, "message", &f))
		msg = json_object_get_string(f);
	if (o && json_object_object_get_ex(o, "code", &f))
		code = json_object_get_int(f);
	r = grpc_errno(code, msg, mutation, retry);
	set_error(e, "%s: HTTP %ld: %s", e->endpoint[e->current], http, *msg ? msg : "no reason");
	json_object_put(o);
	/* A member that answers HTTP but not as the gateway: try another. */
	if (code < 0)
		*retry = true;
	return r;
}

/*
 * POST @req to @path on the members in turn; the parsed answer in @resp.
 * @mutation: the request changes the store, so once it may have reached
 * a member it is not sent again.
 */
static int etcd_call(struct etcd *e, const char *path, json_object *req, bool mutation,
		     json_object **resp)
{
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int r = -EHOSTUNREACH;
	bool no_leader = false;   /* in this round */

	e->error[0] = 0;
	for (unsigned tried = 0; tried < e->n_endpoints * ETCD_ELECTION_ROUNDS; tried++) {
		struct etcd_body b = { 0 };
		bool retry = true;
		long http = 0, sent = 0;
		CURLcode c;

		curl_common(e, path, body);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)ETCD_REQUEST_MS);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
		c = curl_easy_perform(e->curl);
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &http);
		curl_easy_getinfo(e->curl, CURLINFO_REQUEST_SIZE, &sent);
		if (c == CURLE_OK && http == 200) {
			*resp = json_tokener_parse(b.buf ? b.buf : "");
			free(b.buf);
			if (*resp && json_object_is_type(*resp, json_type_object))
				return 0;
			json_object_put(*resp);
			set_error(e, "%s%s: the answer is not a JSON object",
				  e->endpoint[e->current], path);
			return -EBADMSG;
		}
		if (c == CURLE_OK) {
			r = error_body(e, &b, http, mutation, &retry);
		} else {
			set_error(e, "%s: %s", e->endpoint[e->current], curl_easy_strerror(c));
			/* Sent, then the member went silent: it may have applied it. */
			if (mutation && sent > 0) {
				retry = false;
				r = -ETIMEDOUT;
			} else {
				r = -EHOSTUNREACH;
			}
		}
		free(b.buf);
		if (!retry)
			return r;
		no_leader |= r == -EAGAIN;
		e->current = (e->current + 1) % e->n_endpoints;
		/* A round over every member: another only while one said it has
		 * no leader (an election; the others may not answer at all). */
		if ((tried + 1) % e->n_endpoints == 0) {
			if (!no_leader)
				break;
			no_leader = false;
			nanosleep(&(struct timespec){ .tv_nsec = ETCD_ELECTION_PAUSE_MS * 1000000L },
				  NULL);
		}
	}
	if (r == -EHOSTUNREACH || r == -EAGAIN) {
		char last[sizeof(e->error)];

		memcpy(last, e->error, sizeof(last));
		set_error(e, "no etcd member answered (%u tried); last: %.200s", e->n_endpoints,
			  last);
		r = -EHOSTUNREACH;
	}
	return r;
}

/* --- KV ---------------------------------------------------------------- */

static json_object *range_request(const char *key, enum etcd_match match)
{
	json_object *req = json_object_new_object();

	key_fields(req, key, match);
	return req;
}

static json_object *put_request(const char *key, const void *value, size_t len, int64_t lease)
{
	json_object *req = json_object_new_object();

	key_fields(req, key, ETCD_KEY);
	json_object_object_add(req, "value", b64_new(value, len));
	if (lease)
		json_object_object_add(req, "lease", i64_new(lease));
	return req;
}

int etcd_get(struct etcd *e, const char *key, enum etcd_match match, struct etcd_kvs *out)
{
	json_object *req = range_request(key, match), *resp;
	int r = etcd_call(e, "/v3/kv/range", req, false, &resp);

	json_object_put(req);
	if (r)
		return r;
	r = kvs_parse(resp, out);
	json_object_put(resp);
	return r;
}

/* header.revision of a response. */
static int header_revision(json_object *resp, int64_t *revision)
{
	json_object *header;
	int64_t v = 0;
	int r = 0;

	if (json_object_object_get_ex(resp, "header", &header))
		r = i64_get(header, "revision", &v);
	if (revision)
		*revision = v;
	return r;
}

int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *revision)
{
	json_object *req = put_request(key, value, len, lease), *resp;
	int r = etcd_call(e, "/v3/kv/put", req, true, &resp);

	json_object_put(req);
	if (r)
		return r;
	r = header_revision(resp, revision);
	json_object_put(resp);
	return r;
}

int etcd_delete(struct etcd *e, const char *key, enum etcd_match match, int64_t *deleted)
{
	json_object *req = range_request(key, match), *resp;
	int64_t n;
	int r = etcd_call(e, "/v3/kv/deleterange", req, true, &resp);

	json_object_put(req);
	if (r)
		return r;
	r = i64_get(resp, "deleted", &n);
	if (!r && deleted)
		*deleted = n;
	json_object_put(resp);
	return r;
}

/* --- Txn --------------------------------------------------------------- */

static json_object *compare_new(const struct etcd_cmp *c)
{
	static const char *const target[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
	static const char *const result[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };
	/* The oneof target_union's field for each target. */
	static const char *const field[] = { "version", "create_revision", "mod_revision",
					     "value", "lease" };
	json_object *o = json_object_new_object();

	key_fields(o, c->key, ETCD_KEY);
	json_object_object_add(o, "target", json_object_new_string(target[c->target]));
	json_object_object_add(o, "result", json_object_new_string(result[c->result]));
	json_object_object_add(o, field[c->target], c->target == ETCD_CMP_VALUE ?
				   b64_new(c->value, c->value_len) : i64_new(c->number));
	return o;
}

static json_object *op_new(const struct etcd_op *op)
{
	json_object *o = json_object_new_object();

	switch (op->type) {
	case ETCD_OP_GET:
		json_object_object_add(o, "request_range", range_request(op->key, op->match));
		break;
	case ETCD_OP_PUT:
		json_object_object_add(o, "request_put",
				       put_request(op->key, op->value, op->value_len, op->lease));
		break;
	case ETCD_OP_DELETE:
		json_object_object_add(o, "request_delete_range",
				       range_request(op->key, op->match));
		break;
	}
	return o;
}

static json_object *ops_new(const struct etcd_op *ops, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, op_new(&ops[i]));
	return a;
}

/* What each GET of the branch taken read, into t->kvs. */
static int txn_responses(json_object *resp, struct etcd_txn *t)
{
	size_t n = t->succeeded ? t->n_then : t->n_otherwise;
	const struct etcd_op *ops = t->succeeded ? t->then : t->otherwise;
	json_object *responses, *range;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		memset(&t->kvs[i], 0, sizeof(t->kvs[i]));
	if (!json_object_object_get_ex(resp, "responses", &responses))
		responses = NULL;
	if (responses && (!json_object_is_type(responses, json_type_array) ||
			  json_object_array_length(responses) != n))
		return -EBADMSG;
	for (size_t i = 0; i < n && responses && !r; i++) {
		if (ops[i].type != ETCD_OP_GET)
			continue;
		if (!json_object_object_get_ex(json_object_array_get_idx(responses, i),
					       "response_range", &range))
			return -EBADMSG;
		r = kvs_parse(range, &t->kvs[i]);
	}
	if (r)
		for (size_t i = 0; i < n; i++)
			etcd_kvs_free(&t->kvs[i]);
	return r;
}

int etcd_txn(struct etcd *e, struct etcd_txn *t)
{
	json_object *req = json_object_new_object(), *cmp = json_object_new_array(), *resp;
	bool mutation = false;
	int r;

	for (size_t i = 0; i < t->n_cmp; i++)
		json_object_array_add(cmp, compare_new(&t->cmp[i]));
	json_object_object_add(req, "compare", cmp);
	json_object_object_add(req, "success", ops_new(t->then, t->n_then));
	json_object_object_add(req, "failure", ops_new(t->otherwise, t->n_otherwise));
	for (size_t i = 0; i < t->n_then; i++)
		mutation |= t->then[i].type != ETCD_OP_GET;
	for (size_t i = 0; i < t->n_otherwise; i++)
		mutation |= t->otherwise[i].type != ETCD_OP_GET;
	r = etcd_call(e, "/v3/kv/txn", req, mutation, &resp);
	json_object_put(req);
	if (r)
		return r;
	t->succeeded = bool_get(resp, "succeeded");
	r = header_revision(resp, &t->revision);
	if (!r && t->kvs)
		r = txn_responses(resp, t);
	json_object_put(resp);
	return r;
}

/* --- Lease ------------------------------------------------------------- */

/* A lease call whose request is {"ID": id} (and "TTL"), answer in @resp. */
static int lease_call(struct etcd *e, const char *path, int64_t id, int64_t ttl_s,
		      bool mutation, json_object **resp)
{
	json_object *req = json_object_new_object();
	int r;

	json_object_object_add(req, "ID", i64_new(id));
	if (ttl_s)
		json_object_object_add(req, "TTL", i64_new(ttl_s));
	r = etcd_call(e, path, req, mutation, resp);
	json_object_put(req);
	return r;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id)
{
	json_object *resp;
	int r = lease_call(e, "/v3/lease/grant", 0, ttl_s, true, &resp);

	if (r)
		return r;
	r = i64_get(resp, "ID", id);
	if (!r && *id == 0)
		r = -EBADMSG;
	json_object_put(resp);
	return r;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s)
{
	json_object *resp, *result;
	int r = lease_call(e, "/v3/lease/keepalive", id, 0, false, &resp);

	if (r)
		return r;
	/* A stream of LeaseKeepAliveResponse, one here: {"result": {...}};
	 * TTL 0 (absent) means the lease is gone (rpc.proto). */
	if (!json_object_object_get_ex(resp, "result", &result))
		r = -EBADMSG;
	else
		r = i64_get(result, "TTL", ttl_s);
	if (!r && *ttl_s <= 0) {
		set_error(e, "lease %llx has expired", (unsigned long long)id);
		r = -ENOENT;
	}
	json_object_put(resp);
	return r;
}

int etcd_lease_revoke(struct etcd *e, int64_t id)
{
	json_object *resp;
	int r = lease_call(e, "/v3/lease/revoke", id, 0, true, &resp);

	if (!r)
		json_object_put(resp);
	return r;
}

/* --- Watch ------------------------------------------------------------- */

/* A WatchResponse's events, parsed, handed to the callback: its value. */
static int watch_events(struct etcd_watch *w, json_object *events)
{
	size_t n = json_object_array_length(events), parsed = 0;
	struct etcd_event *ev = calloc(n, sizeof(*ev));
	int r = 0;

	if (!ev)
		return -ENOMEM;
	for (; parsed < n && !r; parsed++) {
		json_object *o = json_object_array_get_idx(events, parsed), *type, *kv;

		/* Event.EventType: PUT is 0, left out of the JSON. */
		ev[parsed].type = json_object_object_get_ex(o, "type", &type) &&
			!strcmp(json_object_get_string(type), "DELETE") ?
			ETCD_EVENT_DELETE : ETCD_EVENT_PUT;
		r = json_object_object_get_ex(o, "kv", &kv) ? kv_parse(kv, &ev[parsed].kv) :
			-EBADMSG;
	}
	/* In order and new: a member that sends history again, or out of
	 * order, would make the caller apply a change twice or backwards. */
	for (size_t i = 0; i < n && !r; i++)
		if (ev[i].kv.mod_revision < (i ? ev[i - 1].kv.mod_revision : w->next_revision))
			r = -EBADMSG;
	if (!r) {
		w->next_revision = ev[n - 1].kv.mod_revision + 1;
		r = w->fn(w->arg, ev, n);
	}
	for (size_t i = 0; i < parsed; i++)
		kv_free(&ev[i].kv);
	free(ev);
	return r;
}

/*
 * One WatchResponse: follow next_revision, hand its events over.  0 to go
 * on, 1 when the member ended the watch (resume elsewhere), -1 when the
 * watch is over, its verdict (a negative errno or the callback's value)
 * in w->verdict.
 */
static int watch_message(struct etcd *e, struct etcd_watch *w, json_object *msg)
{
	json_object *res, *events, *header, *why;
	int64_t compacted = 0, revision = 0;

	if (!json_object_object_get_ex(msg, "result", &res)) {
		/* The gateway's stream error: {"error": {"message": ...}}. */
		set_error(e, "%s: watch: %s", e->endpoint[e->current],
			  json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
		return 1;
	}
	if (i64_get(res, "compact_revision", &compacted) ||
	    (json_object_object_get_ex(res, "header", &header) &&
	     i64_get(header, "revision", &revision))) {
		w->verdict = -EBADMSG;
	} else if (compacted > 0) {
		set_error(e, "watch from revision %lld: compacted up to %lld",
			  (long long)w->next_revision, (long long)compacted);
		w->verdict = -ERANGE;
		return -1;
	} else if (bool_get(res, "canceled")) {
		set_error(e, "%s: watch canceled: %s", e->endpoint[e->current],
			  json_object_object_get_ex(res, "cancel_reason", &why) ?
			  json_object_get_string(why) : "no reason");
		return 1;
	} else if (json_object_object_get_ex(res, "events", &events)) {
		if (!json_object_is_type(events, json_type_array))
			w->verdict = -EBADMSG;
		else if (json_object_array_length(events))
			w->verdict = watch_events(w, events);
	} else if (bool_get(res, "created") && w->next_revision == 0) {
		/* Created "from now": what follows is newer than the header. */
		w->next_revision = revision + 1;
	}
	if (w->verdict == -EBADMSG)
		set_error(e, "%s: watch: a malformed message", e->endpoint[e->current]);
	return w->verdict ? -1 : 0;
}

int etcd_watch_feed(struct etcd *e, struct etcd_watch *w, const char *p, size_t n)
{
	struct etcd_body b = { w->buf, w->len, w->cap };
	size_t start = 0;

	if (!n) {
		free(w->buf);
		w->buf = NULL;
		w->len = w->cap = 0;
		return 0;
	}
	if (body_write((char *)p, 1, n, &b) != n) {
		set_error(e, "%s: watch: a message over %u bytes, or no memory",
			  e->endpoint[e->current], ETCD_RESPONSE_MAX);
		w->verdict = -EMSGSIZE;
		return -1;
	}
	w->buf = b.buf;
	w->len = b.len;
	w->cap = b.cap;
	/* One JSON message per line: grpc-gateway's framing of a stream. */
	for (char *nl; (nl = memchr(w->buf + start, '\n', w->len - start)); start = nl + 1 - w->buf) {
		json_object *msg;
		int r;

		*nl = 0;
		msg = json_tokener_parse(w->buf + start);
		if (!msg || !json_object_is_type(msg, json_type_object)) {
			json_object_put(msg);
			set_error(e, "%s: watch: not a JSON object", e->endpoint[e->current]);
			w->verdict = -EBADMSG;
			return -1;
		}
		w->answered = true;
		r = watch_message(e, w, msg);
		json_object_put(msg);
		if (r)
			return r;
	}
	memmove(w->buf, w->buf + start, w->len - start);
	w->len -= start;
	return 0;
}

struct watch_ctx {
	struct etcd *e;
	struct etcd_watch *w;
};

static size_t watch_write(char *p, size_t size, size_t nmemb, void *opaque)
{
	struct watch_ctx *c = opaque;
	int r = etcd_watch_feed(c->e, c->w, p, size * nmemb);

	c->w->canceled = r > 0;
	return r ? 0 : size * nmemb;
}

static int watch_progress(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct watch_ctx *c = opaque;

	(void)dt, (void)dn, (void)ut, (void)un;
	return atomic_load(&c->w->stop);
}

/* One stream on the current member; true if the member served it at all. */
static bool watch_stream(struct etcd *e, struct etcd_watch *w)
{
	json_object *req = json_object_new_object(), *create = range_request(w->key, w->match);
	struct watch_ctx c = { .e = e, .w = w };
	CURLcode rc;

	if (w->next_revision)
		json_object_object_add(create, "start_revision", i64_new(w->next_revision));
	json_object_object_add(req, "create_request", create);
	w->answered = w->canceled = false;
	curl_common(e, "/v3/watch", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &c);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, &c);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPIDLE, (long)ETCD_KEEPIDLE_S);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPINTVL, (long)ETCD_KEEPINTVL_S);
	rc = curl_easy_perform(e->curl);
	json_object_put(req);
	etcd_watch_feed(e, w, NULL, 0);   /* a partial message goes with its stream */
	if (rc != CURLE_OK && !w->verdict && !w->canceled && !atomic_load(&w->stop))
		set_error(e, "%s: watch: %s", e->endpoint[e->current], curl_easy_strerror(rc));
	else if (rc == CURLE_OK && !w->canceled)
		set_error(e, "%s: watch: the member ended the stream", e->endpoint[e->current]);
	return w->answered;
}

int etcd_watch_run(struct etcd *e, struct etcd_watch *w)
{
	unsigned failed = 0;
	bool first = true;

	w->verdict = 0;
	while (!atomic_load(&w->stop)) {
		if (!first) {
			w->resumes++;
			cv_info("etcd: watch %s: %s; resuming from revision %lld", w->key,
				e->error, (long long)w->next_revision);
		}
		first = false;
		failed = watch_stream(e, w) ? 0 : failed + 1;
		if (w->verdict)
			break;
		e->current = (e->current + 1) % e->n_endpoints;
		/* A whole round of members that did not answer: pause. */
		for (unsigned ms = 0; failed >= e->n_endpoints && ms < ETCD_WATCH_RETRY_MS &&
		     !atomic_load(&w->stop); ms += 100)
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
		if (failed >= e->n_endpoints)
			failed = 0;
	}
	return w->verdict;
}

void etcd_watch_stop(struct etcd_watch *w)
{
	atomic_store(&w->stop, true);
}
