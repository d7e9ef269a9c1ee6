/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The instance metadata service end to end at the frame level: a guest
 * TCP client written here (segments laid out as RFC 9293 §3.1, checksums
 * checked with RFC 1071) connects to 169.254.169.254:80, sends HTTP
 * requests and closes; every reply frame is checked for its addresses,
 * checksums and sequence numbers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cards/vpc/imds.h"
#include "tests/unit/vpc_test_eni.h"

#define MAX_REPLIES 64

static struct eni eni;
static struct imds *imds;
static const uint8_t router_mac[6] = { ROUTER_MAC };
static const uint8_t guest_mac[6] = { GUEST_MAC };

/* One reply segment, parsed. */
struct seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window, mss;
	uint16_t dport;
	size_t len;
	uint8_t data[9000];
};

static struct seg rep[MAX_REPLIES];
static int nrep;

/* The guest's side of one connection. */
struct client {
	uint16_t port;
	uint32_t snd_nxt;       /* next sequence number we send */
	uint32_t rcv_nxt;       /* next we expect from the service */
	uint16_t window;
	char resp[16384];
	size_t resp_len;
	bool fin;
};

static void parse_reply(const uint8_t *f, size_t len, struct seg *s)
{
	const uint8_t *th = f + 34;
	uint32_t v;
	size_t l4 = check_ipv4_reply(f, len, 6), hlen;

	assert_memory_equal(f, guest_mac, 6);
	assert_memory_equal(f + 6, router_mac, 6);
	memcpy(&v, f + 26, 4);
	assert_int_equal(v, IP4(169, 254, 169, 254));
	memcpy(&v, f + 30, 4);
	assert_int_equal(v, eni.ipv4);
	assert_int_equal(th[0] << 8 | th[1], 80);
	s->dport = (uint16_t)(th[2] << 8 | th[3]);
	s->seq = (uint32_t)th[4] << 24 | th[5] << 16 | th[6] << 8 | th[7];
	s->ack = (uint32_t)th[8] << 24 | th[9] << 16 | th[10] << 8 | th[11];
	hlen = (size_t)(th[12] >> 4) * 4;
	assert_true(hlen >= 20 && hlen <= l4);
	s->flags = th[13];
	s->window = (uint16_t)(th[14] << 8 | th[15]);
	s->mss = 0;
	if (hlen == 24 && th[20] == 2 && th[21] == 4)
		s->mss = (uint16_t)(th[22] << 8 | th[23]);
	s->len = l4 - hlen;
	memcpy(s->data, th + hlen, s->len);
}

/*
 * Sends one segment from the guest (source @saddr), collecting every reply
 * frame in rep[]; returns imds_answer()'s result.
 */
