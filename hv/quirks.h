/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workarounds for KVMs that cannot run every instruction a stock kernel uses,
 * such as the nested software KVM (kvm_pvm) of the project's build machines:
 * its instruction emulator fails on some instructions that hardware VT-x or
 * AMD-V would never hand to it.  Each workaround is something a VMM may
 * legitimately do (hide a CPUID feature, pass a kernel switch, deliver the
 * exception the instruction raises) and never patches guest memory.  Each is
 * named, can be turned on or off, and counts its uses.  See docs/kvm-hosts.md.
 */
#ifndef CV_HV_QUIRKS_H
#define CV_HV_QUIRKS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum quirk_id {
	/* Hide CMPXCHG16B (CPUID.1:ECX.CX16): `lock cmpxchg16b` is not emulated. */
	QUIRK_CPUID_NO_CX16,
	/* Linux switches that steer it off unemulated instructions. */
	QUIRK_LINUX_CMDLINE,
	/* `int3` fails to emulate: deliver #BP as the CPU would (a trap, RIP+1). */
	QUIRK_INJECT_INT3,
	/* `fwait` fails to emulate: with no x87 exception pending it is a no-op. */
	QUIRK_FWAIT_NOP,
	/* `ldmxcsr`/`stmxcsr` fail to emulate: cv-hv does them (hv/emulate.c). */
	QUIRK_EMULATE_MXCSR,
	/*
	 * A Linux guest's clock runs QUIRK_TIME_DILATION_FACTOR times slower
	 * than real time, so that its timer tick no longer outpaces ring-0 code
	 * that is emulated instruction by instruction.
	 */
	QUIRK_TIME_DILATION,
	QUIRK_COUNT,
};

struct quirks {
	bool enabled[QUIRK_COUNT];
	uint64_t uses[QUIRK_COUNT];  /* atomically incremented by vCPU threads */
};

/*
 * What QUIRK_LINUX_CMDLINE adds (Documentation/admin-guide/kernel-parameters):
 * no XSAVE (xrstor/xsave*, and with them AVX), no FSGSBASE instructions,
 * and CPUID features hidden so the kernel takes its plain fallbacks:
 * SMAP (stac/clac), popcnt, invpcid, rdpid, and the SIMD extensions its
 * boot-time crypto uses (BLAKE2s for the RNG: ssse3; crc32c: sse4_2;
 * AES-NI, PCLMULQDQ and SHA-NI self-tests).  And no crypto self-tests
 * (cryptomgr.notests): their RSA private-key vectors are minutes of
 * generic multi-precision arithmetic when ring 0 is emulated.
 */
#define QUIRK_LINUX_SWITCHES   "noxsave nofsgsbase cryptomgr.notests"
#define QUIRK_LINUX_CLEARCPUID "smap,popcnt,invpcid,rdpid,ssse3,sse4_1,sse4_2,aes,pclmulqdq,sha_ni"

/*
 * What QUIRK_TIME_DILATION does: hide kvmclock (CPUID 0x40000001) so that
 * Linux times itself by the TSC, and tell it the TSC runs this many times
 * faster than it does (tsc_early_khz=, with tsc=reliable so that no other
 * clock second-guesses it).  Every guest timer, the scheduler tick among
 * them, then fires this many times less often in real time.
 */
#define QUIRK_TIME_DILATION_FACTOR 16

const char *quirk_name(enum quirk_id id);

/*
 * True when /dev/kvm is not backed by VT-x/AMD-V (no vmx/svm in cpuinfo);
 * read on the first call (vm_create makes it) and kept.
 */
bool quirks_host_is_software_kvm(void);

/*
 * Parse a --quirks setting: comma-separated words applied left to right.
 * "auto" turns every quirk on for a software KVM and off otherwise, "all"
 * and "none" set them all, "name" or "+name" turns one on, "-name" off
 * (e.g. "auto,-inject-int3").  -EINVAL points @bad at the unknown word.
 */
int quirks_parse(struct quirks *q, const char *spec, const char **bad, size_t *bad_len);

void quirks_count(struct quirks *q, enum quirk_id id);

/*
 * The Linux command line with the switches of the enabled quirks added:
 * QUIRK_LINUX_CMDLINE's (Linux honours only the last clearcpuid=, so the
 * user's clearcpuid= lists are merged with ours into one, placed last) and
 * QUIRK_TIME_DILATION's, which need the real TSC rate @tsc_khz (0: unknown,
 * that quirk adds nothing).  Returns a malloc()ed string in @out.
 */
int quirks_linux_cmdline(const struct quirks *q, const char *user, uint32_t tsc_khz,
			 char **out);

/* "name=uses,..." of the enabled quirks, for logs and the status reply. */
void quirks_format(const struct quirks *q, char *buf, size_t len);

#endif /* CV_HV_QUIRKS_H */
