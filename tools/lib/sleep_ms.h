/* SPDX-License-Identifier: Apache-2.0 */
/* Sleep @ms milliseconds, a signal notwithstanding: the one pause the tools share. */
#ifndef CV_SLEEP_MS_H
#define CV_SLEEP_MS_H

#include <errno.h>
#include <time.h>

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

#endif /* CV_SLEEP_MS_H */