static int send_from(uint32_t saddr, uint16_t sport, uint16_t dport,
		     uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		     uint16_t mss, const void *data, size_t len)
{
	static uint8_t tcp[4096], frame[4200], out[10000];
	size_t hlen = mss ? 24 : 20, n;
	uint16_t csum;
	int r, first;

	assert_true(hlen + len <= sizeof(tcp));
	memset(tcp, 0, hlen);
	tcp[0] = (uint8_t)(sport >> 8), tcp[1] = (uint8_t)sport;
	tcp[2] = (uint8_t)(dport >> 8), tcp[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		tcp[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		tcp[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	tcp[12] = (uint8_t)(hlen / 4 << 4);
	tcp[13] = flags;
	tcp[14] = (uint8_t)(win >> 8), tcp[15] = (uint8_t)win;
	if (mss) {
		tcp[20] = 2, tcp[21] = 4;
		tcp[22] = (uint8_t)(mss >> 8), tcp[23] = (uint8_t)mss;
	}
	if (len)
		memcpy(tcp + hlen, data, len);
	csum = pkt_csum_fold(pkt_csum_add(
		pkt_csum_pseudo(saddr, IP4(169, 254, 169, 254), 6,
				(uint16_t)(hlen + len)),
		tcp, hlen + len));
	memcpy(tcp + 16, &csum, 2);
	n = guest_ipv4_frame(frame, router_mac, saddr, IP4(169, 254, 169, 254),
			     6, tcp, hlen + len);

	nrep = 0;
	first = r = imds_answer(imds, &eni, frame, n, out, sizeof(out));
	while (r > 0) {
		assert_true(nrep < MAX_REPLIES);
		parse_reply(out, (size_t)r, &rep[nrep++]);
		r = imds_next(imds, &eni, out, sizeof(out));
	}
	assert_true(r == 0 || first < 0);
	return first;
}

static int send_seg(struct client *c, uint8_t flags, const void *data,
		    size_t len)
{
	return send_from(eni.ipv4, c->port, 80, c->snd_nxt, c->rcv_nxt, flags,
			 c->window, 0, data, len);
}

/* Takes in-order reply data and FIN into the client's stream. */
static void receive(struct client *c)
{
	for (int i = 0; i < nrep; i++) {
		assert_int_equal(rep[i].dport, c->port);
		assert_true(rep[i].flags & 0x10);               /* ACK */
		if (rep[i].seq != c->rcv_nxt)
			continue;                           /* resent */
		assert_true(c->resp_len + rep[i].len <= sizeof(c->resp));
		memcpy(c->resp + c->resp_len, rep[i].data, rep[i].len);
		c->resp_len += rep[i].len;
		c->rcv_nxt += (uint32_t)rep[i].len;
		if (rep[i].flags & 0x01) {
			c->fin = true;
			c->rcv_nxt++;
		}
	}
}

/* SYN (with @mss) -> SYN-ACK -> ACK. */
static void connect_client(struct client *c, uint16_t port, uint16_t mss)
{
	memset(c, 0, sizeof(*c));
	c->port = port;
	c->snd_nxt = 0x10000000u * (port & 0xf) + 12345;
	c->window = 65535;
	assert_int_equal(send_from(eni.ipv4, port, 80, c->snd_nxt, 0, 0x02,
				   c->window, mss, NULL, 0) > 0, 1);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].flags, 0x12);                   /* SYN|ACK */
	assert_int_equal(rep[0].ack, c->snd_nxt + 1);
	assert_int_equal(rep[0].mss, 9001 - 40);
	c->snd_nxt++;
	c->rcv_nxt = rep[0].seq + 1;
	assert_int_equal(send_seg(c, 0x10, NULL, 0), 0);
	assert_int_equal(nrep, 0);
}

/* Sends @req, takes the whole response, ACKs it, closes: the response. */
static const char *http_on(struct client *c, const char *req)
{
	assert_true(send_seg(c, 0x18, req, strlen(req)) > 0);
	c->snd_nxt += (uint32_t)strlen(req);
	assert_true(nrep >= 1);
	assert_int_equal(rep[0].ack, c->snd_nxt);
	receive(c);
	assert_true(c->fin);
	/* Our ACK of everything, then our FIN, answered by the last ACK. */
	assert_int_equal(send_seg(c, 0x10, NULL, 0), 0);
	assert_int_equal(nrep, 0);
	assert_true(send_seg(c, 0x11, NULL, 0) > 0);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].flags, 0x10);
	assert_int_equal(rep[0].ack, c->snd_nxt + 1);
	c->snd_nxt++;
	c->resp[c->resp_len] = 0;
	return c->resp;
}

static struct client cl;

static const char *http(const char *req)
{
	static uint16_t port = 40000;

	connect_client(&cl, port++, 1460);
	return http_on(&cl, req);
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

static void assert_status(const char *resp, int status)
{
	char want[16];

	snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
	assert_true(strncmp(resp, want, strlen(want)) == 0);
}

static void assert_get(const char *path, const char *body)
{
	char req[256];
	const char *resp;

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n"
		 "User-Agent: test\r\n\r\n", path);
	resp = http(req);
	assert_status(resp, 200);
	assert_string_equal(body_of(resp), body);
}

static int setup(void **state)
{
	(void)state;
	test_eni(&eni);
	imds = calloc(1, sizeof(*imds));
	assert_non_null(imds);
	return imds_init(imds);
}

static int teardown(void **state)
{
	(void)state;
	free(imds);
	return 0;
}

static void test_handshake_get_fin(void **state)
{
	const char *resp;

	(void)state;
	resp = http("GET /latest/meta-data/instance-id HTTP/1.1\r\n"
		    "Host: 169.254.169.254\r\n\r\n");
	assert_status(resp, 200);
	assert_non_null(strstr(resp, "\r\nContent-Length: 19\r\n"));
	assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
	assert_string_equal(body_of(resp), "i-0123456789abcdef0");
	/* The connection is gone: more on it gets a reset (RFC 9293). */
	assert_true(send_seg(&cl, 0x10, NULL, 0) > 0);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].flags, 0x04);
	assert_int_equal(rep[0].seq, cl.rcv_nxt);
}

