// SPDX-License-Identifier: Apache-2.0
/* Attachment epochs in host NQNs (host_epoch.h). */
#include "tools/lib/host_epoch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Base 2.0, "NVMe Qualified Names": at most 223 bytes. */
#define NQN_MAX 223

int host_epoch_parse(const char *hostnqn, uint64_t *epoch, size_t *host_len)
{
	const char *tag = NULL, *p, *s;
	uint64_t v = 0;

	*epoch = 0;
	if (host_len)
		*host_len = strlen(hostnqn);
	/* The last tag: an NQN of another scheme may contain the text before. */
	for (p = hostnqn; (p = strstr(p, HOST_EPOCH_TAG)); p++)
		tag = p;
	if (!tag)
		return 0;
	s = tag + strlen(HOST_EPOCH_TAG);
	if (!*s || *s == '0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
		return -EINVAL;
	for (p = s; *p; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*epoch = v;
	if (host_len)
		*host_len = (size_t)(tag - hostnqn);
	return 0;
}

int host_epoch_nqn(char *out, size_t len, const char *hostnqn, uint64_t epoch)
{
	int n = epoch ? snprintf(out, len, "%s" HOST_EPOCH_TAG "%" PRIu64, hostnqn, epoch) :
		snprintf(out, len, "%s", hostnqn);

	return n < 0 || (size_t)n >= len || n > NQN_MAX ? -ENAMETOOLONG : 0;
}
