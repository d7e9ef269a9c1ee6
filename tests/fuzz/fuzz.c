/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linked into every harness instead of tools/lib/log.c (fuzz.h says why).
 * Messages are still formatted, so a format string that reads a guest's
 * bytes badly (a %s without a terminator) still trips AddressSanitizer.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "tools/lib/log.h"

static int print_logs = -1;
unsigned fuzz_log_errors;

void cv_log_init(const char *tag, bool verbose)
{
	(void)tag;
	(void)verbose;
}

const char *cv_log_tag(void)
{
	return "fuzz";
}

bool cv_log_verbose(void)
{
	return false;
}

void cv_log(enum cv_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (print_logs < 0) {
		const char *env = getenv("CV_FUZZ_LOG");

		print_logs = env && *env == '1';
	}
	if (level == CV_LOG_ERROR)
		fuzz_log_errors++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (print_logs && level != CV_LOG_DEBUG)
		fprintf(stderr, "cv-fuzz: %s\n", line);
}

/* Every UBSan report stops the harness, with its stack. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

int fuzz_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	FUZZ_CHECK(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}
