/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/netwl.h"

#include <stdint.h>

#include "tests/guest/lib.h"
#include "tests/guest/net.h"
#include "tests/guest/tsc.h"
#include "tests/guest/user.h"
#include "tests/guest/virtio_net.h"

#define IMDS_ADDR        0xa9fea9feu    /* 169.254.169.254 */
#define IMDS_PATH        "/latest/meta-data/instance-id"
#define DHCP_TRIES       4
#define DHCP_TIMEOUT_MS  2000
#define REPLY_TIMEOUT_MS 1000
#define TCP_TIMEOUT_MS   5000
#define UDP_LOCAL_PORT   40000
#define PING_ID          0x6376          /* "cv" */
#define HTTP_MAX         4096
#define VALUE_MAX        64
#define BAD_WAIT_MS      1000
#define BAD_BIG_LEN      65536u

static struct vnet dev;
static struct net_if ni;
static uint8_t http_buf[HTTP_MAX];
static uint8_t payload[1500];
/* Frames for net-bad: a plain one, and one larger than any MTU. */
static uint8_t bad_frame[VNET_HDR_LEN + 64] __attribute__((aligned(16)));
static uint8_t bad_big[VNET_HDR_LEN + BAD_BIG_LEN] __attribute__((aligned(4096)));

static const char *const words[] = {
	"net-dhcp", "net-ping", "net-imds", "net-udp-echo", "net-udp-serve", "net-flood",
	"net-bad",
};

