/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-line logging shared by every cardvisor process.  Each line carries the
 * process' tag (cv-hv, cv-ebs, ...) so interleaved logs stay readable.
 */
#ifndef CV_LOG_H
#define CV_LOG_H

#include <stdbool.h>

enum cv_log_level { CV_LOG_ERROR, CV_LOG_WARN, CV_LOG_INFO, CV_LOG_DEBUG };

void cv_log_init(const char *tag, bool verbose);
bool cv_log_verbose(void);
/* The tag given to cv_log_init(): "cv-ebs". */
const char *cv_log_tag(void);
void cv_log(enum cv_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cv_err(...)   cv_log(CV_LOG_ERROR, __VA_ARGS__)
#define cv_warn(...)  cv_log(CV_LOG_WARN, __VA_ARGS__)
#define cv_info(...)  cv_log(CV_LOG_INFO, __VA_ARGS__)
#define cv_debug(...) cv_log(CV_LOG_DEBUG, __VA_ARGS__)

/*
 * Log a guest-triggered error once per call site: a guest that hammers a bad
 * register must not flood the host's logs.
 */
#define cv_err_once(...)                                       \
	do {                                                   \
		static bool cv_logged_;                        \
		if (!__atomic_exchange_n(&cv_logged_, true,    \
					 __ATOMIC_RELAXED))    \
			cv_err(__VA_ARGS__);                   \
	} while (0)

#endif /* CV_LOG_H */
