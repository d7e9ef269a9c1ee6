// SPDX-License-Identifier: Apache-2.0
/*
 * vpc_bench: packets per second through a running cv-vpc, against a plain
 * UDP socket pair on loopback measured in the same run (docs/benchmarks.md,
 * "Network").
 *
 *   vpc_bench --card BUILD/cv-vpc --dir DIR [--seconds S] [--repeat N]
 *             [--sizes 64,1500] [--window N]
 *
 * The bench is the card's vhost-user front-end itself, as cv-hv would be
 * (hv/vhost_user_client.c over memfd "guest RAM" from hv/memory.c), and
 * drives the rings the way a polling guest driver (DPDK's virtio PMD) does:
 * no interrupts asked for (used_event kept out of reach, virtio 1.2
 * §2.7.10), a kick only when the card's avail_event asks for one.  A nested
 * software-KVM guest could not drive line rate here; this front-end can.
 *
 * It writes an instance description with one NIC (security groups allowing
 * exactly the two benchmark flows, a mapping table naming its own
 * sockets), starts `cv-vpc --instance FILE --nic ID` as cardvisor does,
 * and measures, for each frame size (an Ethernet frame without FCS
 * carrying IPv4/UDP, checksums valid, from the ENI's MAC and address):
 *
 *   cv-vpc TX  guest TX ring -> source checks -> SG egress + conntrack ->
 *              mapping -> VXLAN -> UDP to a sink socket the bench owns
 *   cv-vpc RX  a "remote host" socket (the underlay address the mapping
 *              names for the inner source) sends VXLAN -> card decap ->
 *              source check -> SG ingress + conntrack -> guest RX ring
 *   loopback   the same number of bytes as UDP payload over a plain socket
 *              pair, sender and receiver in two threads, both polling
 *
 * Batching, the same on every path: the bench hands over BATCH frames per
 * doorbell or system call (BATCH descriptors per TX kick, sendmmsg of
 * BATCH datagrams) and drains up to RECV_BATCH per recvmmsg; cv-vpc itself
 * makes one sendmsg per TX frame and one recvfrom per RX datagram, which is
 * what the comparison shows.  At most --window frames are in flight on the
 * UDP legs (RX and loopback), so a receiver's default socket buffer (the
 * card's underlay socket keeps the default) is not simply overrun; frames
 * lost anyway are counted.
 *
 * Printed per (size, path), the median of --repeat runs of --seconds each
 * after a warm-up: Mpps and Gbit/s delivered at the far side (frame bytes,
 * no Ethernet preamble, FCS or gap), wall ns per packet (1e9 / pps, both
 * ends busy on a shared machine), CPU ns per packet of the card process
 * (clock_getcpuclockid) or of the loopback threads inside the calls that
 * moved data, the ratios, and how often the card slept per frame.
 * Exit status 0 when every measurement ran and every frame checked at the
 * far side was intact; 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cards/vpc/encap.h"
#include "cards/vpc/pkt.h"
#include "guest-abi/virtio.h"
#include "hv/memory.h"
#include "hv/vhost_user_client.h"
#include "tools/lib/card_proc.h"
#include "tools/lib/instance.h"
#include "tools/lib/log.h"

#define QSIZE 256               /* descriptors per ring, as QEMU's default */
#define BUF_SIZE 2048           /* one descriptor's buffer */
#define MEM_SIZE CV_MEM_MIN
#define RING_BYTES 0x4000       /* desc, avail, used of one ring, 4 KiB-aligned */
#define BUF_BASE 0x100000       /* buffers after the rings */
#define RXQ VIRTIO_NET_RXQ(0)
#define TXQ VIRTIO_NET_TXQ(0)
#define NRINGS 2
#define BATCH 32
#define RECV_BATCH 64
#define MAX_SIZES 8
#define MAX_REPEAT 15
#define FRAMES_CHECKED 64       /* compared byte for byte at the start of each run */
#define STALL_NS 20000000ull    /* in-flight frames not delivered by then are lost */
#define WARMUP_NS 200000000ull
#define SETTLE_NS 20000000ull

#define VNI 42
#define ENI_ID "eni-0bench00000000001"
#define ENI_IP "10.0.1.23"
#define TX_PEER "10.0.1.5"      /* the TX flow goes here: the sink */
#define RX_PEER "10.0.1.6"      /* the RX flow comes from here: the remote host */
#define TX_SPORT 5000
#define TX_DPORT 6000
#define RX_SPORT 7000
#define RX_DPORT 7001
#define REMOTE_UNDERLAY "127.0.0.2" /* not the card's: the mapping tells them apart */

