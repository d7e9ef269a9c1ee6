/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvmf_cli: drives cards/ebs/nvmf_host against an NVMe/TCP target, for the
 * integration tests and benchmarks.
 *
 *   nvmf_cli [options] info
 *   nvmf_cli [options] verify LBA BLOCKS SEED   one Write of BLOCKS blocks, one
 *                                               Read back, compare
 *   nvmf_cli [options] write LBA BLOCKS SEED
 *   nvmf_cli [options] read LBA BLOCKS SEED     compare with what write wrote
 *   nvmf_cli [options] rand                     random QD-N workload, data checked
 *   nvmf_cli [options] check                    read back the --state file's blocks
 *
 * Every block written carries its LBA and a version, the rest a stream
 * derived from both, so a read proves which write it returns.  "rand" keeps
 * the last acknowledged version of every block (never two commands on one
 * block at a time), checks every read against it, and at the end reads all
 * blocks it wrote and saves the versions to --state for a later "check".
 * Exit status 0 only if every check passed and no command failed; rand
 * stops issuing commands at the first failure.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "cards/ebs/nvmf_host.h"
#include "tools/lib/host_epoch.h"
#include "tools/lib/log.h"

struct op {
	struct nvmf_req req;
	struct iovec iov[2];      /* two pieces: exercises scattered data */
	uint8_t *buf;
	uint64_t ver;             /* version being written */
	bool busy;
	bool check_only;          /* a read of the final check pass */
};

static struct {
	struct nvmf_ctrl *ctrl;
	const struct nvmf_ctrl_info *info;
	int epfd;
	uint32_t bs;              /* blocks per command in rand */
	uint64_t span;            /* blocks the workload touches */
	uint64_t *ver;            /* last acknowledged version per block; 0: unknown */
	uint64_t *alt;            /* a version that may also be there (failed write) */
	uint8_t *busy;
	uint64_t next_ver;
	uint64_t done, errors, mismatches, inflight;
	uint64_t rng;
} g;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_block(uint8_t *p, uint32_t size, uint64_t lba, uint64_t ver)
{
	uint64_t x = lba * 0x100000001b3ull ^ ver, w;

	memcpy(p, &lba, 8);
	memcpy(p + 8, &ver, 8);
	for (uint32_t i = 16; i < size; i += 8) {
		w = splitmix(&x);
		memcpy(p + i, &w, 8);
	}
}

static bool block_is(const uint8_t *p, uint32_t size, uint64_t lba, uint64_t ver)
{
	static uint8_t *want;
	static uint32_t want_size;

	if (want_size != size) {
		free(want);
		want = malloc(size);
		want_size = size;
	}
	fill_block(want, size, lba, ver);
	return memcmp(p, want, size) == 0;
}

/* Run the event loop until *flag turns true (or the loop fails). */
static int run_until(const bool *flag)
{
	struct epoll_event ev[16];

	while (!*flag) {
		int n = epoll_wait(g.epfd, ev, 16, 1000);

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == 0)
				nvmf_ctrl_process(g.ctrl);
			else
				nvmf_queue_process(nvmf_ctrl_queue(g.ctrl, ev[i].data.u32 - 1));
		}
	}
	return 0;
}

static bool g_stop;

/* ---- single commands ---- */

static void single_done(struct nvmf_req *req, uint16_t status)
{
	struct op *op = req->priv;

	op->ver = status;
	op->busy = false;
	g_stop = true;
}

static int one_cmd(uint8_t opc, uint64_t lba, uint32_t blocks, uint8_t *buf)
{
	struct nvmf_queue *q = nvmf_ctrl_queue(g.ctrl, 0);
	size_t len = (size_t)blocks * g.info->lba_size, half = len / 2;
	struct op op = { .busy = true };
	int r;

	/* Two segments cut at an odd offset, so PDUs straddle them. */
	op.iov[0] = (struct iovec){ buf, len > 4096 ? half + 101 : len };
	op.iov[1] = (struct iovec){ buf + op.iov[0].iov_len, len - op.iov[0].iov_len };
	op.req = (struct nvmf_req){ .opc = opc, .slba = lba, .nlb = blocks, .iov = op.iov,
				    .iovcnt = op.iov[1].iov_len ? 2 : 1, .done = single_done,
				    .priv = &op };
	r = nvmf_submit(q, &op.req);
	if (r < 0) {
		fprintf(stderr, "submit: %s\n", strerror(-r));
		return r;
	}
	nvmf_queue_kick(q);
	g_stop = false;
	r = run_until(&g_stop);
	if (r < 0)
		return r;
	if (op.ver) {
		fprintf(stderr, "command %#x failed: status %#" PRIx64 "\n", opc, op.ver);
		return -EIO;
	}
	return 0;
}

