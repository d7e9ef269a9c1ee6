/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/workload.h"

#include <stdint.h>

#include "tests/guest/io.h"
#include "tests/guest/lib.h"
#include "tests/guest/nvme.h"
#include "tests/guest/tsc.h"
#include "tests/guest/user.h"

#define IO_TIMEOUT_MS 10000
/* After this long without a completion, look at CSTS for a dead or failed
 * controller (one MMIO read) rather than wait out IO_TIMEOUT_MS. */
#define FAULT_CHECK_MS 200

/* Sequential pattern: transfers up to XFER_MAX, plus a page for the
 * unaligned starts that give PRP1 an offset. */
#define XFER_MAX         (128u * 1024)
#define PATTERN_BLOCKS   1024
#define PATTERN_SEED     0x6376677565737431ull  /* "cvguest1" */

/* Random workload: 4 KiB units, one buffer per outstanding command. */
#define RAND_UNIT        4096u
#define RAND_QD_MAX      32
#define RAND_SPAN_MAX    65536
#define RAND_MAGIC       0x52564743u            /* "CGVR" */
#define LAT_SAMPLES      4096
#define LAT_BUCKETS      64

static struct nvme_ctrl ctrl;

/* PCI configuration is port I/O: ring 0 only (user.h). */
static int init_ctrl(void *options)
{
	return nvme_init(&ctrl, options);
}