bool netwl_requested(const char *cmdline)
{
	for (unsigned int i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (cmdline_has_word(cmdline, words[i]))
			return true;
	return false;
}

static int init_dev(void *o)
{
	return vnet_init(&dev, o);
}

/* An address option, or @dflt when it is absent; false if malformed. */
static bool opt_ip(const char *cmdline, const char *key, uint32_t dflt, uint32_t *ip)
{
	char s[20];

	*ip = dflt;
	if (!cmdline_string(cmdline, key, s, sizeof(s)))
		return true;
	if (net_parse_ip(s, ip))
		return true;
	report("cvguest: net option %s=%s is not an IPv4 address\n", key, s);
	return false;
}

static uint64_t tsc_us(uint64_t t)
{
	return tsc_hz() ? t * 1000000 / tsc_hz() : 0;
}

struct rtt {
	uint64_t min, max, sum;
	unsigned int n;
};

static void rtt_add(struct rtt *r, uint64_t t)
{
	if (!r->n || t < r->min)
		r->min = t;
	if (t > r->max)
		r->max = t;
	r->sum += t;
	r->n++;
}

static uint64_t rtt_avg(const struct rtt *r)
{
	return r->n ? r->sum / r->n : 0;
}

/* ---- addressing ---- */

static int configure(const char *cmdline)
{
	uint32_t ip, server = 0;

	if (!opt_ip(cmdline, "ip", 0, &ip))
		return -EINVAL;
	if (ip) {
		ni.ip = ip;
		if (!opt_ip(cmdline, "mask", 0xffffff00u, &ni.mask) ||
		    !opt_ip(cmdline, "gw", 0, &ni.gw))
			return -EINVAL;
		report("cvguest: net static ip=" NET_IP_FMT " gw=" NET_IP_FMT " mask=" NET_IP_FMT
		       "\n", NET_IP_ARGS(ni.ip), NET_IP_ARGS(ni.gw), NET_IP_ARGS(ni.mask));
		return 0;
	}
	unsigned int tries = (unsigned int)cmdline_value(cmdline, "dhcp-tries", DHCP_TRIES);
	uint64_t t0 = rdtsc();
	int err = net_dhcp(&ni, tries, DHCP_TIMEOUT_MS, &server);
	if (err) {
		report("cvguest: net dhcp fail tries=%u err=%d\n", tries, err);
		return err;
	}
	report("cvguest: net dhcp ip=" NET_IP_FMT " gw=" NET_IP_FMT " mask=" NET_IP_FMT
	       " dns=" NET_IP_FMT " mtu=%u server=" NET_IP_FMT " tsc=%lu\n",
	       NET_IP_ARGS(ni.ip), NET_IP_ARGS(ni.gw), NET_IP_ARGS(ni.mask), NET_IP_ARGS(ni.dns),
	       ni.mtu, NET_IP_ARGS(server), rdtsc() - t0);
	return 0;
}

/* ---- net-ping ---- */

/* One echo request and its reply; the round trip in TSC ticks, or 0. */
static uint64_t ping_once(uint32_t host, uint16_t seq, uint32_t size)
{
	uint64_t t0 = rdtsc(), deadline = tsc_deadline_ms(REPLY_TIMEOUT_MS);
	struct net_pkt p;

	if (net_icmp_echo(&ni, host, PING_ID, seq, size))
		return 0;
	while (!net_recv(&ni, deadline, &p)) {
		/* RFC 792: type 0, our identifier and sequence number. */
		if (p.proto == NET_PROTO_ICMP && p.src == host && p.l4[0] == 0 &&
		    p.l4_len == 8 + size && (uint16_t)(p.l4[4] << 8 | p.l4[5]) == PING_ID &&
		    (uint16_t)(p.l4[6] << 8 | p.l4[7]) == seq) {
			uint64_t t = rdtsc() - t0;
			return t ? t : 1;
		}
	}
	return 0;
}

static int net_ping(const char *cmdline)
{
	uint32_t host;
	unsigned int count = (unsigned int)cmdline_value(cmdline, "count", 4);
	uint32_t size = (uint32_t)cmdline_value(cmdline, "size", 56);
	struct rtt r = { 0 };
	uint8_t mac[6];

	if (!opt_ip(cmdline, "host", ni.gw, &host))
		return -EINVAL;
	if (size > (uint32_t)ni.mtu - 28)
		size = (uint32_t)ni.mtu - 28;
	int err = net_resolve(&ni, host, mac, REPLY_TIMEOUT_MS);
	if (err) {
		report("cvguest: net ping host=" NET_IP_FMT " arp fail err=%d\n", NET_IP_ARGS(host),
		       err);
		return err;
	}
	report("cvguest: net arp " NET_IP_FMT " is %02x:%02x:%02x:%02x:%02x:%02x\n",
	       NET_IP_ARGS(host), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	for (unsigned int i = 0; i < count; i++) {
		uint64_t t = ping_once(host, (uint16_t)(i + 1), size);

		if (t)
			rtt_add(&r, t);
	}
	report("cvguest: net ping host=" NET_IP_FMT " size=%u sent=%u received=%u "
	       "rtt_tsc min=%lu avg=%lu max=%lu rtt_us min=%lu avg=%lu max=%lu\n",
	       NET_IP_ARGS(host), size, count, r.n, r.min, rtt_avg(&r), r.max, tsc_us(r.min),
	       tsc_us(rtt_avg(&r)), tsc_us(r.max));
	return r.n ? 0 : -ETIMEDOUT;
}

/* ---- net-imds: one HTTP/1.0 GET over TCP-lite ---- */

/* The first line of the body, printable characters only, for the report. */
static void body_value(const uint8_t *body, uint32_t len, char *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < len && n < VALUE_MAX - 1; i++) {
		if (body[i] == '\r' || body[i] == '\n')
			break;
		out[n++] = body[i] > 0x20 && body[i] < 0x7f ? (char)body[i] : '?';
	}
	out[n] = '\0';
}

static int net_imds(const char *cmdline)
{
	uint32_t host;
	uint16_t port = (uint16_t)cmdline_value(cmdline, "port", 80);
	char path[128] = IMDS_PATH, req[256], value[VALUE_MAX];
	struct tcp_conn c;

	if (!opt_ip(cmdline, "host", IMDS_ADDR, &host))
		return -EINVAL;
	cmdline_string(cmdline, "path", path, sizeof(path));
	int len = snprintf(req, sizeof(req),
			   "GET %s HTTP/1.0\r\nHost: " NET_IP_FMT "\r\nConnection: close\r\n\r\n",
			   path, NET_IP_ARGS(host));
	uint64_t t0 = rdtsc();
	int err = net_tcp_connect(&ni, &c, host, port, http_buf, sizeof(http_buf) - 1,
				  TCP_TIMEOUT_MS);
	if (!err)
		err = net_tcp_send(&ni, &c, req, (uint32_t)len, TCP_TIMEOUT_MS);
	if (!err)
		err = net_tcp_recv_close(&ni, &c, TCP_TIMEOUT_MS);
	if (err) {
		report("cvguest: net imds fail host=" NET_IP_FMT " port=%u err=%d\n",
		       NET_IP_ARGS(host), port, err);
		return err;
	}
	/* RFC 9112 §4: "HTTP/1.x 200 ...", then headers up to an empty line. */
	http_buf[c.rlen] = '\0';
	unsigned int status = 0;
	if (c.rlen > 12 && !memcmp(http_buf, "HTTP/1.", 7))
		for (int i = 9; i < 12 && http_buf[i] >= '0' && http_buf[i] <= '9'; i++)
			status = status * 10 + (unsigned int)(http_buf[i] - '0');
	uint32_t body = 0;
	for (uint32_t i = 0; i + 4 <= c.rlen; i++)
		if (!memcmp(http_buf + i, "\r\n\r\n", 4)) {
			body = i + 4;
			break;
		}
	report("cvguest: net imds http status=%u bytes=%u body=%u mss=%u retransmits=%u "
	       "tsc=%lu\n", status, c.rlen, body ? c.rlen - body : 0, c.mss, c.retransmits,
	       rdtsc() - t0);
	if (status != 200 || !body) {
		report("cvguest: net imds fail status=%u\n", status);
		return -EPROTO;
	}
	body_value(http_buf + body, c.rlen - body, value);
	report("cvguest: net imds instance-id=%s\n", value);
	return 0;
}

/* ---- UDP: echo client, echo server, flood ---- */

static int net_udp_echo(const char *cmdline)
{
	uint32_t peer;
	uint16_t port = (uint16_t)cmdline_value(cmdline, "port", 7);
	unsigned int count = (unsigned int)cmdline_value(cmdline, "count", 10);
	uint32_t size = (uint32_t)cmdline_value(cmdline, "size", 64);
	unsigned int bad = 0;
	struct rtt r = { 0 };

	if (!opt_ip(cmdline, "peer", ni.gw, &peer))
		return -EINVAL;
	if (size < 4)
		size = 4;
	if (size > (uint32_t)ni.mtu - 28)
		size = (uint32_t)ni.mtu - 28;
	uint64_t t0 = rdtsc();
	for (unsigned int i = 0; i < count; i++) {
		uint64_t ts = rdtsc(), deadline = tsc_deadline_ms(REPLY_TIMEOUT_MS);
		struct net_pkt p;

		for (uint32_t b = 0; b < size; b++)
			payload[b] = (uint8_t)(b * 7 + i);
		memcpy(payload, &i, 4);
		if (net_udp_send(&ni, UDP_LOCAL_PORT, peer, port, payload, size))
			continue;
		while (!net_recv(&ni, deadline, &p)) {
			if (p.proto != NET_PROTO_UDP || p.src != peer || p.sport != port ||
			    p.dport != UDP_LOCAL_PORT)
				continue;
			if (p.data_len == size && !memcmp(p.data, payload, size)) {
				rtt_add(&r, rdtsc() - ts);
				break;
			}
			bad++;
		}
	}
	report("cvguest: net udp-echo peer=" NET_IP_FMT " port=%u size=%u sent=%u received=%u "
	       "lost=%u bad=%u rtt_tsc min=%lu avg=%lu max=%lu tsc=%lu tsc_hz=%lu\n",
	       NET_IP_ARGS(peer), port, size, count, r.n, count - r.n, bad, r.min, rtt_avg(&r),
	       r.max, rdtsc() - t0, tsc_hz());
	return r.n || !count ? 0 : -ETIMEDOUT;
}

static int net_udp_serve(const char *cmdline)
{
	uint16_t port = (uint16_t)cmdline_value(cmdline, "port", 7);
	unsigned int count = (unsigned int)cmdline_value(cmdline, "count", 0);
	uint64_t secs = cmdline_value(cmdline, "wait", 30);
	uint64_t deadline = tsc_deadline_ms(secs * 1000), t_first = 0;
	unsigned int echoed = 0;
	struct net_pkt p;

	report("cvguest: net udp-serve port=%u ready ip=" NET_IP_FMT "\n", port,
	       NET_IP_ARGS(ni.ip));
	while ((!count || echoed < count) && !net_recv(&ni, deadline, &p)) {
		if (p.proto != NET_PROTO_UDP || p.dport != port || p.dst != ni.ip)
			continue;
		/* The payload moves to the transmit buffer before the receive
		 * buffer is reused. */
		uint32_t len = p.data_len;
		memcpy(payload, p.data, len < sizeof(payload) ? len : sizeof(payload));
		if (!net_udp_send(&ni, port, p.src, p.sport, payload, len)) {
			if (!echoed)
				t_first = rdtsc();
			echoed++;
		}
	}
	report("cvguest: net udp-serve port=%u echoed=%u tsc=%lu\n", port, echoed,
	       echoed ? rdtsc() - t_first : 0);
	return !count || echoed == count ? 0 : -ETIMEDOUT;
}

static int net_flood(const char *cmdline)
{
	uint32_t peer;
	uint16_t port = (uint16_t)cmdline_value(cmdline, "flood-port", 20000);
	unsigned int flows = (unsigned int)cmdline_value(cmdline, "flows", 100);
	unsigned int sent = 0, replies = 0;
	struct net_pkt p;

	if (!opt_ip(cmdline, "peer", ni.gw, &peer))
		return -EINVAL;
	if (flows > 65535u - port)
		flows = 65535u - port;
	uint64_t t0 = rdtsc();
	for (unsigned int i = 0; i < flows; i++) {
		memcpy(payload, &i, 4);
		sent += !net_udp_send(&ni, UDP_LOCAL_PORT, peer, (uint16_t)(port + i), payload, 4);
	}
	uint64_t t = rdtsc() - t0, deadline = tsc_deadline_ms(REPLY_TIMEOUT_MS / 4);
	while (!net_recv(&ni, deadline, &p))
		replies += p.proto == NET_PROTO_UDP && p.dport == UDP_LOCAL_PORT;
	report("cvguest: net flood peer=" NET_IP_FMT " ports=%u-%u flows=%u sent=%u replies=%u "
	       "tsc=%lu\n", NET_IP_ARGS(peer), port, port + flows - 1, flows, sent, replies, t);
	return sent == flows ? 0 : -EIO;
}

/* ---- net-bad: malformed transmit chains, then proof the device still works ---- */

enum bad_kind { BAD_LOOP, BAD_NEXT_RANGE, BAD_LONG, BAD_ADDR, BAD_ZERO, BAD_HDR_ONLY, BAD_BIG };

static const struct {
	enum bad_kind kind;
	const char *name, *what;
} bad_cases[] = {
	{ BAD_LOOP, "desc-loop", "2 descriptors whose NEXT links point at each other" },
	{ BAD_NEXT_RANGE, "next-out-of-range", "NEXT to descriptor index = queue size" },
	{ BAD_LONG, "chain-longer-than-queue",
	  "every free descriptor chained, the last back to the first" },
	{ BAD_ADDR, "addr-outside-ram", "one descriptor at 512 GiB, nothing there" },
	{ BAD_ZERO, "zero-length", "one descriptor of length 0" },
	{ BAD_HDR_ONLY, "empty-frame", "a virtio-net header and no frame" },
	{ BAD_BIG, "oversized-frame", "a 65536-byte frame, far past the MTU" },
};

/* Builds the case's chain in the transmit queue and publishes it. */
static int bad_publish(enum bad_kind kind, const void *token)
{
	struct virtq *vq = &dev.vd.vq[VIRTIO_NET_TXQ(0)];
	uint16_t ids[VIRTQ_GUEST_MAX];
	unsigned int n = kind == BAD_LOOP ? 2 : kind == BAD_LONG ? vq->num_free : 1;
	uint64_t addr = (uintptr_t)bad_frame;
	uint32_t len = sizeof(bad_frame);

	if (virtq_alloc(vq, n, ids))
		return -EBUSY;
	memset(bad_frame, 0, VNET_HDR_LEN);
	memcpy(bad_frame + VNET_HDR_LEN, "\xff\xff\xff\xff\xff\xff", 6);
	memcpy(bad_frame + VNET_HDR_LEN + 6, dev.mac, 6);
	bad_frame[VNET_HDR_LEN + 12] = 0x88;   /* local experimental EtherType 0x88b5 */
	bad_frame[VNET_HDR_LEN + 13] = 0xb5;
	if (kind == BAD_ADDR)
		addr = 0x8000000000ull;
	else if (kind == BAD_ZERO)
		len = 0;
	else if (kind == BAD_HDR_ONLY)
		len = VNET_HDR_LEN;
	if (kind == BAD_BIG) {
		memcpy(bad_big, bad_frame, VNET_HDR_LEN + 14);
		addr = (uintptr_t)bad_big;
		len = sizeof(bad_big);
	}
	for (unsigned int i = 0; i < n; i++)
		vq->desc[ids[i]] = (struct virtq_desc){
			.addr = addr, .len = len, .flags = n > 1 ? VIRTQ_DESC_F_NEXT : 0,
			.next = ids[(i + 1) % n],
		};
	if (kind == BAD_NEXT_RANGE)
		vq->desc[ids[0]] = (struct virtq_desc){ .addr = addr, .len = len,
						      .flags = VIRTQ_DESC_F_NEXT, .next = vq->size };
	virtq_publish(vq, ids[0], (void *)token);
	virtq_kick(vq);
	return 0;
}

/* "used", "needs-reset" (and reset), or "silent" within BAD_WAIT_MS. */
static const char *bad_outcome(const void *token)
{
	uint64_t deadline = tsc_deadline_ms(BAD_WAIT_MS);

	while (rdtsc() < deadline) {
		if (vnet_tx_reclaim(&dev, token))
			return "used";
		int r = vnet_idle(&dev);
		if (r)
			return r > 0 ? "needs-reset" : "reset-failed";
	}
	return "silent";
}

static bool traffic_ok(uint32_t host)
{
	for (uint16_t seq = 1; seq <= 3; seq++)
		if (ping_once(host, (uint16_t)(0x100 + seq), 56))
			return true;
	return false;
}

static int net_bad(const char *cmdline)
{
	uint32_t host;
	unsigned int ok = 0, fail = 0;
	static const char token;

	if (!opt_ip(cmdline, "host", ni.gw, &host))
		return -EINVAL;
	for (unsigned int i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		vnet_tx_reclaim(&dev, NULL);
		uint64_t resets = dev.st.resets;
		int err = bad_publish(bad_cases[i].kind, &token);
		const char *outcome = err ? "not-sent" : bad_outcome(&token);
		/* A device that holds the chain without a word is still
		 * working if traffic flows; if not, a reset frees it. */
		bool flows = traffic_ok(host);
		if (!flows && dev.st.resets == resets && !vnet_restart(&dev))
			flows = traffic_ok(host);
		report("cvguest: net-bad %s sent=\"%s\" device=%s resets=%lu traffic=%s\n",
		       bad_cases[i].name, bad_cases[i].what, outcome, dev.st.resets - resets,
		       flows ? "ok" : "fail");
		flows ? ok++ : fail++;
	}
	report("cvguest: net-bad done ok=%u fail=%u resets=%lu\n", ok, fail, dev.st.resets);
	return fail ? -EIO : 0;
}

/* ---- the script ---- */

int netwl_run(const char *cmdline)
{
	struct vnet_options o = {
		/* HLT faults at CPL 3: user mode polls. */
		.poll = cmdline_has_word(cmdline, "poll") || user_cpl(),
		.qsize = (uint16_t)cmdline_value(cmdline, "qsize", VIRTQ_GUEST_MAX),
		.rxbuf = (uint32_t)cmdline_value(cmdline, "rxbuf", 0),
		.no_mrg = cmdline_has_word(cmdline, "nomrg"),
	};
	static const struct {
		const char *word;
		int (*fn)(const char *);
	} steps[] = {
		{ "net-ping", net_ping }, { "net-imds", net_imds },
		{ "net-udp-echo", net_udp_echo }, { "net-udp-serve", net_udp_serve },
		{ "net-flood", net_flood }, { "net-bad", net_bad },
	};
	int err;

	report("cvguest: net workloads at cpl=%u\n", user_cpl());
	err = user_kcall(init_dev, &o);
	if (err)
		return err;
	net_if_init(&ni, &dev);
	err = configure(cmdline);
	for (unsigned int i = 0; !err && i < sizeof(steps) / sizeof(steps[0]); i++)
		if (cmdline_has_word(cmdline, steps[i].word))
			err = steps[i].fn(cmdline);
	/* Interrupts raised while the driver was polling are still pending
	 * at the LAPIC: one wait lets them in before they are counted. */
	vnet_idle(&dev);
	report("cvguest: net stats tx=%lu rx=%lu rx_merged=%lu rx_dropped=%lu not_for_us=%lu "
	       "tx_busy=%lu resets=%lu irqs=%lu\n", dev.st.tx, dev.st.rx, dev.st.rx_merged,
	       dev.st.rx_dropped, ni.rx_dropped,
	       dev.st.tx_busy, dev.st.resets, virtio_irq_count());
	return err;
}