static void test_metadata_tree(void **state)
{
	(void)state;
	assert_get("/latest/meta-data/",
		   "hostname\ninstance-action\ninstance-id\ninstance-type\n"
		   "local-hostname\nlocal-ipv4\nmac\nnetwork/");
	assert_get("/latest/meta-data", body_of(http(
		"GET /latest/meta-data/ HTTP/1.0\r\n\r\n")));
	assert_get("/latest/meta-data/instance-type", "cv.small");
	assert_get("/latest/meta-data/local-ipv4", "10.0.1.23");
	assert_get("/latest/meta-data/mac", "0e:12:34:56:78:9a");
	assert_get("/latest/meta-data/hostname", "ip-10-0-1-23.ec2.internal");
	assert_get("/latest/meta-data/network/interfaces/macs/",
		   "0e:12:34:56:78:9a/");
	assert_get("/latest/meta-data/network/interfaces/macs/"
		   "0e:12:34:56:78:9a/subnet-ipv4-cidr-block", "10.0.1.0/24");
	assert_get("/latest/meta-data/network/interfaces/macs/"
		   "0e:12:34:56:78:9a/interface-id", "eni-0a1b2c3d4e5f60718");
	assert_get("/latest/meta-data/network/interfaces/macs/"
		   "0e:12:34:56:78:9a/local-ipv4s?x=1", "10.0.1.23");
	assert_status(http("GET /latest/meta-data/network/interfaces/macs/"
			   "0e:12:34:56:78:9b/mac HTTP/1.0\r\n\r\n"), 404);
	assert_status(http("GET /latest/meta-data/nothing HTTP/1.0\r\n\r\n"),
		      404);
}

static void test_spot_instance_action(void **state)
{
	const char *req = "GET /latest/meta-data/spot/instance-action "
			  "HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
	const char *resp;

	(void)state;
	resp = http(req);
	assert_status(resp, 404);
	assert_string_equal(body_of(resp), "");
	/* 2026-11-23T02:00:00Z */
	eni_spot_set(&eni, ENI_SPOT_TERMINATE, 1795399200);
	assert_get("/latest/meta-data/spot/instance-action",
		   "{\"action\": \"terminate\", "
		   "\"time\": \"2026-11-23T02:00:00Z\"}");
	assert_get("/latest/meta-data/spot/termination-time",
		   "2026-11-23T02:00:00Z");
	assert_non_null(strstr(body_of(http("GET /latest/meta-data/ "
					    "HTTP/1.0\r\n\r\n")),
			       "\nspot/"));
	eni_spot_set(&eni, ENI_SPOT_STOP, 1795399200);
	assert_get("/latest/meta-data/spot/instance-action",
		   "{\"action\": \"stop\", \"time\": \"2026-11-23T02:00:00Z\"}");
	assert_status(http("GET /latest/meta-data/spot/termination-time "
			   "HTTP/1.0\r\n\r\n"), 404);
	eni_spot_set(&eni, ENI_SPOT_NONE, 0);
	assert_status(http(req), 404);
}

static void test_bad_requests(void **state)
{
	char big[TCP_LITE_REQ_MAX];

	(void)state;
	assert_status(http("BLAH\r\n\r\n"), 400);
	assert_status(http("GET nopath HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
	assert_status(http("GET / HTTP/1.1\r\n\r\n"), 400);    /* no Host */
	assert_status(http("GET / HTTP/1.1\r\nHost x\r\n\r\n"), 400);
	assert_status(http("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
	assert_status(http("POST / HTTP/1.0\r\n\r\n"), 405);
	assert_status(http("HEAD / HTTP/1.0\r\n\r\n"), 200);
	assert_string_equal(body_of(cl.resp), "");

	/* Headers that never end in the buffer: 431. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
	connect_client(&cl, 41000, 1460);
	assert_true(send_seg(&cl, 0x18, big, sizeof(big)) > 0);
	cl.snd_nxt += sizeof(big);
	receive(&cl);
	assert_true(cl.fin);
	assert_status(cl.resp, 431);

	/* A partial request and FIN: 400. */
	connect_client(&cl, 41001, 1460);
	assert_true(send_seg(&cl, 0x18, "GET / HT", 8) > 0);
	cl.snd_nxt += 8;
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].len, 0);             /* ACK, no answer yet */
	assert_true(send_seg(&cl, 0x11, NULL, 0) > 0);
	cl.snd_nxt++;
	receive(&cl);
	assert_true(cl.fin);
	assert_status(cl.resp, 400);
}

static void test_request_in_pieces_small_mss(void **state)
{
	const char *a = "GET /latest/meta-data/ HTTP/1.1\r\nHo";
	const char *b = "st: 169.254.169.254\r\n\r\n";
	size_t segs = 0;

	(void)state;
	connect_client(&cl, 42000, 64);
	assert_true(send_seg(&cl, 0x18, a, strlen(a)) > 0);
	cl.snd_nxt += (uint32_t)strlen(a);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].ack, cl.snd_nxt);
	assert_true(send_seg(&cl, 0x18, b, strlen(b)) > 0);
	cl.snd_nxt += (uint32_t)strlen(b);
	for (int i = 0; i < nrep; i++) {
		assert_true(rep[i].len <= 64);
		segs++;
	}
	receive(&cl);
	assert_true(segs > 3);
	assert_true(cl.fin);
	assert_status(cl.resp, 200);
	assert_string_equal(body_of(cl.resp),
			    "hostname\ninstance-action\ninstance-id\n"
			    "instance-type\nlocal-hostname\nlocal-ipv4\nmac\n"
			    "network/");
}

