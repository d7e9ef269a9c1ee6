/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The line-oriented text the VPC card's configuration files share (rule
 * file, mapping table): whitespace-separated tokens, '#' comments, blank
 * lines, and errors that name the line.
 */
#ifndef CV_VPC_TEXTFILE_H
#define CV_VPC_TEXTFILE_H

#include <stddef.h>
#include <stdint.h>

#define VPC_LINE_MAX 256
#define VPC_LINE_TOKENS 8

struct vpc_lines {
	const char *p, *end;
	unsigned lineno;          /* of the line last returned, from 1 */
	char buf[VPC_LINE_MAX];
	char *tok[VPC_LINE_TOKENS];
	int ntok;
};

void vpc_lines_init(struct vpc_lines *it, const char *text, size_t len);
/*
 * The next line holding tokens, split into it->tok[0..ntok): 1, or 0 at the
 * end, or -EINVAL with @err ("line N: ...") for a line too long, holding a
 * NUL, or with more than VPC_LINE_TOKENS tokens.
 */
int vpc_lines_next(struct vpc_lines *it, char *err, size_t errlen);

/* Formats "line N: " + @fmt into @err; returns -EINVAL. */
int vpc_line_err(const struct vpc_lines *it, char *err, size_t errlen,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Decimal without sign or leading junk, <= @max: 0 or -EINVAL. */
int vpc_parse_uint(const char *s, uint32_t max, uint32_t *out);
/* Dotted quad (inet_pton) into network byte order: 0 or -EINVAL. */
int vpc_parse_ipv4(const char *s, uint32_t *addr);

/* A whole file of at most @max bytes, NUL-terminated: 0 or -errno. */
int vpc_read_file(const char *path, size_t max, char **buf, size_t *len);

#endif /* CV_VPC_TEXTFILE_H */