static const uint8_t eni_mac[ETH_ALEN] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x17 };
static const uint8_t remote_mac[ETH_ALEN] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x06 };
/* The card's router MAC for VNI 42 (cards/vpc/main.c: 02:c7:VNI:01). */
static const uint8_t router_mac[ETH_ALEN] = { 0x02, 0xc7, 0x00, 0x00, VNI, 0x01 };

static volatile sig_atomic_t stopping;

/* One split virtqueue, driver side (virtio 1.2 §2.7), descriptor i always
 * pointing at buffer i of its ring. */
struct ring {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint8_t *buf;           /* QSIZE buffers of BUF_SIZE */
	uint16_t avail_idx;     /* next avail entry (published or not) */
	uint16_t published;     /* avail.idx last written */
	uint16_t last_used;
	uint16_t free[QSIZE];
	unsigned nfree;
	int kick, call;
	uint64_t kicks;
};

struct bench {
	struct guest_mem mem;
	struct vuc vu;
	struct ring ring[NRINGS];
	struct card_proc card;
	clockid_t card_clock;
	int sink_fd;            /* TX: where the card's VXLAN lands */
	int remote_fd;          /* RX: the remote host, connected to the card */
	struct sockaddr_in card_addr, sink_addr, remote_addr;
	unsigned window;
	uint64_t bad;           /* frames that arrived damaged: fails the run */
	uint8_t frame[BUF_SIZE];
	uint8_t dgram[VPC_ENCAP_HLEN + BUF_SIZE];
	uint8_t rbuf[RECV_BATCH][VPC_ENCAP_HLEN + BUF_SIZE];
};