static int cmd_rw(const char *what, uint64_t lba, uint32_t blocks, uint64_t seed)
{
	uint32_t bsz = g.info->lba_size;
	uint8_t *buf = malloc((size_t)blocks * bsz);
	bool wr = !strcmp(what, "write") || !strcmp(what, "verify");
	bool rd = !strcmp(what, "read") || !strcmp(what, "verify");
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (wr) {
		for (uint32_t i = 0; i < blocks; i++)
			fill_block(buf + (size_t)i * bsz, bsz, lba + i, seed);
		r = one_cmd(NVME_NVM_WRITE, lba, blocks, buf);
	}
	if (!r && rd) {
		memset(buf, 0xa5, (size_t)blocks * bsz);
		r = one_cmd(NVME_NVM_READ, lba, blocks, buf);
		for (uint32_t i = 0; !r && i < blocks; i++)
			if (!block_is(buf + (size_t)i * bsz, bsz, lba + i, seed)) {
				fprintf(stderr, "mismatch at LBA %" PRIu64 "\n", lba + i);
				r = -EILSEQ;
			}
	}
	free(buf);
	if (!r)
		printf("%s lba=%" PRIu64 " blocks=%u bytes=%zu ok\n", what, lba, blocks,
		       (size_t)blocks * bsz);
	return r;
}

/* ---- random workload ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rand_done(struct nvmf_req *req, uint16_t status);

static void op_start(struct op *op, struct nvmf_queue *q, uint8_t opc, uint64_t lba)
{
	uint32_t bsz = g.info->lba_size;
	size_t len = (size_t)g.bs * bsz;

	op->busy = true;
	for (uint32_t i = 0; i < g.bs; i++)
		g.busy[lba + i] = 1;
	if (opc == NVME_NVM_WRITE) {
		op->ver = ++g.next_ver;
		for (uint32_t i = 0; i < g.bs; i++)
			fill_block(op->buf + (size_t)i * bsz, bsz, lba + i, op->ver);
	}
	op->iov[0] = (struct iovec){ op->buf, len };
	op->req = (struct nvmf_req){ .opc = opc, .slba = lba, .nlb = g.bs, .iov = op->iov,
				     .iovcnt = 1, .done = rand_done, .priv = op };
	if (nvmf_submit(q, &op->req) < 0) {
		fprintf(stderr, "submit failed\n");
		exit(2);
	}
	g.inflight++;
}

static void rand_done(struct nvmf_req *req, uint16_t status)
{
	struct op *op = req->priv;
	uint32_t bsz = g.info->lba_size;

	g.inflight--;
	g.done++;
	op->busy = false;
	for (uint32_t i = 0; i < g.bs; i++) {
		uint64_t lba = req->slba + i;
		const uint8_t *p = op->buf + (size_t)i * bsz;

		g.busy[lba] = 0;
		if (req->opc == NVME_NVM_WRITE) {
			if (status)
				g.alt[lba] = op->ver;   /* old or new: both may be there */
			else
				g.ver[lba] = op->ver, g.alt[lba] = 0;
			continue;
		}
		if (status || !g.ver[lba])
			continue;
		if (block_is(p, bsz, lba, g.ver[lba]) ||
		    (g.alt[lba] && block_is(p, bsz, lba, g.alt[lba]))) {
			if (g.alt[lba] && block_is(p, bsz, lba, g.alt[lba]))
				g.ver[lba] = g.alt[lba];
			g.alt[lba] = 0;
			continue;
		}
		if (g.mismatches++ < 10) {
			uint64_t got_lba, got_ver;

			memcpy(&got_lba, p, 8);
			memcpy(&got_ver, p + 8, 8);
			fprintf(stderr, "mismatch: LBA %" PRIu64 " expected version %" PRIu64
				" has LBA %" PRIu64 " version %" PRIu64 "\n", lba, g.ver[lba],
				got_lba, got_ver);
		}
	}
	if (status && g.errors++ < 10)
		fprintf(stderr, "%s LBA %" PRIu64 ": status %#x\n",
			req->opc == NVME_NVM_WRITE ? "write" : "read", req->slba, status);
}