static uint8_t wbuf[XFER_MAX + NVME_PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t rbuf[XFER_MAX + NVME_PAGE_SIZE] __attribute__((aligned(4096)));
static uint64_t prp_lists[RAND_QD_MAX][NVME_PAGE_SIZE / 8] __attribute__((aligned(4096)));
static uint8_t slot_buf[RAND_QD_MAX][RAND_UNIT] __attribute__((aligned(4096)));
static uint32_t unit_gen[RAND_SPAN_MAX];
static uint8_t unit_busy[RAND_SPAN_MAX];
static uint32_t lat_sample[LAT_SAMPLES];
/* nvme-rand's units start past the pattern, which nvme-check can still read. */
static uint64_t rand_base;

struct opts {
	const char *cmdline;
	bool sgl;       /* use SGLs where the controller takes them */
};

static uint64_t ilog2(uint64_t v)
{
	return v ? 63 - (uint64_t)__builtin_clzll(v) : 0;
}

/* ---- one synchronous I/O, shared by the pattern and bad-command runs ---- */

/*
 * A command that times out is submitted again on the reset controller, as
 * a host would retry it (nvme_recover bounds how often).
 */
static int io_sync(struct nvme_queue *q, struct nvme_sqe *sqe, struct nvme_cqe *cqe)
{
	int err;

	for (;;) {
		err = nvme_exec(&ctrl, q, sqe, cqe, IO_TIMEOUT_MS);
		if (!err)
			return 0;
		report("cvguest: nvme io opcode 0x%x q%u timed out\n", sqe->opc, q->qid);
		const char *fault = nvme_fault(&ctrl);
		if (nvme_recover(&ctrl, fault ? fault : "timeout"))
			return err;
	}
}

/* Read or Write of @nlb blocks at @lba through @buf; -EIO on error status. */
static int rw_sync(struct nvme_queue *q, uint8_t opc, uint64_t lba, uint32_t nlb,
		   void *buf, bool sgl)
{
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	int err;

	nvme_rw_sqe(&sqe, opc, lba, nlb);
	err = nvme_map(&sqe, buf, nlb * ctrl.lba_size, prp_lists[0], sgl);
	if (!err)
		err = io_sync(q, &sqe, &cqe);
	if (!err && nvme_cqe_code(cqe.status)) {
		report("cvguest: nvme %s lba=%lu blocks=%u %s status " NVME_CODE_FMT "\n",
			opc == NVME_NVM_WRITE ? "write" : "read", lba, nlb,
			sgl ? "sgl" : "prp", NVME_CODE_ARGS(nvme_cqe_code(cqe.status)));
		err = -EIO;
	}
	return err;
}

/* ---- "nvme" and "nvme-check": a pattern any later boot can verify ---- */

static uint64_t pattern_word(uint64_t lba, uint32_t i)
{
	return mix64((lba << 12 | i) ^ PATTERN_SEED);
}

static void pattern_fill(uint8_t *buf, uint64_t lba, uint32_t nlb)
{
	uint32_t words = ctrl.lba_size / 8;

	for (uint32_t b = 0; b < nlb; b++) {
		uint64_t *w = (uint64_t *)(buf + (size_t)b * ctrl.lba_size);

		for (uint32_t i = 0; i < words; i++)
			w[i] = pattern_word(lba + b, i);
	}
}

static int pattern_check(const uint8_t *buf, uint64_t lba, uint32_t nlb, const char *what)
{
	uint32_t words = ctrl.lba_size / 8;

	for (uint32_t b = 0; b < nlb; b++) {
		const uint64_t *w = (const uint64_t *)(buf + (size_t)b * ctrl.lba_size);

		for (uint32_t i = 0; i < words; i++) {
			if (w[i] == pattern_word(lba + b, i))
				continue;
			report("cvguest: nvme %s fail lba=%lu word=%u got=0x%lx want=0x%lx\n",
				what, lba + b, i, w[i], pattern_word(lba + b, i));
			return -EIO;
		}
	}
	return 0;
}

/*
 * Transfer n of a pass: its size cycles through one block, one page, two
 * pages (PRP2 as a page), three pages and the largest (PRP lists); every
 * third starts 512 bytes into a page (PRP1 with an offset), and every
 * other one uses an SGL when the controller has them.
 */
static uint32_t xfer_blocks(unsigned int n, uint64_t left)
{
	static const uint32_t sizes[] = { 0, 4096, 8192, 12288, XFER_MAX };
	uint32_t max = ctrl.max_xfer < XFER_MAX ? ctrl.max_xfer : XFER_MAX;
	uint32_t bytes = sizes[n % 5] ? sizes[n % 5] : ctrl.lba_size;
	uint32_t nlb;

	if (bytes > max)
		bytes = max;
	nlb = bytes / ctrl.lba_size;
	if (!nlb)
		nlb = 1;
	return nlb < left ? nlb : (uint32_t)left;
}

static uint32_t xfer_offset(unsigned int n)
{
	return n % 3 == 2 && ctrl.lba_size == 512 ? 512 : 0;
}

/* Writes (if @write) then reads back and checks blocks [@first, @first+@count). */
static int pattern_pass(const struct opts *o, uint64_t first, uint64_t count, bool write,
			const char *what)
{
	unsigned int cmds = 0, sgls = 0;
	uint64_t t0 = rdtsc(), t_write = 0;
	int err;

	for (int phase = write ? 0 : 1; phase < 2; phase++) {
		/* The read pass starts the size cycle elsewhere so its transfers
		 * straddle the write pass's boundaries. */
		unsigned int n = phase ? 2 : 0;

		for (uint64_t lba = first; lba < first + count; n++) {
			uint32_t nlb = xfer_blocks(n, first + count - lba);
			bool sgl = o->sgl && ctrl.sgl && n % 2;
			struct nvme_queue *q = &ctrl.io[n % ctrl.nr_io];
			uint8_t *buf = (phase ? rbuf : wbuf) + xfer_offset(n);

			if (phase) {
				memset(buf, 0xa5, (size_t)nlb * ctrl.lba_size);
				err = rw_sync(q, NVME_NVM_READ, lba, nlb, buf, sgl);
				if (!err)
					err = pattern_check(buf, lba, nlb, what);
			} else {
				pattern_fill(buf, lba, nlb);
				err = rw_sync(q, NVME_NVM_WRITE, lba, nlb, buf, sgl);
			}
			if (err)
				return err;
			cmds++;
			sgls += sgl;
			lba += nlb;
		}
		if (!phase) {
			struct nvme_sqe flush = { .opc = NVME_NVM_FLUSH, .nsid = 1 };
			struct nvme_cqe cqe;

			err = io_sync(&ctrl.io[0], &flush, &cqe);
			if (!err && nvme_cqe_code(cqe.status)) {
				report("cvguest: nvme flush status " NVME_CODE_FMT "\n",
					NVME_CODE_ARGS(nvme_cqe_code(cqe.status)));
				err = -EIO;
			}
			if (err)
				return err;
			t_write = rdtsc() - t0;
		}
	}
	report("cvguest: nvme %s ok blocks=%lu cmds=%u sgl=%u tsc_write=%lu tsc_total=%lu\n",
		what, count, cmds, sgls, t_write, rdtsc() - t0);
	return 0;
}

static uint64_t pattern_blocks(const struct opts *o)
{
	uint64_t n = cmdline_value(o->cmdline, "blocks", PATTERN_BLOCKS);

	return n < ctrl.nsze ? n : ctrl.nsze;
}

/* ---- "nvme-rand": random 4 KiB I/O at a queue depth ---- */

struct rand_slot {
	struct nvme_sqe sqe;  /* kept to submit again after a controller reset */
	bool active;       /* a command is in flight */
	uint32_t unit;
	uint32_t gen;      /* the generation a write stores */
	bool write;
	uint64_t t0;
};

struct rand_stats {
	unsigned int reads, writes, verified, fresh, samples;
	uint64_t lat_min, lat_max, hist[LAT_BUCKETS];
};

/*
 * Every block of a unit carries its LBA and the unit's write generation at
 * both ends, so a read proves it got the newest acknowledged write of that
 * very block, not a stale, misplaced or torn one.
 */
static uint64_t rand_trailer(uint64_t lba, uint32_t gen)
{
	return mix64(lba ^ (uint64_t)gen << 40 ^ PATTERN_SEED);
}

static void rand_fill(uint8_t *buf, uint64_t lba, uint32_t gen)
{
	for (uint32_t off = 0; off < RAND_UNIT; off += ctrl.lba_size, lba++) {
		uint32_t *h = (uint32_t *)(buf + off);
		uint64_t *t = (uint64_t *)(buf + off + ctrl.lba_size - 8);

		h[0] = RAND_MAGIC;
		h[1] = gen;
		memcpy(&h[2], &lba, sizeof(lba));
		*t = rand_trailer(lba, gen);
	}
}

static int rand_check(const uint8_t *buf, uint64_t lba, uint32_t gen)
{
	for (uint32_t off = 0; off < RAND_UNIT; off += ctrl.lba_size, lba++) {
		const uint32_t *h = (const uint32_t *)(buf + off);
		const uint64_t *t = (const uint64_t *)(buf + off + ctrl.lba_size - 8);
		uint64_t got_lba;

		memcpy(&got_lba, &h[2], sizeof(got_lba));
		if (h[0] == RAND_MAGIC && h[1] == gen && got_lba == lba &&
		    *t == rand_trailer(lba, gen))
			continue;
		report("cvguest: nvme-rand fail lba=%lu want gen=%u got magic=0x%x gen=%u "
			"lba=%lu\n", lba, gen, h[0], h[1], got_lba);
		return -EIO;
	}
	return 0;
}

/* A random unit no outstanding command uses: span > qd, so one exists. */
static uint32_t rand_pick_unit(uint64_t *rng, uint32_t span)
{
	uint32_t u = (uint32_t)(prng_next(rng) % span);

	while (unit_busy[u])
		u = (u + 1) % span;
	return u;
}

static void rand_submit(struct rand_slot *s, unsigned int slot, uint64_t *rng,
			uint32_t span, unsigned int read_pct, bool sgl)
{
	uint32_t per_unit = RAND_UNIT / ctrl.lba_size;
	struct nvme_queue *q = &ctrl.io[slot % ctrl.nr_io];
	struct nvme_sqe sqe;

	s->unit = rand_pick_unit(rng, span);
	s->write = prng_next(rng) % 100 >= read_pct;
	unit_busy[s->unit] = 1;
	if (s->write) {
		s->gen = unit_gen[s->unit] + 1;
		rand_fill(slot_buf[slot], rand_base + (uint64_t)s->unit * per_unit, s->gen);
	}
	nvme_rw_sqe(&sqe, s->write ? NVME_NVM_WRITE : NVME_NVM_READ,
		    rand_base + (uint64_t)s->unit * per_unit, per_unit);
	nvme_map(&sqe, slot_buf[slot], RAND_UNIT, prp_lists[slot], sgl);
	sqe.cid = (uint16_t)slot;
	s->sqe = sqe;
	s->active = true;
	s->t0 = rdtsc();
	nvme_sq_push(q, &sqe);
}

/*
 * The controller is reset and every command in flight submitted again:
 * the new controller knows none of them.  A write among them may or may
 * not have reached the medium before; it stores the same data and
 * generation again, and no other command touches its unit until it
 * completes, so reads keep expecting the newest acknowledged generation.
 */
static int rand_recover(const struct rand_slot *slots, unsigned int qd, const char *reason)
{
	int err = nvme_recover(&ctrl, reason);

	if (err) {
		report("cvguest: nvme-rand fail controller reset (%s): %d\n", reason, err);
		return err;
	}
	for (unsigned int slot = 0; slot < qd; slot++)
		if (slots[slot].active)
			nvme_sq_push(&ctrl.io[slot % ctrl.nr_io], &slots[slot].sqe);
	for (unsigned int i = 0; i < ctrl.nr_io; i++)
		nvme_sq_ring(&ctrl.io[i]);
	return 0;
}

static int rand_complete(struct rand_slot *s, const struct nvme_cqe *cqe,
			 struct rand_stats *st, unsigned int done, unsigned int ops)
{
	uint64_t lat = rdtsc() - s->t0;
	uint32_t per_unit = RAND_UNIT / ctrl.lba_size;
	uint16_t code = nvme_cqe_code(cqe->status);

	unit_busy[s->unit] = 0;
	if (code) {
		report("cvguest: nvme-rand fail %s unit=%u status " NVME_CODE_FMT "\n",
			s->write ? "write" : "read", s->unit, NVME_CODE_ARGS(code));
		return -EIO;
	}
	st->hist[ilog2(lat)]++;
	if (lat < st->lat_min)
		st->lat_min = lat;
	if (lat > st->lat_max)
		st->lat_max = lat;
	/* Evenly spaced samples over the run, for the percentiles. */
	if (st->samples < LAT_SAMPLES &&
	    (uint64_t)done * LAT_SAMPLES / ops >= st->samples)
		lat_sample[st->samples++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	if (s->write) {
		st->writes++;
		unit_gen[s->unit] = s->gen;
		return 0;
	}
	st->reads++;
	if (!unit_gen[s->unit]) {
		st->fresh++;  /* not written in this boot: nothing to compare */
		return 0;
	}
	st->verified++;
	return rand_check(slot_buf[cqe->cid], rand_base + (uint64_t)s->unit * per_unit,
			  unit_gen[s->unit]);
}

/* Heapsort: no recursion and no scratch, for the latency samples. */
static void sift_down(uint32_t *a, unsigned int root, unsigned int n)
{
	for (unsigned int child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		uint32_t t = a[root];
		a[root] = a[child];
		a[child] = t;
	}
}

static void sort_u32(uint32_t *a, unsigned int n)
{
	for (unsigned int i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (unsigned int end = n; end-- > 1;) {
		uint32_t t = a[0];
		a[0] = a[end];
		a[end] = t;
		sift_down(a, 0, end);
	}
}

static void rand_report(const struct rand_stats *st, unsigned int ops, uint64_t tsc)
{
	char line[512];
	size_t len = 0;

	report("cvguest: nvme-rand done ops=%u reads=%u writes=%u verified=%u fresh=%u "
		"tsc=%lu tsc_hz=%lu irqs=%lu doorbells=%lu/%lu\n", ops, st->reads, st->writes,
		st->verified, st->fresh, tsc, tsc_hz(), nvme_irq_count(),
		nvme_doorbell_writes(), nvme_doorbell_rings());
	sort_u32(lat_sample, st->samples);
	if (st->samples)
		report("cvguest: nvme-rand lat_tsc min=%lu p50=%u p99=%u max=%lu samples=%u\n",
			st->lat_min, lat_sample[st->samples / 2],
			lat_sample[(uint64_t)st->samples * 99 / 100], st->lat_max, st->samples);
	line[0] = '\0';
	for (unsigned int b = 0; b < LAT_BUCKETS && len < sizeof(line); b++)
		if (st->hist[b])
			len += snprintf(line + len, sizeof(line) - len, " %u:%lu", b, st->hist[b]);
	report("cvguest: nvme-rand hist_log2_tsc%s\n", line);
}

static int nvme_rand(const struct opts *o)
{
	unsigned int qd = (unsigned int)cmdline_value(o->cmdline, "qd", 1);
	unsigned int ops = (unsigned int)cmdline_value(o->cmdline, "ops", 1000);
	unsigned int read_pct = (unsigned int)cmdline_value(o->cmdline, "reads", 50);
	uint64_t span = cmdline_value(o->cmdline, "span", 1024);
	uint64_t rng = cmdline_value(o->cmdline, "seed", 1);
	uint32_t per_unit = RAND_UNIT / ctrl.lba_size;
	struct rand_slot slots[RAND_QD_MAX];
	struct rand_stats st = { .lat_min = UINT64_MAX };
	bool sgl = o->sgl && ctrl.sgl && cmdline_has_word(o->cmdline, "sgl");
	unsigned int issued = 0, done = 0;

	rand_base = (pattern_blocks(o) + per_unit - 1) / per_unit * per_unit;
	if (rand_base >= ctrl.nsze)
		rand_base = 0;
	if (span > (ctrl.nsze - rand_base) / per_unit)
		span = (ctrl.nsze - rand_base) / per_unit;
	if (span > RAND_SPAN_MAX)
		span = RAND_SPAN_MAX;
	if (!qd || qd > RAND_QD_MAX || !ops || read_pct > 100 || span <= qd ||
	    (qd + ctrl.nr_io - 1) / ctrl.nr_io > ctrl.io[0].size - 1u) {
		report("cvguest: nvme-rand fail bad parameters qd=%u ops=%u reads=%u span=%lu\n",
			qd, ops, read_pct, span);
		return -EINVAL;
	}
	memset(unit_gen, 0, sizeof(unit_gen));
	memset(unit_busy, 0, sizeof(unit_busy));
	report("cvguest: nvme-rand start qd=%u ops=%u reads=%u%% lba=%lu span=%lu queues=%u "
		"mode=%s %s\n", qd, ops, read_pct, rand_base, span, ctrl.nr_io,
		ctrl.irq ? "msix" : "poll", sgl ? "sgl" : "prp");

	uint64_t t0 = rdtsc(), deadline = tsc_deadline_ms(IO_TIMEOUT_MS);
	uint64_t check = tsc_deadline_ms(FAULT_CHECK_MS);
	for (; issued < qd && issued < ops; issued++)
		rand_submit(&slots[issued], issued, &rng, (uint32_t)span, read_pct, sgl);
	for (unsigned int i = 0; i < ctrl.nr_io; i++)
		nvme_sq_ring(&ctrl.io[i]);

	while (done < ops) {
		bool progress = false;

		for (unsigned int i = 0; i < ctrl.nr_io; i++) {
			struct nvme_queue *q = &ctrl.io[i];
			struct nvme_cqe cqe;
			bool popped = false;

			for (unsigned int n = 0; n < q->size && nvme_cq_pop(q, &cqe); n++) {
				popped = true;
				if (cqe.cid >= qd || cqe.cid % ctrl.nr_io != i ||
				    !slots[cqe.cid].active) {
					report("cvguest: nvme-rand fail completion for cid %u on q%u "
					       "not in flight\n", cqe.cid, q->qid);
					return -EPROTO;
				}
				slots[cqe.cid].active = false;
				int err = rand_complete(&slots[cqe.cid], &cqe, &st, done, ops);
				if (err)
					return err;
				done++;
				if (issued < ops) {
					rand_submit(&slots[cqe.cid], cqe.cid, &rng, (uint32_t)span,
						    read_pct, sgl);
					issued++;
				}
			}
			if (popped) {
				nvme_cq_ring(q);
				nvme_sq_ring(q);
				progress = true;
			}
		}
		const char *fault = NULL;

		if (progress) {
			deadline = tsc_deadline_ms(IO_TIMEOUT_MS);
			check = tsc_deadline_ms(FAULT_CHECK_MS);
			continue;
		}
		if (rdtsc() > check) {
			fault = nvme_fault(&ctrl);
			check = tsc_deadline_ms(FAULT_CHECK_MS);
		}
		if (!fault && rdtsc() > deadline) {
			report("cvguest: nvme-rand timeout done=%u issued=%u\n", done, issued);
			fault = "timeout";
		}
		if (fault) {
			int err = rand_recover(slots, qd, fault);

			if (err)
				return err;
			deadline = tsc_deadline_ms(IO_TIMEOUT_MS);
		} else {
			nvme_idle(&ctrl);
		}
	}
	rand_report(&st, ops, rdtsc() - t0);
	return 0;
}

/* ---- "nvme-bad": malformed commands, answered with the spec's status ---- */

struct bad_tally {
	unsigned int ok, differs, fail, skipped;
};

/* Three pages: a controller that wrongly honours prp2-offset writes past
 * the second. */
static uint8_t scratch[3 * NVME_PAGE_SIZE] __attribute__((aligned(4096)));

/*
 * "ok": the status the spec names; "differs": another error (reported, not
 * fatal: some checks are "may" in the spec); "fail": success or no answer.
 * Success is only "accepted" where a controller cannot always tell (DMA to
 * an address nothing answers: QEMU reads it as zeroes).
 */
static void bad_report(struct bad_tally *t, const char *name, uint16_t expect, int err,
		       const struct nvme_cqe *cqe)
{
	uint16_t got = err ? 0 : nvme_cqe_code(cqe->status);
	bool lenient = expect == NVME_SC_DATA_XFER_ERROR;
	const char *verdict = err ? "fail" : got == expect ? "ok" : got ? "differs" :
			      lenient ? "accepted" : "fail";

	if (err)
		report("cvguest: nvme-bad %s expect=" NVME_CODE_FMT " got=timeout fail\n",
			name, NVME_CODE_ARGS(expect));
	else
		report("cvguest: nvme-bad %s expect=" NVME_CODE_FMT " got=" NVME_CODE_FMT
			" %s\n", name, NVME_CODE_ARGS(expect), NVME_CODE_ARGS(got), verdict);
	t->ok += verdict[0] == 'o';
	t->differs += verdict[0] == 'd' || verdict[0] == 'a';
	t->fail += verdict[0] == 'f';
}

static void bad_skip(struct bad_tally *t, const char *name, const char *why)
{
	report("cvguest: nvme-bad %s skip %s\n", name, why);
	t->skipped++;
}

static void bad_admin(struct bad_tally *t, const char *name, uint16_t expect,
		      struct nvme_sqe *sqe)
{
	struct nvme_cqe cqe;
	int err = nvme_exec(&ctrl, &ctrl.admin, sqe, &cqe, IO_TIMEOUT_MS);

	bad_report(t, name, expect, err, &cqe);
	/* A queue wrongly created must not linger with our scratch page. */
	if (!err && !nvme_cqe_code(cqe.status) &&
	    (sqe->opc == NVME_ADMIN_CREATE_SQ || sqe->opc == NVME_ADMIN_CREATE_CQ)) {
		struct nvme_sqe del = {
			.opc = sqe->opc == NVME_ADMIN_CREATE_SQ ? NVME_ADMIN_DELETE_SQ :
								  NVME_ADMIN_DELETE_CQ,
			.cdw10 = sqe->cdw10 & 0xffff,
		};
		nvme_admin(&ctrl, &del, &cqe);
	}
}

static void bad_io(struct bad_tally *t, const char *name, uint16_t expect,
		   struct nvme_sqe *sqe)
{
	struct nvme_cqe cqe;

	bad_report(t, name, expect, io_sync(&ctrl.io[0], sqe, &cqe), &cqe);
}

static void bad_queues(struct bad_tally *t)
{
	uint16_t spare = (uint16_t)(ctrl.nr_io + 1);
	uint32_t mqes = NVME_CAP_MQES(ctrl.cap);
	struct nvme_sqe sqe;

	/* Base, "Create I/O Submission Queue": qid 0 is the admin queue's. */
	static const struct { const char *name; uint16_t qid; } qids[] = {
		{ "create-sq-qid-0", 0 }, { "create-sq-qid-in-use", 1 },
		{ "create-sq-qid-ffff", 0xffff },
	};
	for (unsigned int i = 0; i < sizeof(qids) / sizeof(qids[0]); i++) {
		sqe = (struct nvme_sqe){
			.opc = NVME_ADMIN_CREATE_SQ,
			.dptr.prp.prp1 = (uintptr_t)scratch,
			.cdw10 = 1u << 16 | qids[i].qid,
			.cdw11 = 1u << 16 | NVME_QUEUE_PHYS_CONTIG,
		};
		bad_admin(t, qids[i].name, NVME_SC_INVALID_QID, &sqe);
	}
	if (spare > ctrl.nr_alloc) {
		bad_skip(t, "create-sq-cq-missing", "no spare queue id");
		bad_skip(t, "create-cq-qsize", "no spare queue id");
		bad_skip(t, "create-sq-qsize", "no spare queue id");
		return;
	}
	sqe = (struct nvme_sqe){
		.opc = NVME_ADMIN_CREATE_SQ,
		.dptr.prp.prp1 = (uintptr_t)scratch,
		.cdw10 = 1u << 16 | spare,
		.cdw11 = (uint32_t)spare << 16 | NVME_QUEUE_PHYS_CONTIG,
	};
	bad_admin(t, "create-sq-cq-missing", NVME_SC_CQ_INVALID, &sqe);
	if (mqes >= 0xffff) {
		bad_skip(t, "create-cq-qsize", "mqes is the maximum");
		bad_skip(t, "create-sq-qsize", "mqes is the maximum");
		return;
	}
	/* QSIZE is 0's based: MQES + 1 asks for one entry too many. */
	sqe = (struct nvme_sqe){
		.opc = NVME_ADMIN_CREATE_CQ,
		.dptr.prp.prp1 = (uintptr_t)scratch,
		.cdw10 = (mqes + 1) << 16 | spare,
		.cdw11 = NVME_QUEUE_PHYS_CONTIG,
	};
	bad_admin(t, "create-cq-qsize", NVME_SC_INVALID_QSIZE, &sqe);
	sqe = (struct nvme_sqe){
		.opc = NVME_ADMIN_CREATE_SQ,
		.dptr.prp.prp1 = (uintptr_t)scratch,
		.cdw10 = (mqes + 1) << 16 | spare,
		.cdw11 = 1u << 16 | NVME_QUEUE_PHYS_CONTIG,
	};
	bad_admin(t, "create-sq-qsize", NVME_SC_INVALID_QSIZE, &sqe);
}

static void bad_data_pointers(struct bad_tally *t)
{
	uint32_t per_page = NVME_PAGE_SIZE / ctrl.lba_size;
	struct nvme_sqe sqe;

	/* Above any RAM and below the 40-bit physical address limit. */
	/* The last block: a controller that reads zeroes there must not spoil
	 * the pattern at the start for "nvme-check". */
	nvme_rw_sqe(&sqe, NVME_NVM_WRITE, ctrl.nsze - 1, 1);
	sqe.dptr.prp.prp1 = 0x8000000000ull;
	bad_io(t, "prp-outside-ram", NVME_SC_DATA_XFER_ERROR, &sqe);

	/* Base, "Physical Region Page Entry and List": only PRP1 has an offset. */
	nvme_rw_sqe(&sqe, NVME_NVM_READ, 0, 2 * per_page);
	sqe.dptr.prp.prp1 = (uintptr_t)scratch;
	sqe.dptr.prp.prp2 = (uintptr_t)scratch + NVME_PAGE_SIZE + 0x200;
	bad_io(t, "prp2-offset", NVME_SC_PRP_INVALID_OFFSET, &sqe);

	nvme_rw_sqe(&sqe, NVME_NVM_READ, 0, 3 * per_page);
	prp_lists[0][0] = (uintptr_t)rbuf + 0x200;
	prp_lists[0][1] = (uintptr_t)rbuf + NVME_PAGE_SIZE;
	sqe.dptr.prp.prp1 = (uintptr_t)scratch;
	sqe.dptr.prp.prp2 = (uintptr_t)prp_lists[0];
	bad_io(t, "prp-list-offset", NVME_SC_PRP_INVALID_OFFSET, &sqe);

	/* One page over MDTS; every list entry names the same page. */
	uint64_t mdts_bytes = ctrl.mdts && ctrl.mdts < 20 ? (uint64_t)NVME_PAGE_SIZE << ctrl.mdts : 0;
	uint64_t pages = mdts_bytes / NVME_PAGE_SIZE + 1;
	if (!mdts_bytes || pages - 1 > NVME_PAGE_SIZE / 8 || pages * per_page > 0x10000) {
		bad_skip(t, "over-mdts", "mdts unlimited or too large for one prp list");
	} else {
		nvme_rw_sqe(&sqe, NVME_NVM_READ, 0, (uint32_t)(pages * per_page));
		for (uint64_t i = 0; i < pages - 1; i++)
			prp_lists[0][i] = (uintptr_t)scratch;
		sqe.dptr.prp.prp1 = (uintptr_t)scratch;
		sqe.dptr.prp.prp2 = (uintptr_t)prp_lists[0];
		bad_io(t, "over-mdts", NVME_SC_INVALID_FIELD, &sqe);
	}
}

static void bad_commands(struct bad_tally *t)
{
	struct nvme_sqe sqe;

	nvme_rw_sqe(&sqe, NVME_NVM_READ, ctrl.nsze, 1);
	nvme_map(&sqe, scratch, ctrl.lba_size, prp_lists[0], false);
	bad_io(t, "lba-out-of-range", NVME_SC_LBA_RANGE, &sqe);

	nvme_rw_sqe(&sqe, NVME_NVM_READ, ctrl.nsze - 1, 2);
	nvme_map(&sqe, scratch, 2 * ctrl.lba_size, prp_lists[0], false);
	bad_io(t, "lba-straddles-end", NVME_SC_LBA_RANGE, &sqe);

	nvme_rw_sqe(&sqe, NVME_NVM_READ, 0, 1);
	nvme_map(&sqe, scratch, ctrl.lba_size, prp_lists[0], false);
	sqe.nsid = ctrl.nn < 0xfffffffe ? ctrl.nn + 1 : 0;
	bad_io(t, "nsid-inactive", NVME_SC_INVALID_NS, &sqe);

	/* Reserved opcodes (Base, opcode tables; NVM, "I/O Commands"). */
	sqe = (struct nvme_sqe){ .opc = 0x7e, .nsid = 1 };
	bad_io(t, "io-opcode-unknown", NVME_SC_INVALID_OPCODE, &sqe);
	sqe = (struct nvme_sqe){ .opc = 0x3e };
	bad_admin(t, "admin-opcode-unknown", NVME_SC_INVALID_OPCODE, &sqe);
}

/*
 * Base, "Asynchronous Event Request": a doorbell write at or past the
 * queue's size is an error event, Invalid Doorbell Write Value, reported
 * through an outstanding AER; a controller may instead go fatal (CSTS.CFS),
 * which costs a reset.  The event stays masked until the Error Information
 * log is read.
 */
#define AER_TYPE(dw0) ((dw0) & 7)
#define AER_INFO(dw0) (((dw0) >> 8) & 0xff)
#define AER_LOG(dw0)  (((dw0) >> 16) & 0xff)
#define AER_TYPE_ERROR              0
#define AER_INFO_INVALID_DB_VALUE   0x01
#define LOG_ERROR_INFO              0x01
#define FEAT_NUM_QUEUES             0x07

static int bad_doorbell(struct bad_tally *t, const struct nvme_options *no)
{
	struct nvme_queue *q = &ctrl.io[0];
	struct nvme_sqe aer = { .opc = NVME_ADMIN_ASYNC_EVENT };
	struct nvme_cqe cqe;
	int err;

	aer.cid = nvme_alloc_cid(&ctrl);
	nvme_sq_push(&ctrl.admin, &aer);
	/* The controller takes admin commands in order: once this one is
	 * answered, the AER is outstanding, not just queued. */
	struct nvme_sqe probe = { .opc = NVME_ADMIN_GET_FEATURES, .cdw10 = FEAT_NUM_QUEUES };
	err = nvme_admin(&ctrl, &probe, &cqe);
	if (err)
		return err;
	/*
	 * With shadow doorbells the shadow is the doorbell's value (a
	 * controller whose doorbells are ioeventfds never sees the MMIO one):
	 * the bad value goes there too, as a host would write it.
	 */
	if (q->sq_shadow)
		*q->sq_shadow = q->size;
	mmio_write32(q->sq_db, q->size);
	err = nvme_wait_cid(&ctrl, &ctrl.admin, aer.cid, &cqe, 2000);
	if (!err) {
		bool ok = !nvme_cqe_code(cqe.status) && AER_TYPE(cqe.dw0) == AER_TYPE_ERROR &&
			  AER_INFO(cqe.dw0) == AER_INFO_INVALID_DB_VALUE &&
			  AER_LOG(cqe.dw0) == LOG_ERROR_INFO;
		report("cvguest: nvme-bad sq-doorbell-past-size expect=aen:0/01/01 "
			"got=aen:%u/%02x/%02x status=" NVME_CODE_FMT " %s\n", AER_TYPE(cqe.dw0),
			AER_INFO(cqe.dw0), AER_LOG(cqe.dw0),
			NVME_CODE_ARGS(nvme_cqe_code(cqe.status)), ok ? "ok" : "differs");
		ok ? t->ok++ : t->differs++;
		struct nvme_sqe log = {
			.opc = NVME_ADMIN_GET_LOG_PAGE,
			.nsid = 0xffffffff,
			.cdw10 = (64 / 4 - 1) << 16 | LOG_ERROR_INFO,
		};
		nvme_map(&log, scratch, 64, NULL, false);
		return nvme_admin(&ctrl, &log, &cqe);
	}
	if (mmio_read32(ctrl.bar + NVME_REG_CSTS) & NVME_CSTS_CFS) {
		report("cvguest: nvme-bad sq-doorbell-past-size expect=aen:0/01/01 got=cfs ok\n");
		t->ok++;
	} else {
		report("cvguest: nvme-bad sq-doorbell-past-size expect=aen:0/01/01 got=nothing "
			"fail\n");
		t->fail++;
	}
	report("cvguest: nvme-bad resetting the controller\n");
	return user_kcall(init_ctrl, (void *)no);
}

static int nvme_bad(const struct opts *o, const struct nvme_options *no)
{
	struct bad_tally t = { 0 };
	int err;

	bad_queues(&t);
	bad_data_pointers(&t);
	bad_commands(&t);
	err = bad_doorbell(&t, no);
	report("cvguest: nvme-bad done ok=%u differs=%u fail=%u skipped=%u\n", t.ok,
		t.differs, t.fail, t.skipped);
	/* The controller must still work: the last blocks, so a pattern an
	 * earlier "nvme" wrote for "nvme-check" stays whole. */
	uint64_t n = ctrl.nsze < 64 ? ctrl.nsze : 64;
	if (!err)
		err = pattern_pass(o, ctrl.nsze - n, n, true, "after-bad");
	return err ? err : t.fail ? -EIO : 0;
}

/* ---- the script ---- */

bool workload_requested(const char *cmdline)
{
	return cmdline_has_word(cmdline, "nvme") || cmdline_has_word(cmdline, "nvme-check") ||
	       cmdline_has_word(cmdline, "nvme-rand") || cmdline_has_word(cmdline, "nvme-bad");
}

int workload_run(const char *cmdline)
{
	struct opts o = { .cmdline = cmdline,
			  .sgl = cmdline_value(cmdline, "sgl", 1) != 0 };
	bool bad = cmdline_has_word(cmdline, "nvme-bad");
	struct nvme_options no = {
		.queues = (unsigned int)cmdline_value(cmdline, "queues", 1),
		.spare = bad,
		.qsize = (unsigned int)cmdline_value(cmdline, "qsize", NVME_IO_QSIZE_MAX),
		/* HLT faults at CPL 3: user mode polls. */
		.poll = cmdline_has_word(cmdline, "poll") || user_cpl(),
	};
	int err;

	report("cvguest: nvme workloads at cpl=%u\n", user_cpl());
	err = user_kcall(init_ctrl, &no);
	if (err)
		return err;
	if (!ctrl.nr_io)
		return -ENODEV;
	if (cmdline_has_word(cmdline, "nvme")) {
		err = pattern_pass(&o, 0, pattern_blocks(&o), true, "verify");
		if (err)
			return err;
	}
	if (cmdline_has_word(cmdline, "nvme-rand")) {
		err = nvme_rand(&o);
		if (err)
			return err;
	}
	if (bad) {
		err = nvme_bad(&o, &no);
		if (err)
			return err;
	}
	if (cmdline_has_word(cmdline, "nvme-check")) {
		err = pattern_pass(&o, 0, pattern_blocks(&o), false, "check");
		if (err)
			return err;
	}
	report("cvguest: nvme irqs=%lu\n", nvme_irq_count());
	return 0;
}
