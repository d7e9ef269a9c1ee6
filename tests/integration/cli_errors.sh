#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad input to `cardvisor run` gets a clear error naming what is wrong and
# exit status 1; no VM is started and nothing is left behind.
. "$(dirname "$0")/lib.sh"

run_vm nofile --guest "$TMP/does-not-exist"
expect_rc nofile "missing kernel file: exit status 1" 1
expect nofile "missing kernel file: the error names the file" "does-not-exist"

# What the file holds only cv-hv reads, after it opened /dev/kvm.
printf 'this is not a kernel at all, just text\n' >"$TMP/junk"
run_vm junk --kernel "$TMP/junk"
expect_rc junk "not a kernel: exit status 1" 1
head -c 1000 "$TESTGUEST" >"$TMP/truncated.elf"
run_vm trunc --guest "$TMP/truncated.elf"
expect_rc trunc "truncated ELF: exit status 1" 1
if have_kvm; then
	expect junk "not a kernel: the error says so and names the file" "junk.*(not a|magic)"
	expect trunc "truncated ELF: the error names the file" "truncated\.elf"
else
	skip "not a kernel, truncated ELF: the error names the file" \
		"/dev/kvm is not usable here (cv-hv reads the kernel after it opened KVM)"
fi

run_vm toobig --guest "$TESTGUEST" --mem 64M --cmdline "$(head -c 70000 /dev/zero | tr '\0' x)"
expect_rc toobig "command line longer than the boot protocol allows: exit status 1" 1

run_vm badmem --guest "$TESTGUEST" --mem 12K
expect_rc badmem "memory below 64 MiB: exit status 1" 1
run_vm badvcpu --guest "$TESTGUEST" --vcpus 0
expect_rc badvcpu "zero vCPUs: exit status 1" 1
run_vm badquirk --guest "$TESTGUEST" --quirks bogus
expect_rc badquirk "unknown quirk: exit status 1" 1
expect badquirk "unknown quirk: the error names it" 'unknown quirk "bogus"'
run_vm both --guest "$TESTGUEST" --kernel "$TESTGUEST"
expect_rc both "--guest and --kernel together: exit status 1" 1

check "no instance directories are left behind" \
	test -z "$(ls -A "$CARDVISOR_RUNDIR" 2>/dev/null)"