static void test_window_and_loss_recovery(void **state)
{
	const char *req = "GET /latest/meta-data/ HTTP/1.0\r\n\r\n";
	uint32_t start;

	(void)state;
	/* A 100-byte window: the response comes 100 bytes per ACK. */
	connect_client(&cl, 43000, 1460);
	cl.window = 100;
	assert_true(send_seg(&cl, 0x18, req, strlen(req)) > 0);
	cl.snd_nxt += (uint32_t)strlen(req);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].len, 100);
	start = cl.rcv_nxt;
	/* The segment was lost: our duplicate ACK brings it back. */
	assert_true(send_seg(&cl, 0x10, NULL, 0) > 0);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].seq, start);
	assert_int_equal(rep[0].len, 100);
	receive(&cl);
	/* So does the request again (our ACK of it was lost). */
	cl.snd_nxt -= (uint32_t)strlen(req);
	assert_true(send_seg(&cl, 0x18, req, strlen(req)) > 0);
	cl.snd_nxt += (uint32_t)strlen(req);
	assert_int_equal(rep[0].seq, start + 100);
	receive(&cl);
	while (!cl.fin) {
		assert_true(send_seg(&cl, 0x10, NULL, 0) > 0);
		receive(&cl);
	}
	cl.resp[cl.resp_len] = 0;
	assert_status(cl.resp, 200);
	assert_string_equal(body_of(cl.resp),
			    "hostname\ninstance-action\ninstance-id\n"
			    "instance-type\nlocal-hostname\nlocal-ipv4\nmac\n"
			    "network/");
}

static void test_retransmitted_syn(void **state)
{
	uint32_t iss;

	(void)state;
	assert_true(send_from(eni.ipv4, 44000, 80, 777, 0, 0x02, 65535, 1460,
			      NULL, 0) > 0);
	iss = rep[0].seq;
	assert_true(send_from(eni.ipv4, 44000, 80, 777, 0, 0x02, 65535, 1460,
			      NULL, 0) > 0);
	assert_int_equal(nrep, 1);
	assert_int_equal(rep[0].flags, 0x12);
	assert_int_equal(rep[0].seq, iss);
	assert_int_equal(rep[0].ack, 778);
	/* A wrong ACK of our SYN: reset with its sequence number. */
	assert_true(send_from(eni.ipv4, 44000, 80, 778, iss + 7, 0x10, 65535,
			      0, NULL, 0) > 0);
	assert_int_equal(rep[0].flags, 0x04);
	assert_int_equal(rep[0].seq, iss + 7);
	/* The guest resets: the next segment finds no connection. */
	assert_int_equal(send_from(eni.ipv4, 44000, 80, 778, 0, 0x04, 0, 0,
				   NULL, 0), 0);
	assert_true(send_from(eni.ipv4, 44000, 80, 778, iss + 1, 0x10, 65535,
			      0, NULL, 0) > 0);
	assert_int_equal(rep[0].flags, 0x04);
}