struct result {
	double pps, wall_ns, cpu_ns, cpu2_ns; /* cpu2: loopback's receiving thread */
	uint64_t frames, lost, kicks, sleeps;
	double pps_min, pps_max; /* over the repeats, set by median() */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* How often @pid went to sleep (blocked in epoll_wait, for the card). */
static uint64_t sleeps(pid_t pid)
{
	char path[64], line[128];
	unsigned long long n = 0;
	FILE *f;

	if (!pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* ---- the frames ---- */

/* Ethernet + IPv4 + UDP, @size bytes in all, checksums valid. */
static void build_udp(uint8_t *f, size_t size, const uint8_t *dst_mac, const uint8_t *src_mac,
		      const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	size_t l4 = size - ETH_HLEN - IPV4_HLEN;
	struct udp_hdr *u = (void *)(f + ETH_HLEN + IPV4_HLEN);
	uint8_t *payload = (uint8_t *)(u + 1);
	uint32_t saddr = inet_addr(src), daddr = inet_addr(dst);
	uint16_t csum;

	for (size_t i = 0; i < l4 - sizeof(*u); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	*u = (struct udp_hdr){ .sport = htons(sport), .dport = htons(dport),
			       .len = htons((uint16_t)l4) };
	csum = pkt_l4_csum(saddr, daddr, IPPROTO_UDP_, u, l4);
	u->csum = csum ? csum : 0xffff; /* RFC 768: 0 means "no checksum" */
	pkt_ipv4_build(f, dst_mac, src_mac, saddr, daddr, IPPROTO_UDP_, 64, l4);
}

/* ---- the driver side of the rings ---- */

static uint64_t ring_gpa(unsigned q)
{
	return (uint64_t)q * RING_BYTES;
}

static uint64_t buf_gpa(unsigned q, unsigned i)
{
	return BUF_BASE + ((uint64_t)q * QSIZE + i) * BUF_SIZE;
}

static void ring_init(struct bench *b, unsigned q)
{
	struct ring *r = &b->ring[q];
	uint8_t *base = b->mem.host + ring_gpa(q);

	r->desc = (void *)base;
	r->avail = (void *)(base + 16 * QSIZE);
	r->used = (void *)(base + RING_BYTES / 2);
	r->buf = b->mem.host + buf_gpa(q, 0);
	for (unsigned i = 0; i < QSIZE; i++) {
		r->desc[i] = (struct virtq_desc){
			.addr = buf_gpa(q, i), .len = BUF_SIZE,
			.flags = q == RXQ ? VIRTQ_DESC_F_WRITE : 0,
		};
		r->free[i] = (uint16_t)(QSIZE - 1 - i);
	}
	r->nfree = QSIZE;
}

static uint16_t *used_event(struct ring *r)
{
	return &r->avail->ring[QSIZE];
}

static uint16_t avail_event(struct ring *r)
{
	return __atomic_load_n((uint16_t *)&r->used->ring[QSIZE], __ATOMIC_ACQUIRE);
}

static void ring_post(struct ring *r, uint16_t head, uint32_t len)
{
	r->desc[head].len = len;
	r->avail->ring[r->avail_idx % QSIZE] = head;
	r->avail_idx++;
}

/* Publish what was posted; kick only if the card asked (§2.7.10). */
static void ring_publish(struct ring *r)
{
	uint16_t old = r->published, now = r->avail_idx, ev;

	if (old == now)
		return;
	__atomic_store_n(&r->avail->idx, now, __ATOMIC_RELEASE);
	r->published = now;
	/* The index store before the avail_event load: else a card going to
	 * sleep between them would never be woken. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ev = avail_event(r);
	if ((uint16_t)(now - ev - 1) < (uint16_t)(now - old)) {
		eventfd_write(r->kick, 1);
		r->kicks++;
	}
}

/* Take back one used chain: its head, or -1 when none is there. */
static int ring_reap(struct ring *r, uint32_t *len)
{
	uint16_t idx = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
	struct virtq_used_elem e;

	if (idx == r->last_used)
		return -1;
	e = r->used->ring[r->last_used % QSIZE];
	r->last_used++;
	/* A polling driver: never ask for a call (used_event 32768 entries on). */
	*used_event(r) = (uint16_t)(r->last_used + 0x8000);
	if (e.id >= QSIZE) {
		cv_err_once("vpc_bench: the card returned descriptor %u of a %u-entry ring",
			    e.id, QSIZE);
		return -1;
	}
	*len = e.len;
	return (int)e.id;
}

static int frontend_start(struct bench *b, const char *socket)
{
	const uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			      VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	int r = guest_mem_init(&b->mem, MEM_SIZE);

	if (r)
		return r;
	/* The socket exists from bind(); listen() may not have come yet. */
	for (int tries = 0; (r = vuc_connect(&b->vu, socket)) == -ECONNREFUSED && tries < 100;
	     tries++)
		usleep(10000);
	if (r) {
		fprintf(stderr, "vpc_bench: cannot connect to %s: %s\n", socket, strerror(-r));
		return r;
	}
	if ((b->vu.features & want) != want) {
		fprintf(stderr, "vpc_bench: the card offers features %#llx, need %#llx\n",
			(unsigned long long)b->vu.features, (unsigned long long)want);
		return -ENOTSUP;
	}
	r = vuc_set_features(&b->vu, want | (b->vu.features &
					     VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)));
	if (!r)
		r = vuc_set_mem_table(&b->vu, &b->mem);
	for (unsigned q = 0; q < NRINGS && !r; q++) {
		struct ring *ring = &b->ring[q];

		ring_init(b, q);
		ring->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ring->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ring->kick < 0 || ring->call < 0)
			return -errno;
		/* The order QEMU's vhost_virtqueue_start uses (and cv-hv). */
		r = vuc_set_vring_num(&b->vu, q, QSIZE);
		if (!r)
			r = vuc_set_vring_base(&b->vu, q, 0);
		if (!r)
			r = vuc_set_vring_addr(&b->vu, q, (uint64_t)(uintptr_t)ring->desc,
					       (uint64_t)(uintptr_t)ring->avail,
					       (uint64_t)(uintptr_t)ring->used);
		if (!r)
			r = vuc_set_vring_kick(&b->vu, q, ring->kick);
		if (!r)
			r = vuc_set_vring_call(&b->vu, q, ring->call);
		if (!r)
			r = vuc_set_vring_enable(&b->vu, q, true);
	}
	return r;
}

/* ---- sockets ---- */

static int udp_bound(const char *ip, struct sockaddr_in *sa, int rcvbuf)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = inet_addr(ip) };
	if (fd < 0)
		return -errno;
	if ((rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))) ||
	    bind(fd, (struct sockaddr *)sa, sizeof(*sa)) ||
	    getsockname(fd, (struct sockaddr *)sa, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* recvmmsg of up to RECV_BATCH datagrams into @bufs; lengths in @lens. */
static int recv_batch(int fd, uint8_t (*bufs)[VPC_ENCAP_HLEN + BUF_SIZE], unsigned *lens,
		      int flags)
{
	struct mmsghdr m[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	int n;

	for (unsigned i = 0; i < RECV_BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], VPC_ENCAP_HLEN + BUF_SIZE };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	n = recvmmsg(fd, m, RECV_BATCH, flags, NULL);
	for (int i = 0; i < n; i++)
		lens[i] = m[i].msg_len;
	return n;
}

/* sendmmsg of @n copies of @buf on connected @fd: how many went. */
static int send_batch(int fd, const void *buf, size_t len, unsigned n)
{
	struct mmsghdr m[BATCH];
	struct iovec iov = { (void *)buf, len };

	for (unsigned i = 0; i < n; i++)
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	return sendmmsg(fd, m, n, MSG_DONTWAIT);
}

/* ---- one measurement ---- */

/*
 * A run's clock: warm up, then count between t0 and t1.  @delivered is the
 * far side's running count; the caller's loop calls run_tick() each turn.
 */
struct run {
	uint64_t start, t0, t1, end;
	uint64_t n0, n1, cpu0, cpu1, cpu20, cpu21, kicks0, kicks1, sleeps0, sleeps1;
	pid_t pid;              /* the card, whose sleeps are counted */
	clockid_t cpu;
	/* Instead of the card's CPU clock: CPU time in system calls (loopback). */
	const uint64_t *busy_ns, *busy2_ns;
	bool counting, done;
};

static void run_init(struct run *r, double seconds, clockid_t cpu, pid_t pid)
{
	r->pid = pid;
	r->start = now_ns();
	r->t0 = r->start + WARMUP_NS;
	r->end = r->t0 + (uint64_t)(seconds * 1e9);
	r->cpu = cpu;
	r->busy_ns = r->busy2_ns = NULL;
	r->counting = r->done = false;
}

static void run_tick(struct run *r, uint64_t delivered, uint64_t kicks)
{
	uint64_t t = now_ns();

	if (!r->counting && t >= r->t0) {
		r->counting = true;
		r->t0 = t;
		r->n0 = delivered;
		r->kicks0 = kicks;
		r->sleeps0 = sleeps(r->pid);
		r->cpu0 = r->busy_ns ? *r->busy_ns : clock_ns(r->cpu);
		if (r->busy2_ns)
			r->cpu20 = __atomic_load_n(r->busy2_ns, __ATOMIC_RELAXED);
	} else if (r->counting && (t >= r->end || stopping)) {
		r->t1 = t;
		r->n1 = delivered;
		r->kicks1 = kicks;
		r->sleeps1 = sleeps(r->pid);
		r->cpu1 = r->busy_ns ? *r->busy_ns : clock_ns(r->cpu);
		if (r->busy2_ns)
			r->cpu21 = __atomic_load_n(r->busy2_ns, __ATOMIC_RELAXED);
		r->done = true;
	}
	if (stopping)
		r->done = true;
}

static struct result run_result(const struct run *r, uint64_t lost)
{
	struct result res = { .lost = lost };
	uint64_t n = r->n1 - r->n0;

	if (!r->t1 || !n)
		return res;
	res.frames = n;
	res.pps = (double)n * 1e9 / (double)(r->t1 - r->t0);
	res.wall_ns = 1e9 / res.pps;
	res.cpu_ns = (double)(r->cpu1 - r->cpu0) / (double)n;
	res.cpu2_ns = r->busy2_ns ? (double)(r->cpu21 - r->cpu20) / (double)n : 0;
	res.kicks = r->kicks1 - r->kicks0;
	res.sleeps = r->sleeps1 - r->sleeps0;
	return res;
}

/*
 * A bounded window over a lossy leg: frames sent, delivered and given up
 * for lost.  Frames still missing STALL_NS after the last delivery, with the
 * window full, are lost (a socket buffer overran).
 */
struct window {
	uint64_t sent, lost, seen, last_progress;
	unsigned max;
};

static unsigned window_room(struct window *w, uint64_t delivered)
{
	uint64_t t, out;

	if (delivered != w->seen) {
		w->seen = delivered;
		w->last_progress = now_ns();
	}
	out = w->sent - w->lost - delivered;
	if (w->sent - w->lost < delivered) /* a frame given up for lost arrived after all */
		out = 0;
	if (out < w->max)
		return (unsigned)(w->max - out < BATCH ? w->max - out : BATCH);
	t = now_ns();
	if (t - w->last_progress > STALL_NS) {
		w->lost += out;
		w->last_progress = t;
		return BATCH;
	}
	return 0;
}

/* TX: the card's VXLAN datagram must carry our frame in VNI 42. */
static bool tx_intact(const struct bench *b, const uint8_t *d, unsigned len, size_t size,
		      bool full)
{
	return len == VPC_ENCAP_HLEN + size && d[0] == VXLAN_FLAG_I &&
	       d[4] == 0 && d[5] == 0 && d[6] == VNI && d[7] == 0 &&
	       (!full || !memcmp(d + VPC_ENCAP_HLEN, b->frame, size));
}

static struct result measure_tx(struct bench *b, size_t size, double seconds)
{
	struct ring *r = &b->ring[TXQ];
	const size_t hlen = sizeof(struct virtio_net_hdr_v1);
	unsigned lens[RECV_BATCH];
	uint64_t got = 0, completed = 0, settle;
	struct run run;
	uint32_t len;
	int head, n;

	build_udp(b->frame, size, router_mac, eni_mac, ENI_IP, TX_SPORT, TX_PEER, TX_DPORT);
	for (unsigned i = 0; i < QSIZE; i++) {
		memset(r->buf + (size_t)i * BUF_SIZE, 0, hlen);
		memcpy(r->buf + (size_t)i * BUF_SIZE + hlen, b->frame, size);
	}
	run_init(&run, seconds, b->card_clock, b->card.pid);
	while (!run.done) {
		unsigned batch = 0;

		while ((head = ring_reap(r, &len)) >= 0) {
			r->free[r->nfree++] = (uint16_t)head;
			completed++;
		}
		while (r->nfree && batch < BATCH) {
			ring_post(r, r->free[--r->nfree], (uint32_t)(hlen + size));
			batch++;
		}
		ring_publish(r);
		n = recv_batch(b->sink_fd, b->rbuf, lens, MSG_DONTWAIT);
		for (int i = 0; i < n; i++) {
			if (!tx_intact(b, b->rbuf[i], lens[i], size, got + (unsigned)i < FRAMES_CHECKED))
				b->bad++;
		}
		if (n > 0)
			got += (unsigned)n;
		else if (!batch)
			sched_yield(); /* the card may need this CPU */
		run_tick(&run, got, r->kicks);
	}
	/* Let the ring drain: what the card sent and the sink never saw is lost. */
	settle = now_ns() + SETTLE_NS;
	while (now_ns() < settle) {
		while ((head = ring_reap(r, &len)) >= 0) {
			r->free[r->nfree++] = (uint16_t)head;
			completed++;
		}
		n = recv_batch(b->sink_fd, b->rbuf, lens, MSG_DONTWAIT);
		got += n > 0 ? (unsigned)n : 0;
	}
	if (b->bad)
		fprintf(stderr, "vpc_bench: %llu TX datagrams at the sink were not our frame "
			"in VXLAN VNI %u\n", (unsigned long long)b->bad, VNI);
	return run_result(&run, completed > got ? completed - got : 0);
}

/* RX: the guest must get the remote host's frame, re-addressed by the router. */
static bool rx_intact(const struct bench *b, const uint8_t *buf, uint32_t len, size_t size,
		      bool full)
{
	const size_t hlen = sizeof(struct virtio_net_hdr_v1);
	const struct virtio_net_hdr_v1 *h = (const void *)buf;
	const uint8_t *f = buf + hlen;

	return len == hlen + size && h->num_buffers == 1 &&
	       !memcmp(f, eni_mac, ETH_ALEN) && !memcmp(f + ETH_ALEN, router_mac, ETH_ALEN) &&
	       (!full || !memcmp(f + 2 * ETH_ALEN, b->frame + 2 * ETH_ALEN, size - 2 * ETH_ALEN));
}

static struct result measure_rx(struct bench *b, size_t size, double seconds)
{
	struct ring *r = &b->ring[RXQ];
	struct window w = { .max = b->window, .last_progress = now_ns() };
	uint64_t got = 0, settle;
	struct run run;
	uint32_t len;
	int head;

	build_udp(b->frame, size, eni_mac, remote_mac, RX_PEER, RX_SPORT, ENI_IP, RX_DPORT);
	vpc_encap_hdr(VPC_ENCAP_VXLAN, VNI, b->dgram);
	memcpy(b->dgram + VPC_ENCAP_HLEN, b->frame, size);
	while (r->nfree)
		ring_post(r, r->free[--r->nfree], BUF_SIZE);
	ring_publish(r);
	run_init(&run, seconds, b->card_clock, b->card.pid);
	while (!run.done) {
		uint64_t before = got;
		unsigned room;

		while ((head = ring_reap(r, &len)) >= 0) {
			if (!rx_intact(b, r->buf + (size_t)head * BUF_SIZE, len, size,
				       got < FRAMES_CHECKED))
				b->bad++;
			got++;
			ring_post(r, (uint16_t)head, BUF_SIZE);
		}
		ring_publish(r);
		room = window_room(&w, got);
		if (room) {
			int n = send_batch(b->remote_fd, b->dgram, VPC_ENCAP_HLEN + size, room);

			w.sent += n > 0 ? (unsigned)n : 0;
		} else if (got == before) {
			sched_yield(); /* the card may need this CPU */
		}
		run_tick(&run, got, r->kicks);
	}
	settle = now_ns() + SETTLE_NS;
	while (now_ns() < settle) {
		while ((head = ring_reap(r, &len)) >= 0) {
			got++;
			ring_post(r, (uint16_t)head, BUF_SIZE);
		}
		ring_publish(r);
	}
	if (b->bad)
		fprintf(stderr, "vpc_bench: %llu RX frames in the guest were not the remote "
			"host's frame from the router MAC\n", (unsigned long long)b->bad);
	return run_result(&run, w.sent > got ? w.sent - got : 0);
}

/*
 * The loopback pair's receiving end, in its own thread: it polls, as the
 * bench's sink does on the TX path, so neither end pays for wake-ups; its
 * cost is the thread's CPU time in the recvmmsg calls that returned
 * datagrams (read around each call: about one clock_gettime system call
 * per batch lands inside the figure).
 */
struct loop_rx {
	int fd;
	size_t size;
	uint64_t got, busy_ns, bad; /* atomics */
	volatile bool stop;
	uint8_t bufs[RECV_BATCH][VPC_ENCAP_HLEN + BUF_SIZE];
};

static void *loop_rx_main(void *opaque)
{
	struct loop_rx *l = opaque;
	unsigned lens[RECV_BATCH];

	while (!l->stop) {
		uint64_t t = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		int n = recv_batch(l->fd, l->bufs, lens, MSG_DONTWAIT);

		if (n <= 0) {
			sched_yield();
			continue;
		}
		__atomic_store_n(&l->busy_ns, l->busy_ns + clock_ns(CLOCK_THREAD_CPUTIME_ID) - t,
				 __ATOMIC_RELAXED);
		for (int i = 0; i < n; i++)
			if (lens[i] != l->size)
				__atomic_fetch_add(&l->bad, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&l->got, (uint64_t)n, __ATOMIC_RELEASE);
	}
	return NULL;
}

static struct result measure_loopback(struct bench *b, size_t size, double seconds)
{
	static struct loop_rx l;
	struct window w = { .max = b->window, .last_progress = now_ns() };
	struct sockaddr_in to, from;
	struct result res = { 0 };
	uint64_t send_ns = 0;
	struct run run;
	pthread_t th;
	int tx;

	memset(&l, 0, sizeof(l));
	l.size = size;
	/* The receiver's buffer is the default one, as the card's underlay socket's. */
	l.fd = udp_bound("127.0.0.1", &to, 0);
	tx = udp_bound("127.0.0.1", &from, 0);
	if (l.fd < 0 || tx < 0 || connect(tx, (struct sockaddr *)&to, sizeof(to)) ||
	    pthread_create(&th, NULL, loop_rx_main, &l)) {
		perror("vpc_bench: loopback pair");
		b->bad++;
		goto out;
	}
	memset(b->dgram, 0x5a, size);
	run_init(&run, seconds, CLOCK_THREAD_CPUTIME_ID, 0);
	/* Both ends poll: their cost is their CPU time in the calls that moved data. */
	run.busy_ns = &send_ns;
	run.busy2_ns = &l.busy_ns;
	while (!run.done) {
		uint64_t got = __atomic_load_n(&l.got, __ATOMIC_ACQUIRE);
		unsigned room = window_room(&w, got);

		if (room) {
			uint64_t t = clock_ns(CLOCK_THREAD_CPUTIME_ID);
			int n = send_batch(tx, b->dgram, size, room);

			send_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t;
			w.sent += n > 0 ? (unsigned)n : 0;
		} else {
			sched_yield();
		}
		run_tick(&run, got, 0);
	}
	{
		uint64_t settle = now_ns() + SETTLE_NS, got;

		while (now_ns() < settle)
			;
		got = __atomic_load_n(&l.got, __ATOMIC_ACQUIRE);
		res = run_result(&run, w.sent > got ? w.sent - got : 0);
	}
	l.stop = true;
	pthread_join(th, NULL);
	b->bad += l.bad;
out:
	if (l.fd >= 0)
		close(l.fd);
	if (tx >= 0)
		close(tx);
	return res;
}

/* ---- the card ---- */

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok = f && fputs(text, f) >= 0;

	if (f && fclose(f))
		ok = 0;
	if (!ok)
		fprintf(stderr, "vpc_bench: cannot write %s: %s\n", path, strerror(errno));
	return ok ? 0 : -EIO;
}

/* A free UDP port on 127.0.0.1 for the card's underlay socket. */
static int free_port(struct sockaddr_in *sa)
{
	int fd = udp_bound("127.0.0.1", sa, 0);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int card_start(struct bench *b, const char *card_bin, const char *dir)
{
	static char inst[4096], sg[4096], map[4096], sock[4096], underlay[64], text[512],
		pidfile[4096];
	struct instance_desc d = { .type = "cv.bench", .vcpus = 1, .memory = MEM_SIZE,
				   .kernel = "none", .nr_nics = 1 };
	struct instance_nic *n = &d.nics[0];
	char *argv[] = { (char *)card_bin, "--instance", inst, "--nic", ENI_ID, NULL };
	int r;

	snprintf(inst, sizeof(inst), "%s/instance.dtb", dir);
	snprintf(sg, sizeof(sg), "%s/sg", dir);
	snprintf(map, sizeof(map), "%s/mapping", dir);
	snprintf(sock, sizeof(sock), "%s/vpc.sock", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/card.pid", dir);
	/* Exactly the two flows, one each way: SG on, nothing else passes. */
	snprintf(text, sizeof(text),
		 "# vpc_bench: the TX flow out, the RX flow in\n"
		 "egress  udp %u %s\n"
		 "ingress udp %u %s\n", TX_DPORT, TX_PEER, RX_DPORT, RX_PEER);
	if ((r = write_text(sg, text)))
		return r;
	snprintf(text, sizeof(text),
		 "# VNI PRIVATE_IP UNDERLAY_IP:PORT\n"
		 "%u %s 127.0.0.1:%u vxlan\n"
		 "%u %s %s:%u vxlan\n", VNI, TX_PEER, ntohs(b->sink_addr.sin_port),
		 VNI, RX_PEER, REMOTE_UNDERLAY, ntohs(b->remote_addr.sin_port));
	if ((r = write_text(map, text)))
		return r;
	if ((r = free_port(&b->card_addr)))
		return r;
	snprintf(underlay, sizeof(underlay), "127.0.0.1:%u", ntohs(b->card_addr.sin_port));
	r = instance_new_id(d.id);
	if (r)
		return r;
	*n = (struct instance_nic){
		.id = ENI_ID, .socket = sock, .subnet = "10.0.1.0/24", .ipv4 = ENI_IP,
		.underlay = underlay, .encap = "vxlan", .mapping = map, .sg = sg,
		.vni = VNI, .slot = 3, .conntrack = 4096,
	};
	memcpy(n->mac, eni_mac, ETH_ALEN);
	r = instance_write_file(inst, &d);
	if (r)
		return r;
	snprintf(b->card.name, sizeof(b->card.name), "cv-vpc %s", ENI_ID);
	snprintf(b->card.socket, sizeof(b->card.socket), "%s", sock);
	r = card_spawn(&b->card, argv);
	if (r)
		return r;
	snprintf(text, sizeof(text), "%d\n", (int)b->card.pid);
	write_text(pidfile, text);
	r = card_wait_ready(&b->card, 5000);
	if (r)
		return r;
	if (clock_getcpuclockid(b->card.pid, &b->card_clock)) {
		fprintf(stderr, "vpc_bench: no CPU clock for the card (pid %d)\n",
			(int)b->card.pid);
		return -ENOTSUP;
	}
	return frontend_start(b, sock);
}

/* ---- the table ---- */

static int cmp_pps(const void *a, const void *b)
{
	double x = ((const struct result *)a)->pps, y = ((const struct result *)b)->pps;

	return (x > y) - (x < y);
}

static struct result median(struct result *r, unsigned n)
{
	struct result m;

	qsort(r, n, sizeof(*r), cmp_pps);
	m = r[n / 2];
	m.pps_min = r[0].pps;
	m.pps_max = r[n - 1].pps;
	return m;
}

/*
 * One line of the table.  ratio: pps against loopback; CPU ratio: the
 * card's CPU per packet against the loopback end doing its job (sending
 * for TX, receiving for RX).
 */
static void row(size_t size, const char *path, const struct result *r, const struct result *base,
		double base_cpu)
{
	char cpu[32], ratio[16] = "-", cpu_ratio[16] = "-";

	if (r->cpu2_ns)
		snprintf(cpu, sizeof(cpu), "%.0f+%.0f", r->cpu_ns, r->cpu2_ns);
	else
		snprintf(cpu, sizeof(cpu), "%.0f", r->cpu_ns);
	if (base->pps > 0 && r != base)
		snprintf(ratio, sizeof(ratio), "%.2fx", r->pps / base->pps);
	if (base_cpu > 0)
		snprintf(cpu_ratio, sizeof(cpu_ratio), "%.2fx", r->cpu_ns / base_cpu);
	printf("%5zu  %-12s %7.3f %5.3f-%5.3f %8.3f %8.0f %12s %8s %9s %7.2f%%\n", size, path,
	       r->pps / 1e6, r->pps_min / 1e6, r->pps_max / 1e6,
	       r->pps * (double)size * 8 / 1e9, r->wall_ns, cpu, ratio, cpu_ratio,
	       r->frames ? 100.0 * (double)r->lost / (double)(r->frames + r->lost) : 0);
}

static int parse_sizes(const char *s, size_t *sizes, unsigned *n)
{
	char *end;

	*n = 0;
	while (*s) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v < ETH_HLEN + IPV4_HLEN + sizeof(struct udp_hdr) ||
		    v > BUF_SIZE - sizeof(struct virtio_net_hdr_v1) || *n == MAX_SIZES)
			return -EINVAL;
		sizes[(*n)++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	return *n ? 0 : -EINVAL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vpc_bench --card PATH --dir DIR [--seconds S] [--repeat N]\n"
		   "                 [--sizes 64,1500] [--window N]\n"
		   "Packets/s through a cv-vpc it starts (TX and RX, SG and VXLAN on) against\n"
		   "a UDP socket pair on loopback (docs/benchmarks.md, \"Network\").\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "card", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "window", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct bench b = { .vu.fd = -1, .mem.memfd = -1, .sink_fd = -1, .remote_fd = -1,
				  .window = 64 };
	const char *card_bin = NULL, *dir = NULL;
	size_t sizes[MAX_SIZES] = { 64, 1500 };
	unsigned nsizes = 2, repeat = 3;
	double seconds = 1.0;
	bool idle = false;       /* a path delivered nothing: the card is broken */
	int opt, r, status = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': card_bin = optarg; break;
		case 'd': dir = optarg; break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'r': repeat = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': b.window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'z':
			if (parse_sizes(optarg, sizes, &nsizes)) {
				fprintf(stderr, "vpc_bench: --sizes: frame sizes %zu..%zu, at most %d\n",
					(size_t)(ETH_HLEN + IPV4_HLEN + sizeof(struct udp_hdr)),
					BUF_SIZE - sizeof(struct virtio_net_hdr_v1), MAX_SIZES);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!card_bin || !dir || optind != argc || !(seconds > 0 && seconds <= 60) ||
	    !repeat || repeat > MAX_REPEAT || !b.window || b.window > 4096) {
		usage(stderr);
		return 2;
	}
	cv_log_init("vpc_bench", false);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	/* The sink gets a big buffer: it is the bench's side, not what is measured. */
	b.sink_fd = udp_bound("127.0.0.1", &b.sink_addr, 4 << 20);
	b.remote_fd = udp_bound(REMOTE_UNDERLAY, &b.remote_addr, 0);
	if (b.sink_fd < 0 || b.remote_fd < 0) {
		fprintf(stderr, "vpc_bench: cannot bind the sink or the remote host on loopback: %s\n",
			strerror(-(b.sink_fd < 0 ? b.sink_fd : b.remote_fd)));
		goto out;
	}
	r = card_start(&b, card_bin, dir);
	if (r) {
		fprintf(stderr, "vpc_bench: cannot start and attach %s: %s\n", card_bin,
			strerror(-r));
		goto out;
	}
	if (connect(b.remote_fd, (struct sockaddr *)&b.card_addr, sizeof(b.card_addr))) {
		perror("vpc_bench: connect to the card's underlay socket");
		goto out;
	}

	printf("%5s  %-12s %7s %11s %8s %8s %12s %8s %9s %8s\n", "frame", "path", "Mpps",
	       "Mpps range", "Gbit/s", "wall ns", "CPU ns/pkt", "vs UDP", "CPU vs", "lost");
	for (unsigned s = 0; s < nsizes && !stopping; s++) {
		struct result lo[MAX_REPEAT], tx[MAX_REPEAT], rx[MAX_REPEAT], l, t, x;

		/* Interleaved, so a burst of other load on the machine hits all three. */
		for (unsigned i = 0; i < repeat && !stopping; i++) {
			lo[i] = measure_loopback(&b, sizes[s], seconds);
			tx[i] = measure_tx(&b, sizes[s], seconds);
			rx[i] = measure_rx(&b, sizes[s], seconds);
		}
		if (stopping)
			break;
		l = median(lo, repeat);
		t = median(tx, repeat);
		x = median(rx, repeat);
		if (!l.frames || !t.frames || !x.frames) {
			fprintf(stderr, "vpc_bench: %zu B: a path delivered no frame\n", sizes[s]);
			idle = true;
		}
		row(sizes[s], "UDP loopback", &l, &l, 0);
		row(sizes[s], "cv-vpc TX", &t, &l, l.cpu_ns);
		row(sizes[s], "cv-vpc RX", &x, &l, l.cpu2_ns);
		printf("%5s  per frame: TX kicks %.4f; cv-vpc sleeps (epoll_wait blocked) TX %.3f, RX %.3f\n",
		       "", t.frames ? (double)t.kicks / (double)t.frames : 0,
		       t.frames ? (double)t.sleeps / (double)t.frames : 0,
		       x.frames ? (double)x.sleeps / (double)x.frames : 0);
		fflush(stdout);
	}
	status = stopping || idle || b.bad ? 1 : 0;
out:
	vuc_close(&b.vu);
	card_stop(&b.card, 2000);
	if (b.mem.host)
		guest_mem_destroy(&b.mem);
	if (b.sink_fd >= 0)
		close(b.sink_fd);
	if (b.remote_fd >= 0)
		close(b.remote_fd);
	return status;
}
