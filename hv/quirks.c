/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/quirks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const quirk_names[QUIRK_COUNT] = {
	[QUIRK_CPUID_NO_CX16] = "cpuid-no-cx16",
	[QUIRK_LINUX_CMDLINE] = "linux-cmdline",
	[QUIRK_INJECT_INT3]   = "inject-int3",
	[QUIRK_FWAIT_NOP]     = "fwait-nop",
	[QUIRK_EMULATE_MXCSR] = "emulate-mxcsr",
	[QUIRK_TIME_DILATION] = "time-dilation",
};

const char *quirk_name(enum quirk_id id)
{
	return id < QUIRK_COUNT ? quirk_names[id] : "?";
}

static bool cpuinfo_has_vmx_svm(void)
{
	char line[4096];
	bool hw = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return true;
	while (!hw && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		hw = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return hw;
}

bool quirks_host_is_software_kvm(void)
{
	/*
	 * Read once, while the VM is built: the vCPU error paths that ask
	 * again run under the system call filter, which opens no file.
	 */
	static int software = -1;
	int v = __atomic_load_n(&software, __ATOMIC_RELAXED);

	if (v < 0) {
		v = !cpuinfo_has_vmx_svm();
		__atomic_store_n(&software, v, __ATOMIC_RELAXED);
	}
	return v;
}

static int quirk_lookup(const char *word, size_t len)
{
	for (int i = 0; i < QUIRK_COUNT; i++)
		if (strlen(quirk_names[i]) == len && !strncmp(quirk_names[i], word, len))
			return i;
	return -1;
}

int quirks_parse(struct quirks *q, const char *spec, const char **bad, size_t *bad_len)
{
	const char *p = spec;

	memset(q, 0, sizeof(*q));
	while (*p) {
		size_t len = strcspn(p, ",");
		bool set = *p != '-';
		size_t skip = *p == '-' || *p == '+';
		int id = quirk_lookup(p + skip, len - skip);
		bool all = len == 3 && !strncmp(p, "all", 3);
		bool none = len == 4 && !strncmp(p, "none", 4);
		bool autos = len == 4 && !strncmp(p, "auto", 4);

		if (all || none || autos) {
			bool on = all || (autos && quirks_host_is_software_kvm());

			for (int i = 0; i < QUIRK_COUNT; i++)
				q->enabled[i] = on;
		} else if (id >= 0) {
			q->enabled[id] = set;
		} else {
			*bad = p;
			*bad_len = len;
			return -EINVAL;
		}
		p += len + (p[len] == ',');
	}
	return 0;
}

int quirks_linux_cmdline(const struct quirks *q, const char *user, uint32_t tsc_khz,
			 char **out)
{
	static const char key[] = "clearcpuid=";
	const size_t key_len = sizeof(key) - 1;
	const bool switches = q->enabled[QUIRK_LINUX_CMDLINE];
	const bool dilate = q->enabled[QUIRK_TIME_DILATION] && tsc_khz;
	size_t cap = (user ? strlen(user) : 0) * 2 + sizeof(QUIRK_LINUX_SWITCHES) +
		     sizeof(QUIRK_LINUX_CLEARCPUID) + sizeof(key) + 64;
	char *words = malloc(cap), *lists = malloc(cap);
	size_t nw = 0, nl = 0;

	if (!words || !lists) {
		free(words);
		free(lists);
		return -ENOMEM;
	}
	words[0] = lists[0] = '\0';
	/* Split the user's words into clearcpuid= lists and everything else. */
	for (const char *p = user ? user : ""; *p;) {
		size_t len;

		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (!len)
			break;
		if (switches && len > key_len && !strncmp(p, key, key_len))
			nl += (size_t)snprintf(lists + nl, cap - nl, "%.*s,", (int)(len - key_len),
					       p + key_len);
		else
			nw += (size_t)snprintf(words + nw, cap - nw, "%.*s ", (int)len, p);
		p += len;
	}
	if (dilate)
		nw += (size_t)snprintf(words + nw, cap - nw, "tsc_early_khz=%llu tsc=reliable ",
				       (unsigned long long)tsc_khz * QUIRK_TIME_DILATION_FACTOR);
	if (switches)
		nw += (size_t)snprintf(words + nw, cap - nw, "%s %s%s%s ", QUIRK_LINUX_SWITCHES,
				       key, lists, QUIRK_LINUX_CLEARCPUID);
	/* No trailing blank. */
	if (nw)
		words[nw - 1] = '\0';
	free(lists);
	*out = words;
	return 0;
}

void quirks_count(struct quirks *q, enum quirk_id id)
{
	__atomic_fetch_add(&q->uses[id], 1, __ATOMIC_RELAXED);
}

void quirks_format(const struct quirks *q, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < QUIRK_COUNT && n < len; i++) {
		if (!q->enabled[i])
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%llu", n ? "," : "",
				      quirk_names[i],
				      (unsigned long long)__atomic_load_n(&q->uses[i],
									 __ATOMIC_RELAXED));
	}
	if (!n)
		snprintf(buf, len, "none");
}