static void test_resets_and_limits(void **state)
{
	static struct client many[TCP_LITE_MAX_CONN], extra;
	int resets = 0;

	(void)state;
	/* Another port: RST|ACK acknowledging the SYN. */
	assert_true(send_from(eni.ipv4, 45000, 443, 5000, 0, 0x02, 65535, 0,
			      NULL, 0) > 0);
	assert_int_equal(rep[0].flags, 0x14);
	assert_int_equal(rep[0].seq, 0);
	assert_int_equal(rep[0].ack, 5001);
	/* A reset is never answered. */
	assert_int_equal(send_from(eni.ipv4, 45000, 443, 5000, 0, 0x04, 0, 0,
				   NULL, 0), 0);
	/* Connections are bounded: one more SYN is reset. */
	for (int i = 0; i < TCP_LITE_MAX_CONN; i++)
		connect_client(&many[i], (uint16_t)(46000 + i), 1460);
	assert_true(send_from(eni.ipv4, 46100, 80, 1, 0, 0x02, 65535, 0, NULL,
			      0) > 0);
	assert_int_equal(rep[0].flags, 0x14);
	/* Once one has been served, its slot takes the next. */
	http_on(&many[0], "GET / HTTP/1.0\r\n\r\n");
	connect_client(&many[0], 46100, 1460);
	/* An idle one is taken over (here: idle for 0 s is idle enough). */
	imds->tcp.idle_evict_s = 0;
	connect_client(&extra, 46101, 1460);
	for (int i = 0; i < TCP_LITE_MAX_CONN; i++) {
		assert_true(send_seg(&many[i], 0x10, NULL, 0) >= 0);
		resets += nrep == 1 && rep[0].flags == 0x04;
	}
	assert_int_equal(resets, 1);
}

static void test_not_for_us_or_malformed(void **state)
{
	uint8_t frame[128], out[256];
	size_t n;

	(void)state;
	/* From an address not the ENI's. */
	assert_int_equal(send_from(IP4(10, 0, 1, 99), 47000, 80, 1, 0, 0x02,
				   65535, 0, NULL, 0), -EPERM);
	/* A data offset below 5 words. */
	n = guest_ipv4_frame(frame, router_mac, eni.ipv4,
			     IP4(169, 254, 169, 254), 6,
			     (uint8_t[20]){ 0xb7, 0x98, 0, 80, [12] = 0x40,
					    [13] = 0x02 }, 20);
	assert_int_equal(imds_answer(imds, &eni, frame, n, out, sizeof(out)),
			 -EINVAL);
	/* UDP to the metadata address, TCP elsewhere: not the service's. */
	n = guest_ipv4_frame(frame, router_mac, eni.ipv4,
			     IP4(169, 254, 169, 254), 17,
			     (uint8_t[8]){ 0, 1, 0, 80, 0, 8 }, 8);
	assert_int_equal(imds_answer(imds, &eni, frame, n, out, sizeof(out)),
			 0);
	n = guest_ipv4_frame(frame, router_mac, eni.ipv4, IP4(10, 0, 1, 5), 6,
			     (uint8_t[20]){ 0xb7, 0x98, 0, 80, [12] = 0x50,
					    [13] = 0x02 }, 20);
	assert_int_equal(imds_answer(imds, &eni, frame, n, out, sizeof(out)),
			 0);
}

static void test_imdsv2_tokens(void **state)
{
	char req[256], token[128];
	const char *resp;

	(void)state;
	resp = http("PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n"
		    "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n");
	assert_status(resp, 200);
	assert_non_null(strstr(resp, "X-aws-ec2-metadata-token-ttl-seconds: "
				     "21600\r\n"));
	snprintf(token, sizeof(token), "%s", body_of(resp));
	assert_int_equal(strlen(token), 48);

	snprintf(req, sizeof(req), "GET /latest/meta-data/instance-id HTTP/1.1"
		 "\r\nHost: x\r\nX-aws-ec2-metadata-token: %s\r\n\r\n", token);
	assert_string_equal(body_of(http(req)), "i-0123456789abcdef0");
	token[47] = token[47] == '0' ? '1' : '0';
	snprintf(req, sizeof(req), "GET /latest/meta-data/instance-id HTTP/1.1"
		 "\r\nHost: x\r\nX-aws-ec2-metadata-token: %s\r\n\r\n", token);
	assert_status(http(req), 401);

	assert_status(http("PUT /latest/api/token HTTP/1.0\r\n\r\n"), 400);
	assert_status(http("PUT /latest/api/token HTTP/1.0\r\n"
			   "X-aws-ec2-metadata-token-ttl-seconds: 21601\r\n\r\n"),
		      400);
	assert_status(http("PUT /latest/api/token HTTP/1.0\r\n"
			   "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n"
			   "X-Forwarded-For: 10.0.0.9\r\n\r\n"), 403);
	assert_status(http("GET /latest/api/token HTTP/1.0\r\n\r\n"), 405);
	imds->tokens_required = true;
	assert_status(http("GET /latest/meta-data/ HTTP/1.0\r\n\r\n"), 401);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_get_fin, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_metadata_tree, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spot_instance_action,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_request_in_pieces_small_mss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_and_loss_recovery,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmitted_syn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resets_and_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_for_us_or_malformed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_imdsv2_tokens, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
