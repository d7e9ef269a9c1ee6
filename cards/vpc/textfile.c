/* SPDX-License-Identifier: Apache-2.0 */
/* Line splitting and number/address parsing for the VPC card's files. */
#include "cards/vpc/textfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void vpc_lines_init(struct vpc_lines *it, const char *text, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->p = text;
	it->end = text + len;
}

int vpc_line_err(const struct vpc_lines *it, char *err, size_t errlen,
		 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen) {
		n = snprintf(err, errlen, "line %u: ", it->lineno);
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < errlen)
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int split(struct vpc_lines *it, char *err, size_t errlen)
{
	char *s = it->buf, *hash = strchr(s, '#');

	if (hash)
		*hash = '\0';
	it->ntok = 0;
	for (;;) {
		s += strspn(s, " \t\r");
		if (!*s)
			return 0;
		if (it->ntok == VPC_LINE_TOKENS)
			return vpc_line_err(it, err, errlen,
					    "more than %d fields",
					    VPC_LINE_TOKENS);
		it->tok[it->ntok++] = s;
		s += strcspn(s, " \t\r");
		if (*s)
			*s++ = '\0';
	}
}

int vpc_lines_next(struct vpc_lines *it, char *err, size_t errlen)
{
	while (it->p < it->end) {
		const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
		size_t n = (size_t)((nl ? nl : it->end) - it->p);
		int ret;

		it->lineno++;
		if (n >= sizeof(it->buf))
			return vpc_line_err(it, err, errlen,
					    "longer than %d bytes",
					    VPC_LINE_MAX - 1);
		if (memchr(it->p, '\0', n))
			return vpc_line_err(it, err, errlen, "NUL byte");
		memcpy(it->buf, it->p, n);
		it->buf[n] = '\0';
		it->p += n + (nl != NULL);
		ret = split(it, err, errlen);
		if (ret)
			return ret;
		if (it->ntok)
			return 1;
	}
	return 0;
}

int vpc_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int vpc_parse_ipv4(const char *s, uint32_t *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*addr = a.s_addr;
	return 0;
}

int vpc_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	char *b;
	size_t got = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		ret = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			free(b);
			goto out;
		}
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
out:
	close(fd);
	return ret;
}
