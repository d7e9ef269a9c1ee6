/* SPDX-License-Identifier: Apache-2.0 */
/* The few C library pieces the freestanding test guest needs. */
#ifndef CVG_LIB_H
#define CVG_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linux errno values for the guest's "0 or a negative errno" returns. */
#define EIO       5
#define EAGAIN   11
#define EBUSY    16
#define ENODEV   19
#define EINVAL   22
#define EPROTO   71
#define EMSGSIZE 90
#define ECONNRESET 104
#define ETIMEDOUT 110
#define ECONNREFUSED 111

/* The compiler may emit calls to memcpy and memset on its own (C11 5.1.2.1). */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/*
 * printf-style formatting into a character sink.  Understands %c %s %d %i %u
 * %x %p %%, the '0' flag, a field width and the length modifiers l, ll, z.
 */
typedef void (*fmt_sink_t)(void *ctx, char c);
void vformat(fmt_sink_t sink, void *ctx, const char *fmt, va_list ap);

/* C11 7.21.6.5 semantics: truncates, always terminates, returns the full length. */
int snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/*
 * The kernel command line is words separated by spaces; "key=value" words
 * carry numbers.  cmdline_value returns @dflt when @key is absent or its
 * value is not a decimal number.
 */
bool cmdline_has_word(const char *cmdline, const char *word);
uint64_t cmdline_value(const char *cmdline, const char *key, uint64_t dflt);
/* Copies the value of "key=value" to @buf (NUL-terminated); false when
 * @key is absent or its value does not fit. */
bool cmdline_string(const char *cmdline, const char *key, char *buf, size_t size);

/*
 * SplitMix64 (Steele, Lea, Flood, "Fast Splittable Pseudorandom Number
 * Generators", OOPSLA 2014): a tiny PRNG, and its finaliser as a hash.
 */
uint64_t mix64(uint64_t x);
uint64_t prng_next(uint64_t *state);

#endif /* CVG_LIB_H */
