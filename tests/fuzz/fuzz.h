/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the libFuzzer harnesses in tests/fuzz share (docs/fuzzing.md):
 *
 *  - struct fuzz_in, a cursor over the input that never reads past it:
 *    bytes missing at the end read as zero, so every input, however
 *    short, is a complete scenario and the fuzzer needs no valid length
 *    fields to reach deep code;
 *  - FUZZ_CHECK, an invariant that must hold whatever the input: when it
 *    does not, it prints what failed and aborts, and libFuzzer keeps the
 *    input as a crash (assert() would vanish under -DNDEBUG);
 *  - quiet logging (fuzz.c replaces tools/lib/log.c): a rejected input is
 *    the normal case here and printing every complaint would halve the
 *    executions per second.  CV_FUZZ_LOG=1 prints them when replaying a
 *    crash.
 */
#ifndef CV_TESTS_FUZZ_H
#define CV_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline struct fuzz_in fuzz_in(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){ data, size };
}

/* Copy @len bytes to @dst, zeros where the input ran out; returns @dst. */
static inline void *fuzz_bytes(struct fuzz_in *in, void *dst, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->n -= n;
	return dst;
}

/* Up to @len bytes of the input in place; *@got says how many. */
static inline const uint8_t *fuzz_take(struct fuzz_in *in, size_t len, size_t *got)
{
	const uint8_t *p = in->p;

	*got = len < in->n ? len : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	return *(uint8_t *)fuzz_bytes(in, &v, sizeof(v));
}

/* Little endian, as every structure these parsers read on x86-64. */
static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v;

	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v;

	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v;

	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

static inline bool fuzz_empty(const struct fuzz_in *in)
{
	return in->n == 0;
}

/* [@p, @p + @len) lies inside [@base, @base + @size). */
static inline bool fuzz_inside(const void *p, size_t len, const void *base, size_t size)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a - b <= size && len <= size - (a - b);
}

__attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what);
/* Entries of /proc/self/fd: a harness compares it before and after a session for leaks. */
int fuzz_open_fds(void);
/* Error lines logged so far: for APIs that promise one line per failure. */
extern unsigned fuzz_log_errors;

#define FUZZ_CHECK(cond)                                         \
	do {                                                     \
		if (!(cond))                                     \
			fuzz_fail(__FILE__, __LINE__, #cond);    \
	} while (0)

/* The libFuzzer entry point every harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* CV_TESTS_FUZZ_H */