/* A free run of bs blocks at a random bs-aligned place, or UINT64_MAX. */
static uint64_t pick_lba(void)
{
	uint64_t slots = g.span / g.bs;

	for (int tries = 0; tries < 64; tries++) {
		uint64_t lba = splitmix(&g.rng) % slots * g.bs;

		if (!g.busy[lba])
			return lba;
	}
	return UINT64_MAX;
}

static int save_state(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	for (uint64_t lba = 0; lba < g.span; lba++)
		if (g.ver[lba])
			fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", lba, g.ver[lba], g.alt[lba]);
	return fclose(f) ? -errno : 0;
}

static int load_state(const char *path)
{
	FILE *f = fopen(path, "r");
	uint64_t lba, v, a;

	if (!f)
		return -errno;
	while (fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &lba, &v, &a) == 3)
		if (lba < g.span)
			g.ver[lba] = v, g.alt[lba] = a;
	fclose(f);
	return 0;
}

struct rand_opts {
	unsigned qd;
	uint64_t ios;
	unsigned rw_pct;          /* writes in percent */
	unsigned reconnects;      /* run until at least this many happened */
	const char *state;
	const char *mark;         /* created once ios / 4 commands completed */
	bool check;               /* read every block in the state file */
};

static int cmd_rand(const struct rand_opts *o)
{
	unsigned nq = g.info->nr_io_queues;
	struct op *ops = calloc(o->qd, sizeof(*ops));
	uint64_t next_check = 0, after = 0, since_reconnect = 0, last_rc = 0;
	uint64_t start = now_ms();
	bool marked = !o->mark, checking = o->check, nomem = false;
	struct epoll_event ev[16];

	if (!ops)
		return -ENOMEM;
	for (unsigned i = 0; i < o->qd; i++)
		if (!(ops[i].buf = aligned_alloc(4096, (size_t)g.bs * g.info->lba_size)))
			nomem = true;
	while (!nomem) {
		uint64_t rc = g.info->reconnects;

		if (rc != last_rc) {
			last_rc = rc;
			since_reconnect = 0;
		}
		/* Refill the queue depth; op i always goes to queue i % nq. */
		for (unsigned i = 0; i < o->qd; i++) {
			struct nvmf_queue *q = nvmf_ctrl_queue(g.ctrl, i % nq);
			uint64_t lba;

			if (ops[i].busy)
				continue;
			if (checking) {
				while (next_check < g.span && !g.ver[next_check])
					next_check++;
				if (next_check >= g.span || next_check % g.bs ||
				    g.busy[next_check])
					continue;
				op_start(&ops[i], q, NVME_NVM_READ, next_check);
				next_check += g.bs;
				continue;
			}
			/* Stop at the first failed command: it will not get better. */
			if (g.errors)
				continue;
			if (g.done + g.inflight >= o->ios && rc >= o->reconnects &&
			    (!o->reconnects || since_reconnect >= 1000))
				continue;
			lba = pick_lba();
			if (lba == UINT64_MAX)
				continue;
			op_start(&ops[i], q, splitmix(&g.rng) % 100 < o->rw_pct ?
				 NVME_NVM_WRITE : NVME_NVM_READ, lba);
		}
		for (unsigned i = 0; i < nq; i++)
			nvmf_queue_kick(nvmf_ctrl_queue(g.ctrl, i));
		if (!g.inflight) {
			if (checking || g.errors)
				break;
			/* The workload is done: read back everything it wrote. */
			after = g.done;
			checking = true;
			next_check = 0;
			continue;
		}
		int n = epoll_wait(g.epfd, ev, 16, 1000);

		for (int i = 0; i < n; i++) {
			uint64_t before = g.done;

			if (ev[i].data.u32 == 0)
				nvmf_ctrl_process(g.ctrl);
			else
				nvmf_queue_process(nvmf_ctrl_queue(g.ctrl, ev[i].data.u32 - 1));
			since_reconnect += g.done - before;
		}
		if (!marked && g.done >= o->ios / 4) {
			FILE *f = fopen(o->mark, "w");

			if (f)
				fclose(f);
			marked = true;
		}
	}
	uint64_t ms = now_ms() - start, ios = after ? after : g.done;

	printf("rand qd=%u bs=%u ios=%" PRIu64 " checked=%" PRIu64 " ms=%" PRIu64
	       " iops=%" PRIu64 " reconnects=%" PRIu64 " errors=%" PRIu64
	       " mismatches=%" PRIu64 "\n", o->qd, g.bs * g.info->lba_size, ios,
	       after ? g.done - after : g.done, ms, ms ? ios * 1000 / ms : 0,
	       g.info->reconnects, g.errors, g.mismatches);
	for (unsigned i = 0; i < o->qd; i++)
		free(ops[i].buf);
	free(ops);
	if (nomem)
		return -ENOMEM;
	if (o->state && !o->check) {
		int r = save_state(o->state);

		if (r < 0)
			return r;
	}
	return g.errors || g.mismatches ? -EIO : 0;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into its 16 bytes. */
static int parse_uuid(const char *s, uint8_t u[16])
{
	for (int i = 0; i < 16; i++) {
		if ((i == 4 || i == 6 || i == 8 || i == 10) && *s++ != '-')
			return -EINVAL;
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -EINVAL;
		u[i] = (uint8_t)strtoul((char[3]){ s[0], s[1], '\0' }, NULL, 16);
		s += 2;
	}
	return *s ? -EINVAL : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nvmf_cli -t ADDR:PORT -n SUBNQN [options] CMD [ARGS]\n"
		"  -t ADDR:PORT   target (port 4420 if absent)\n"
		"  -n NQN         subsystem NQN\n"
		"  -H, -D         ask for header, data digests\n"
		"  -q N           I/O queues (1)        -d N  queue depth in total (32)\n"
		"  -b N           blocks per command in rand/check (1)\n"
		"  -s N           blocks the workload spans (4096)\n"
		"  -i N           commands in rand (10000) -w PCT  writes (50)\n"
		"  -r N           run until N reconnects happened (0)\n"
		"  -S FILE        state file (rand writes it, check reads it)\n"
		"  -m FILE        rand creates FILE once a quarter of -i completed\n"
		"  -k MS          keep alive timeout (5000)  -R MS  reconnect timeout (30000)\n"
		"  -u UUID        the host: HOSTID UUID, host NQN its uuid: form (a fixed one)\n"
		"  -e N           attachment epoch N, tagged on the host NQN as cv-ebs does\n"
		"  -P FILE        TLS 1.3 with this PSK (interchange format), as cv-ebs\n"
		"  -v             verbose log\n"
		"CMD: info | verify LBA BLOCKS SEED | write LBA BLOCKS SEED |\n"
		"     read LBA BLOCKS SEED | rand | check\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct nvmf_opts o = {
		.port = "4420", .nr_io_queues = 1, .queue_size = 32,
		.kato_ms = 5000, .connect_timeout_ms = 5000, .reconnect_timeout_ms = 30000,
	};
	const char *host = "6b1b5e5a-9d8e-4c43-9c2a-6e76c1d0a001";
	char hostnqn[NVMF_NQN_MAX + 1];
	struct rand_opts ro = { .qd = 32, .ios = 10000, .rw_pct = 50 };
	struct epoll_event ev = { .events = EPOLLIN };
	char target[300] = "";
	const char *psk_file = NULL;
	unsigned long long epoch = 0;
	struct nvme_tls_key psk;
	bool verbose = false;
	int c, r;

	g.bs = 1;
	g.span = 4096;
	g.rng = 0x5eed;
	while ((c = getopt(argc, argv, "t:n:HDq:d:b:s:i:w:r:S:m:k:R:u:e:P:v")) != -1) {
		switch (c) {
		case 't': snprintf(target, sizeof(target), "%s", optarg); break;
		case 'n': o.subnqn = optarg; break;
		case 'H': o.hdgst = true; break;
		case 'D': o.ddgst = true; break;
		case 'q': o.nr_io_queues = atoi(optarg); break;
		case 'd': ro.qd = atoi(optarg); break;
		case 'b': g.bs = atoi(optarg); break;
		case 's': g.span = strtoull(optarg, NULL, 0); break;
		case 'i': ro.ios = strtoull(optarg, NULL, 0); break;
		case 'w': ro.rw_pct = atoi(optarg); break;
		case 'r': ro.reconnects = atoi(optarg); break;
		case 'S': ro.state = optarg; break;
		case 'm': ro.mark = optarg; break;
		case 'k': o.kato_ms = atoi(optarg); break;
		case 'R': o.reconnect_timeout_ms = atoi(optarg); break;
		case 'u': host = optarg; break;
		case 'e': epoch = strtoull(optarg, NULL, 10); break;
		case 'P': psk_file = optarg; break;
		case 'v': verbose = true; break;
		default: usage();
		}
	}
	if (optind >= argc || !target[0] || !o.subnqn || !ro.qd || !g.bs || g.span < g.bs ||
	    parse_uuid(host, o.hostid))
		usage();
	/* Base 2.0, "NVMe Qualified Names": the UUID-based NQN of the host. */
	snprintf(hostnqn, sizeof(hostnqn), "nqn.2014-08.org.nvmexpress:uuid:%s", host);
	if (host_epoch_nqn(hostnqn, sizeof(hostnqn), strdupa(hostnqn), epoch))
		usage();
	o.hostnqn = hostnqn;
	char *colon = strrchr(target, ':');

	if (colon) {
		*colon = '\0';
		o.port = colon + 1;
	}
	o.addr = target;
	/* Enough tags per queue for the whole depth spread over the queues. */
	o.queue_size = (ro.qd + o.nr_io_queues - 1) / o.nr_io_queues;
	cv_log_init("nvmf_cli", verbose);
	if (psk_file) {
		if (nvme_tls_key_load(psk_file, &psk))
			return 1;
		o.tls_key = &psk;
	}
	r = nvmf_ctrl_connect(&o, &g.ctrl);
	if (r < 0)
		return 1;
	g.info = nvmf_ctrl_info(g.ctrl);
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.u32 = 0;
	epoll_ctl(g.epfd, EPOLL_CTL_ADD, nvmf_ctrl_fd(g.ctrl), &ev);
	for (unsigned i = 0; i < g.info->nr_io_queues; i++) {
		ev.data.u32 = i + 1;
		epoll_ctl(g.epfd, EPOLL_CTL_ADD, nvmf_queue_fd(nvmf_ctrl_queue(g.ctrl, i)), &ev);
	}
	if (g.span > g.info->nsze)
		g.span = g.info->nsze - g.info->nsze % g.bs;
	const char *cmd = argv[optind];

	if (!strcmp(cmd, "info")) {
		printf("cntlid=%u nsid=%u nsze=%" PRIu64 " lba_size=%u max_xfer=%u icdata=%u "
		       "maxh2cdata=%u hdgst=%d ddgst=%d queues=%u qsize=%u\n", g.info->cntlid,
		       g.info->nsid, g.info->nsze, g.info->lba_size, g.info->max_xfer,
		       g.info->max_icdata, g.info->maxh2cdata, g.info->hdgst, g.info->ddgst,
		       g.info->nr_io_queues, g.info->queue_size);
	} else if (!strcmp(cmd, "verify") || !strcmp(cmd, "write") || !strcmp(cmd, "read")) {
		if (argc - optind != 4)
			usage();
		r = cmd_rw(cmd, strtoull(argv[optind + 1], NULL, 0),
			   strtoul(argv[optind + 2], NULL, 0), strtoull(argv[optind + 3], NULL, 0));
	} else if (!strcmp(cmd, "rand") || !strcmp(cmd, "check")) {
		g.ver = calloc(g.span, sizeof(*g.ver));
		g.alt = calloc(g.span, sizeof(*g.alt));
		g.busy = calloc(g.span, 1);
		if (!g.ver || !g.alt || !g.busy)
			return 1;
		ro.check = !strcmp(cmd, "check");
		if (ro.check && (!ro.state || (r = load_state(ro.state)) < 0)) {
			fprintf(stderr, "check needs a readable -S state file\n");
			return 1;
		}
		/* Versions of this run must differ from any in the state file. */
		g.next_ver = (uint64_t)time(NULL) << 20;
		g.rng ^= g.next_ver;
		r = cmd_rand(&ro);
	} else {
		usage();
	}
	nvmf_ctrl_free(g.ctrl);
	close(g.epfd);
	free(g.ver);
	free(g.alt);
	free(g.busy);
	if (r < 0)
		fprintf(stderr, "nvmf_cli %s: %s\n", cmd, strerror(-r));
	return r < 0 ? 1 : 0;
}
