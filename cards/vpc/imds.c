/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/vpc/imds.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tools/lib/log.h"

#define IMDS_BODY_MAX 1024
#define IMDS_TOKEN_MAC 16         /* HMAC-SHA256 truncated to 128 bits */
#define IMDS_TOKEN_LEN (2 * (8 + IMDS_TOKEN_MAC))
#define MACS_PATH "/latest/meta-data/network/interfaces/macs"

/* What imds_http_parse() takes from a request (RFC 9112 §3, §5). */
struct http_req {
	enum { HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_OTHER } method;
	char path[256];
	bool host;
	bool forwarded;                  /* X-Forwarded-For: via a proxy */
	const char *token;               /* X-aws-ec2-metadata-token */
	size_t token_len;
	const char *ttl;                 /* ...-token-ttl-seconds */
	size_t ttl_len;
};

/* An output buffer that remembers overflow instead of writing past @cap. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	size_t room = b->len < b->cap ? b->cap - b->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	b->len += n > 0 ? (size_t)n : 0;
}

static uint64_t imds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static void imds_token_mac(const struct imds *imds, const uint8_t expiry[8],
			   uint8_t mac[EVP_MAX_MD_SIZE])
{
	unsigned len = 0;

	HMAC(EVP_sha256(), imds->token_key, sizeof(imds->token_key), expiry, 8,
	     mac, &len);
}

static void hex(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* token = hex(expiry, big-endian seconds) hex(HMAC(key, expiry)[0..16]) */
static void imds_token_new(const struct imds *imds, unsigned ttl,
			   char out[IMDS_TOKEN_LEN + 1])
{
	uint8_t expiry[8], mac[EVP_MAX_MD_SIZE];
	uint64_t t = imds_now() + ttl;

	for (int i = 7; i >= 0; i--, t >>= 8)
		expiry[i] = (uint8_t)t;
	imds_token_mac(imds, expiry, mac);
	hex(out, expiry, 8);
	hex(out + 16, mac, IMDS_TOKEN_MAC);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;   /* tokens are lower case, as imds_token_new() writes */
}

static bool imds_token_valid(const struct imds *imds, const char *tok,
			     size_t len)
{
	uint8_t raw[8 + IMDS_TOKEN_MAC], mac[EVP_MAX_MD_SIZE];
	uint64_t expiry = 0;

	if (len != IMDS_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < sizeof(raw); i++) {
		int hi = hex_digit(tok[2 * i]), lo = hex_digit(tok[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	imds_token_mac(imds, raw, mac);
	if (CRYPTO_memcmp(mac, raw + 8, IMDS_TOKEN_MAC))
		return false;
	for (int i = 0; i < 8; i++)
		expiry = expiry << 8 | raw[i];
	return expiry > imds_now();
}

/*
 * The request line and the header fields we act on, in @req[0..len) that
 * ends with the empty line.  -EINVAL for anything RFC 9112 calls invalid;
 * -EPROTONOSUPPORT for an HTTP version other than 1.0 and 1.1.
 */
static int imds_http_parse(const char *req, size_t len, struct http_req *h)
{
	const char *end = req + len, *line = req, *eol, *sp1, *sp2, *q;
	size_t plen;

	memset(h, 0, sizeof(*h));
	eol = memmem(line, (size_t)(end - line), "\r\n", 2);
	sp1 = memchr(line, ' ', (size_t)(eol - line));
	if (!sp1)
		return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp1[1] != '/')
		return -EINVAL;
	if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7))
		return memcmp(sp2 + 1, "HTTP/", 5) ? -EINVAL : -EPROTONOSUPPORT;
	if (sp2[8] != '0' && sp2[8] != '1')
		return -EPROTONOSUPPORT;
	/* HTTP/1.1 requires Host (RFC 9112 §3.2); 1.0 predates it. */
	h->host = sp2[8] == '0';

	if (sp1 - line == 3 && !memcmp(line, "GET", 3))
		h->method = HTTP_GET;
	else if (sp1 - line == 4 && !memcmp(line, "HEAD", 4))
		h->method = HTTP_HEAD;
	else if (sp1 - line == 3 && !memcmp(line, "PUT", 3))
		h->method = HTTP_PUT;
	else
		h->method = HTTP_OTHER;
	/* The query, if any, selects nothing here. */
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	plen = (size_t)((q ? q : sp2) - sp1 - 1);
	if (plen >= sizeof(h->path))
		plen = sizeof(h->path) - 1;   /* no path is that long: 404 */
	memcpy(h->path, sp1 + 1, plen);
	h->path[plen] = 0;
	if (strlen(h->path) != plen)
		return -EINVAL;               /* a NUL inside the target */

	for (line = eol + 2; line < end; line = eol + 2) {
		const char *colon, *v, *vend;

		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (eol == line)
			break;                /* the empty line */
		colon = memchr(line, ':', (size_t)(eol - line));
		/* RFC 9112 §5.1: no whitespace between name and colon. */
		if (!colon || colon == line || colon[-1] == ' ' ||
		    colon[-1] == '\t')
			return -EINVAL;
		/* The value without its optional whitespace (§5.1). */
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (vend = eol; vend > v && (vend[-1] == ' ' ||
					      vend[-1] == '\t'); vend--)
			;
#define IS(name) ((size_t)(colon - line) == sizeof(name) - 1 && \
		  !strncasecmp(line, name, sizeof(name) - 1))
		if (IS("Host")) {
			h->host = true;
		} else if (IS("X-Forwarded-For")) {
			h->forwarded = true;
		} else if (IS("X-aws-ec2-metadata-token")) {
			h->token = v;
			h->token_len = (size_t)(vend - v);
		} else if (IS("X-aws-ec2-metadata-token-ttl-seconds")) {
			h->ttl = v;
			h->ttl_len = (size_t)(vend - v);
		}
#undef IS
	}
	return 0;
}

