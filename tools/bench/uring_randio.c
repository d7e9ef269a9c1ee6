// SPDX-License-Identifier: Apache-2.0
/*
 * uring_randio: the storage benchmark's baseline.  Random 4 KiB reads or
 * writes with io_uring straight on a volume file, opened O_DIRECT as
 * cv-storaged opens it (tools/storaged/backend.c: one ring, no SQPOLL, no
 * IOPOLL), so `make bench` can put the full guest path next to what the
 * same file on the same machine does without cardvisor in between.
 *
 * The I/O pattern copies the test guest's `nvme-rand` (tests/guest/
 * workload.c): QD commands kept in flight, each a 4 KiB unit picked at
 * random among units no command in flight uses, reads with probability
 * READS %, latency from just before submission to the completion.  Every
 * operation's latency is kept (the guest keeps 4096 evenly spaced samples);
 * p50 and p99 use the guest's index formulae.
 *
 * Output, one line:
 *   uring_randio qd=Q ops=N reads=R writes=W span=U direct=1 ns=T iops=I
 *   lat_ns min=A p50=B p99=C max=D
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UNIT   4096u
#define QD_MAX 32u

struct params {
	const char *path;
	unsigned int qd;
	unsigned int ops;
	unsigned int read_pct;
	uint64_t span;      /* units of 4 KiB from offset 0; 0: the whole file */
	uint64_t seed;
};

struct slot {
	void *buf;
	uint64_t unit;
	uint64_t t0;        /* ns, CLOCK_MONOTONIC, just before submission */
	bool write;
};

struct run {
	struct io_uring ring;
	bool ring_up;
	int fd;
	bool direct;
	struct slot slots[QD_MAX];
	uint8_t *busy;      /* per unit: a command in flight uses it */
	uint64_t *lat;      /* ns, one per completed operation */
	uint64_t rng;
	unsigned int issued, done, reads, writes;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: cheap, and a different stream per seed. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Same rule as the guest: span > qd, so a free unit always exists. */
static uint64_t pick_unit(struct run *r, uint64_t span)
{
	uint64_t u = rng_next(&r->rng) % span;

	while (r->busy[u])
		u = (u + 1) % span;
	return u;
}

static void submit_one(struct run *r, const struct params *p, unsigned int i)
{
	struct slot *s = &r->slots[i];
	/* The ring has at least qd entries and at most qd are in flight. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	s->unit = pick_unit(r, p->span);
	s->write = rng_next(&r->rng) % 100 >= p->read_pct;
	r->busy[s->unit] = 1;
	if (s->write)
		io_uring_prep_write(sqe, r->fd, s->buf, UNIT, s->unit * UNIT);
	else
		io_uring_prep_read(sqe, r->fd, s->buf, UNIT, s->unit * UNIT);
	io_uring_sqe_set_data64(sqe, i);
	s->t0 = now_ns();
	r->issued++;
}

/* One completion: its latency, and the slot's next command if any is left. */
static int complete_one(struct run *r, const struct params *p, const struct io_uring_cqe *cqe)
{
	uint64_t t = now_ns();
	uint64_t i = io_uring_cqe_get_data64(cqe);
	struct slot *s;

	if (i >= p->qd)
		return -EPROTO;
	s = &r->slots[i];
	if (cqe->res != (int)UNIT) {
		fprintf(stderr, "uring_randio: %s at offset %" PRIu64 ": %s\n",
			s->write ? "write" : "read", s->unit * UNIT,
			cqe->res < 0 ? strerror(-cqe->res) : "short transfer");
		return cqe->res < 0 ? cqe->res : -EIO;
	}
	r->lat[r->done++] = t - s->t0;
	if (s->write)
		r->writes++;
	else
		r->reads++;
	r->busy[s->unit] = 0;
	if (r->issued < p->ops)
		submit_one(r, p, (unsigned int)i);
	return 0;
}

static int run_io(struct run *r, const struct params *p)
{
	for (unsigned int i = 0; i < p->qd && r->issued < p->ops; i++)
		submit_one(r, p, i);
	while (r->done < p->ops) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		int ret = io_uring_submit_and_wait(&r->ring, 1);

		if (ret < 0 && ret != -EINTR)
			return ret;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			ret = complete_one(r, p, cqe);
			if (ret)
				return ret;
			seen++;
		}
		io_uring_cq_advance(&r->ring, seen);
	}
	return 0;
}

/* The file as cv-storaged opens it: O_DIRECT unless its file system refuses. */
static int open_file(struct run *r, const char *path)
{
	r->direct = true;
	r->fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (r->fd < 0 && errno == EINVAL) {
		r->direct = false;
		r->fd = open(path, O_RDWR | O_CLOEXEC);
	}
	return r->fd < 0 ? -errno : 0;
}

