/* SPDX-License-Identifier: Apache-2.0 */
/* The few C library pieces the freestanding test guest needs. */
#ifndef CVG_LIB_H
#define CVG_LIB_H

#include <stdarg.h>
#include <stddef.h>

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

#endif /* CVG_LIB_H */