static void fmt_ip(char out[16], uint32_t be)
{
	uint32_t a = ntohl(be);

	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 0xff, a >> 8 & 0xff,
		 a & 0xff);
}

static void fmt_fqdn(struct buf *b, const struct eni *eni)
{
	put(b, "%s%s%s", eni->hostname, eni->domain[0] ? "." : "", eni->domain);
}

static void fmt_time(char out[32], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The items of one network/interfaces/macs/<mac>/ entry. */
static bool imds_mac_item(const struct eni *eni, const char *item,
			  struct buf *b)
{
	char ip[16], net[16];

	fmt_ip(ip, eni->ipv4);
	fmt_ip(net, eni->subnet);
	if (!*item)
		put(b, "device-number\ninterface-id\nlocal-hostname\n"
		       "local-ipv4s\nmac\nsubnet-ipv4-cidr-block");
	else if (!strcmp(item, "device-number"))
		put(b, "0");
	else if (!strcmp(item, "interface-id"))
		put(b, "%s", eni->id);
	else if (!strcmp(item, "local-hostname"))
		fmt_fqdn(b, eni);
	else if (!strcmp(item, "local-ipv4s"))
		put(b, "%s", ip);
	else if (!strcmp(item, "mac"))
		put(b, "%02x:%02x:%02x:%02x:%02x:%02x", eni->mac[0],
		    eni->mac[1], eni->mac[2], eni->mac[3], eni->mac[4],
		    eni->mac[5]);
	else if (!strcmp(item, "subnet-ipv4-cidr-block"))
		put(b, "%s/%u", net, eni->prefix_len);
	else
		return false;
	return true;
}

/*
 * EC2's metadata tree (trailing slashes stripped from @path): the body of
 * @path in @b, false if there is no such item.  spot/ exists only while an
 * interruption is scheduled, as on EC2.
 */
static bool imds_lookup(const struct eni *eni, char *path, struct buf *b)
{
	char mac[18], ip[16], when[32];
	enum eni_spot_action spot;
	size_t n = strlen(path);
	time_t t;

	while (n > 1 && path[n - 1] == '/')
		path[--n] = 0;
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", eni->mac[0],
		 eni->mac[1], eni->mac[2], eni->mac[3], eni->mac[4],
		 eni->mac[5]);
	fmt_ip(ip, eni->ipv4);
	spot = eni_spot_get(eni, &t);
	fmt_time(when, t);

	if (!strcmp(path, "/"))
		put(b, "latest");
	else if (!strcmp(path, "/latest"))
		put(b, "meta-data");
	else if (!strcmp(path, "/latest/meta-data"))
		put(b, "hostname\ninstance-action\ninstance-id\ninstance-type\n"
		       "local-hostname\nlocal-ipv4\nmac\nnetwork/%s",
		    spot ? "\nspot/" : "");
	else if (!strcmp(path, "/latest/meta-data/hostname") ||
		 !strcmp(path, "/latest/meta-data/local-hostname"))
		fmt_fqdn(b, eni);
	else if (!strcmp(path, "/latest/meta-data/instance-action"))
		put(b, "none");   /* scheduled maintenance: none planned */
	else if (!strcmp(path, "/latest/meta-data/instance-id"))
		put(b, "%s", eni->instance_id);
	else if (!strcmp(path, "/latest/meta-data/instance-type"))
		put(b, "%s", eni->instance_type);
	else if (!strcmp(path, "/latest/meta-data/local-ipv4"))
		put(b, "%s", ip);
	else if (!strcmp(path, "/latest/meta-data/mac"))
		put(b, "%s", mac);
	else if (!strcmp(path, "/latest/meta-data/network"))
		put(b, "interfaces/");
	else if (!strcmp(path, "/latest/meta-data/network/interfaces"))
		put(b, "macs/");
	else if (!strcmp(path, MACS_PATH))
		put(b, "%s/", mac);
	else if (!strncmp(path, MACS_PATH "/", sizeof(MACS_PATH)) &&
		 !strncmp(path + sizeof(MACS_PATH), mac, 17) &&
		 (path[sizeof(MACS_PATH) + 17] == 0 ||
		  path[sizeof(MACS_PATH) + 17] == '/'))
		return imds_mac_item(eni, path + sizeof(MACS_PATH) + 17 +
					     !!path[sizeof(MACS_PATH) + 17], b);
	else if (spot && !strcmp(path, "/latest/meta-data/spot"))
		put(b, "instance-action%s",
		    spot == ENI_SPOT_TERMINATE ? "\ntermination-time" : "");
	else if (spot &&
		 !strcmp(path, "/latest/meta-data/spot/instance-action"))
		put(b, "{\"action\": \"%s\", \"time\": \"%s\"}",
		    spot == ENI_SPOT_TERMINATE ? "terminate" :
		    spot == ENI_SPOT_STOP      ? "stop" : "hibernate", when);
	else if (spot == ENI_SPOT_TERMINATE &&
		 !strcmp(path, "/latest/meta-data/spot/termination-time"))
		put(b, "%s", when);
	else
		return false;
	return true;
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	default:  return "HTTP Version Not Supported";
	}
}