static int run_setup(struct run *r, struct params *p)
{
	struct stat st;
	int ret = open_file(r, p->path);

	if (ret) {
		fprintf(stderr, "uring_randio: %s: %s\n", p->path, strerror(-ret));
		return ret;
	}
	if (fstat(r->fd, &st))
		return -errno;
	if (!p->span)
		p->span = (uint64_t)st.st_size / UNIT;
	if (p->span <= p->qd || p->span > (uint64_t)st.st_size / UNIT) {
		fprintf(stderr, "uring_randio: span %" PRIu64 " units does not fit %s "
			"(%lld bytes) or is not larger than qd %u\n", p->span, p->path,
			(long long)st.st_size, p->qd);
		return -EINVAL;
	}
	r->busy = calloc(p->span, 1);
	r->lat = calloc(p->ops, sizeof(*r->lat));
	if (!r->busy || !r->lat)
		return -ENOMEM;
	for (unsigned int i = 0; i < p->qd; i++) {
		ret = -posix_memalign(&r->slots[i].buf, UNIT, UNIT);
		if (ret)
			return ret;
		/* Writes carry random bytes, like the guest's ciphertext does. */
		for (unsigned int w = 0; w < UNIT / 8; w++)
			((uint64_t *)r->slots[i].buf)[w] = rng_next(&r->rng);
	}
	ret = io_uring_queue_init(p->qd, &r->ring, 0);
	if (ret) {
		fprintf(stderr, "uring_randio: io_uring_queue_init: %s\n", strerror(-ret));
		return ret;
	}
	r->ring_up = true;
	return 0;
}

static void run_teardown(struct run *r, const struct params *p)
{
	if (r->ring_up)
		io_uring_queue_exit(&r->ring);
	for (unsigned int i = 0; i < p->qd; i++)
		free(r->slots[i].buf);
	free(r->busy);
	free(r->lat);
	if (r->fd >= 0)
		close(r->fd);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void report(struct run *r, const struct params *p, uint64_t ns)
{
	unsigned int n = r->done;

	qsort(r->lat, n, sizeof(*r->lat), cmp_u64);
	printf("uring_randio qd=%u ops=%u reads=%u writes=%u span=%" PRIu64 " direct=%d "
	       "ns=%" PRIu64 " iops=%.0f lat_ns min=%" PRIu64 " p50=%" PRIu64 " p99=%" PRIu64
	       " max=%" PRIu64 "\n", p->qd, n, r->reads, r->writes, p->span, r->direct, ns,
	       (double)n * 1e9 / (double)ns, r->lat[0], r->lat[n / 2],
	       r->lat[(uint64_t)n * 99 / 100], r->lat[n - 1]);
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct params *p)
{
	static const struct option opts[] = {
		{ "qd", required_argument, NULL, 'q' },
		{ "ops", required_argument, NULL, 'n' },
		{ "reads", required_argument, NULL, 'r' },
		{ "span", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ 0 }
	};
	uint64_t v;
	int c;

	*p = (struct params){ .qd = 1, .ops = 1000, .read_pct = 100, .seed = 1 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (parse_uint(optarg, QD_MAX, &v) || !v)
				return -EINVAL;
			p->qd = (unsigned int)v;
			break;
		case 'n':
			if (parse_uint(optarg, UINT32_MAX, &v) || !v)
				return -EINVAL;
			p->ops = (unsigned int)v;
			break;
		case 'r':
			if (parse_uint(optarg, 100, &v))
				return -EINVAL;
			p->read_pct = (unsigned int)v;
			break;
		case 's':
			if (parse_uint(optarg, UINT64_MAX / UNIT, &p->span))
				return -EINVAL;
			break;
		case 'S':
			if (parse_uint(optarg, UINT64_MAX, &p->seed))
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc - 1)
		return -EINVAL;
	p->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct params p;
	struct run r = { .fd = -1 };
	uint64_t t0;
	int ret;

	if (parse_args(argc, argv, &p)) {
		fprintf(stderr, "usage: uring_randio [--qd 1..%u] [--ops N] [--reads PCT] "
			"[--span UNITS] [--seed N] FILE\n"
			"random 4 KiB I/O with io_uring on FILE (O_DIRECT), like the test "
			"guest's nvme-rand\n", QD_MAX);
		return 1;
	}
	r.rng = p.seed;
	ret = run_setup(&r, &p);
	if (!ret) {
		t0 = now_ns();
		ret = run_io(&r, &p);
		if (!ret)
			report(&r, &p, now_ns() - t0);
		else
			fprintf(stderr, "uring_randio: %s\n", strerror(-ret));
	}
	run_teardown(&r, &p);
	return ret ? 1 : 0;
}
