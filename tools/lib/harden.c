// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/harden.h"

#include <cap-ng.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "tools/lib/log.h"

static int drop_capabilities(void)
{
	/* Nothing to drop (an unprivileged user): capng_apply would need
	 * CAP_SETPCAP for the bounding set. */
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE)
		return 0;
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_ALL) < 0) {
		cv_err("harden: cannot drop capabilities (libcap-ng capng_apply)");
		return -EPERM;
	}
	return 0;
}

int process_harden(bool drop_caps)
{
	const struct rlimit none = { 0, 0 };
	int ret;

	if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ret = -errno;
		cv_err("harden: no core dumps, not dumpable: %s", strerror(-ret));
		return ret;
	}
	if (drop_caps) {
		ret = drop_capabilities();
		if (ret)
			return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		cv_err("harden: PR_SET_NO_NEW_PRIVS: %s", strerror(-ret));
		return ret;
	}
	return 0;
}