/*
 * The whole response: status line, fields (RFC 9110 §6.6.1 Date, as an
 * origin server with a clock must), body unless HEAD.  Every response
 * closes the connection: one request per connection is all tcp_lite does.
 */
static size_t imds_respond(char *resp, size_t cap, int status,
			   const char *fields, const char *body, size_t len,
			   bool head)
{
	struct buf out = { resp, 0, cap };
	char date[40];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	put(&out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		  "Content-Length: %zu\r\nDate: %s\r\nServer: EC2ws\r\n%s"
		  "Connection: close\r\n\r\n",
	    status, http_reason(status), len, date, fields);
	if (!head)
		put(&out, "%.*s", (int)len, body);
	/* Never cut in practice: bodies are under 1 KiB, headers under 300. */
	return out.len < cap ? out.len : cap - 1;
}

/* PUT /latest/api/token: a session token for ttl seconds (IMDSv2). */
static int imds_token_put(const struct imds *imds, const struct http_req *h,
			  char *token, char *fields, size_t fcap)
{
	char ttl_s[8] = "";
	char *end;
	long ttl;

	if (h->forwarded)
		return 403;   /* EC2: tokens are never issued through a proxy */
	if (!h->ttl || h->ttl_len == 0 || h->ttl_len >= sizeof(ttl_s))
		return 400;
	memcpy(ttl_s, h->ttl, h->ttl_len);
	ttl = strtol(ttl_s, &end, 10);
	if (*end || ttl < 1 || ttl > IMDS_TOKEN_TTL_MAX)
		return 400;
	imds_token_new(imds, (unsigned)ttl, token);
	snprintf(fields, fcap, "X-aws-ec2-metadata-token-ttl-seconds: %ld\r\n",
		 ttl);
	return 200;
}

