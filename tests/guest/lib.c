/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/lib.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * String instructions rather than C loops: GCC recognises a byte loop as
 * memset/memcpy and would turn these functions into calls to themselves.
 */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

/*
 * Finds @key as a whole word, or with @with_value as "key=..." (then
 * *value points after the '=').
 */
static bool cmdline_find(const char *cmdline, const char *key, bool with_value,
			 const char **value)
{
	size_t n = strlen(key);

	for (const char *p = cmdline; *p;) {
		while (*p == ' ')
			p++;
		size_t len = 0;
		while (p[len] && p[len] != ' ')
			len++;
		if (len >= n && !memcmp(p, key, n)) {
			if (!with_value && len == n)
				return true;
			if (with_value && len > n && p[n] == '=') {
				*value = p + n + 1;
				return true;
			}
		}
		p += len;
	}
	return false;
}

bool cmdline_has_word(const char *cmdline, const char *word)
{
	return cmdline_find(cmdline, word, false, NULL);
}

uint64_t cmdline_value(const char *cmdline, const char *key, uint64_t dflt)
{
	const char *v;
	uint64_t x = 0;
	unsigned int digits = 0;

	if (!cmdline_find(cmdline, key, true, &v))
		return dflt;
	for (; *v >= '0' && *v <= '9' && digits < 19; v++, digits++)
		x = x * 10 + (uint64_t)(*v - '0');
	return digits && (*v == ' ' || !*v) ? x : dflt;
}

bool cmdline_string(const char *cmdline, const char *key, char *buf, size_t size)
{
	const char *v;
	size_t len = 0;

	if (!cmdline_find(cmdline, key, true, &v))
		return false;
	while (v[len] && v[len] != ' ')
		len++;
	if (len >= size)
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return true;
}

uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t prng_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return mix64(*state);
}

static void emit_number(fmt_sink_t sink, void *ctx, uint64_t v, unsigned int base,
			bool negative, unsigned int width, char pad)
{
	char digits[24];
	unsigned int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		digits[n++] = '-';
	while (width > n) {
		sink(ctx, pad);
		width--;
	}
	while (n)
		sink(ctx, digits[--n]);
}

void vformat(fmt_sink_t sink, void *ctx, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			sink(ctx, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		unsigned int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		unsigned int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs += *fmt == 'z' ? 2 : 1;
			fmt++;
		}

		uint64_t u;
		switch (*fmt) {
		case 'c':
			sink(ctx, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				sink(ctx, *s);
			break;
		}
		case 'd':
		case 'i': {
			int64_t v = longs ? va_arg(ap, long) : va_arg(ap, int);
			u = v < 0 ? -(uint64_t)v : (uint64_t)v;
			emit_number(sink, ctx, u, 10, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			emit_number(sink, ctx, u, *fmt == 'u' ? 10 : 16, false, width, pad);
			break;
		case 'p':
			sink(ctx, '0');
			sink(ctx, 'x');
			emit_number(sink, ctx, (uintptr_t)va_arg(ap, void *), 16, false,
				    width, pad);
			break;
		case '%':
			sink(ctx, '%');
			break;
		case '\0':
			return;
		default:
			/* Unknown conversion: show it rather than guess its argument. */
			sink(ctx, '%');
			sink(ctx, *fmt);
			break;
		}
	}
}

struct buf_sink {
	char *buf;
	size_t size;
	size_t len;
};

static void buf_sink_put(void *ctx, char c)
{
	struct buf_sink *b = ctx;

	if (b->len + 1 < b->size)
		b->buf[b->len] = c;
	b->len++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct buf_sink b = { .buf = buf, .size = size, .len = 0 };

	vformat(buf_sink_put, &b, fmt, ap);
	if (size)
		buf[b.len < size ? b.len : size - 1] = '\0';
	return (int)b.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
