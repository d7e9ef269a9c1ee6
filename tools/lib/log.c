/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_tag = "cardvisor";
static bool log_verbose;

void cv_log_init(const char *tag, bool verbose)
{
	log_tag = tag;
	log_verbose = verbose;
}

const char *cv_log_tag(void)
{
	return log_tag;
}

bool cv_log_verbose(void)
{
	return log_verbose;
}

void cv_log(enum cv_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n;

	if (level == CV_LOG_DEBUG && !log_verbose)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "[%5ld.%06ld] %s: %s: ", (long)ts.tv_sec,
		     ts.tv_nsec / 1000, log_tag, names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from several threads never interleave. */
	n = (int)strnlen(line, sizeof(line) - 2);
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}