static size_t imds_serve(void *ctx, const struct eni *eni, const char *req,
			 size_t len, enum tcp_lite_eof eof, char *resp,
			 size_t cap)
{
	const struct imds *imds = ctx;
	char body_buf[IMDS_BODY_MAX], fields[80] = "";
	char token[IMDS_TOKEN_LEN + 1];
	struct buf body = { body_buf, 0, sizeof(body_buf) };
	const char *hdr_end = memmem(req, len, "\r\n\r\n", 4);
	struct http_req h;
	int status = 200, r;

	if (!hdr_end) {
		if (eof == TCP_LITE_MORE || len == 0)
			return 0;
		cv_err_once("vpc %s: metadata request %s", eni->id,
			    eof == TCP_LITE_FULL ? "too large" : "truncated");
		return imds_respond(resp, cap, eof == TCP_LITE_FULL ? 431 : 400,
				    "", "", 0, false);
	}
	r = imds_http_parse(req, (size_t)(hdr_end + 4 - req), &h);
	if (r || !h.host) {
		cv_err_once("vpc %s: bad metadata HTTP request", eni->id);
		return imds_respond(resp, cap,
				    r == -EPROTONOSUPPORT ? 505 : 400, "", "",
				    0, false);
	}

	if (!strcmp(h.path, "/latest/api/token")) {
		if (h.method == HTTP_PUT)
			status = imds_token_put(imds, &h, token, fields,
						sizeof(fields));
		else
			status = 405;
		if (status == 200)
			put(&body, "%s", token);
		else if (status == 405)
			snprintf(fields, sizeof(fields), "Allow: PUT\r\n");
	} else if (h.method != HTTP_GET && h.method != HTTP_HEAD) {
		status = 405;
		snprintf(fields, sizeof(fields), "Allow: GET, HEAD\r\n");
	} else if (h.token ? !imds_token_valid(imds, h.token, h.token_len)
			   : imds->tokens_required) {
		status = 401;
	} else if (!imds_lookup(eni, h.path, &body)) {
		status = 404;
	}
	if (status != 200)
		body.len = 0;
	else if (body.len >= body.cap)
		body.len = body.cap - 1;      /* never: bodies are short */
	return imds_respond(resp, cap, status, fields, body.p, body.len,
			    h.method == HTTP_HEAD);
}

int imds_init(struct imds *imds)
{
	int r = tcp_lite_init(&imds->tcp, htonl(IMDS_IPV4), htons(IMDS_PORT),
			      imds_serve, imds);

	if (r)
		return r;
	if (getrandom(imds->token_key, sizeof(imds->token_key), 0) !=
	    sizeof(imds->token_key))
		return -errno;
	imds->tokens_required = false;
	/* glibc's first gmtime_r() reads /etc/localtime: now, not under the card's filter. */
	tzset();
	return 0;
}

int imds_answer(struct imds *imds, const struct eni *eni, const uint8_t *frame,
		size_t len, uint8_t *reply, size_t cap)
{
	struct pkt_ipv4 p;
	int r = pkt_ipv4_parse(frame, len, &p);

	if (r)
		return r < 0 ? r : 0;
	if (p.ip->daddr != htonl(IMDS_IPV4) || p.ip->proto != IPPROTO_TCP_)
		return 0;
	if (p.ip->saddr != eni->ipv4) {
		cv_err_once("vpc %s: metadata request from an address not the "
			    "ENI's", eni->id);
		return -EPERM;
	}
	return tcp_lite_input(&imds->tcp, eni, &p, reply, cap);
}

int imds_next(struct imds *imds, const struct eni *eni, uint8_t *reply,
	      size_t cap)
{
	return tcp_lite_next(&imds->tcp, eni, reply, cap);
}
