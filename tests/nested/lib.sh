# SPDX-License-Identifier: Apache-2.0
# The nested-KVM outer guest, for its users: tests/integration/nested.sh,
# `make demo` (tools/demo.sh) and `make bench` (tools/bench/boot_nested.sh).
# Debian's kernel boots under QEMU's TCG with AMD-V emulated and loads
# kvm_amd; tests/nested/scenarios.sh runs the selected groups inside.
# Sourced with BOOT_DIR set to where tests/boot/fetch-kernel.sh put the
# kernel.

# nested_qemu: the host's QEMU, or nothing.
nested_qemu() { command -v qemu-system-x86_64 || true; }

# nested_boot CPIO GROUPS LIMIT CONSOLE DATA: boots the outer guest from
# CPIO (tests/nested/make-outer.sh) running the scenario GROUPS
# (comma-separated), for at most LIMIT seconds.  Its console goes to the
# file CONSOLE; the scenarios' stream (its second serial port) to the
# chardev DATA: "file:PATH", or "stdio" to watch it live.  2 vCPUs on
# TCG's multi-threaded mode, an EPYC model with SVM, no network.  Returns
# QEMU's exit status (124 past LIMIT).
nested_boot() {
	timeout --kill-after=10 "$3" "$(nested_qemu)" -accel tcg,thread=multi \
		-cpu EPYC,+svm -smp 2 -m 3G -nodefaults -display none -no-reboot -nic none \
		-kernel "$BOOT_DIR/bzImage" -initrd "$1" \
		-append "console=ttyS0 quiet panic=-1 cvnested=$2" \
		-serial "file:$4" -serial "$5" </dev/null
}

# nested_prepare WHAT: the kernel, the inner initramfs and the outer
# guest's, $TMP/outer.cpio (sourced after tests/integration/lib.sh and
# tests/boot/lib.sh).  Without QEMU or offline: one SKIP line for WHAT, and
# the test ends.
nested_prepare() {
	if [ -z "$(nested_qemu)" ]; then
		skip "$1" "qemu-system-x86_64 is missing (make deps: qemu-system-x86)"
		exit 0
	fi
	boot_prepare "$1"
	boot_step "$1" "building the outer guest's initramfs" \
		tests/nested/make-outer.sh "$BUILD" "$BOOT_DIR" "$TMP/outer.cpio"
}

# nested_run WHAT CPIO GROUPS LIMIT LOG: a test's outer guest (sourced after
# tests/integration/lib.sh): boots it, keeps what the VMs printed in
# $BOOT_DIR/LOG.log, checks the outer guest had its KVM and ran every
# scenario, and splits the stream into $TMP/NAME.out and .rc.  Returns 1
# (after one SKIP line for WHAT) where TCG offers no SVM.
nested_run() {
	local what=$1 cpio=$2 groups=$3 limit=$4 log=$5 start rc=0
	start=$(date +%s)
	nested_boot "$cpio" "$groups" "$limit" "$TMP/outer.console" "file:$TMP/outer.data" \
		>"$TMP/qemu.err" 2>&1 || rc=$?
	echo "# outer guest: QEMU exit status $rc after $(($(date +%s) - start)) s wall" \
		"($(grep -c 'cvnested: begin' "$TMP/outer.data" 2>/dev/null || echo 0) sections)"
	cp "$TMP/outer.data" "$BOOT_DIR/$log.log" 2>/dev/null &&
		echo "# everything the VMs printed: $BOOT_DIR/$log.log"
	if grep -aq '^cvnested: nokvm' "$TMP/outer.data" 2>/dev/null; then
		skip "$what" "$(grep -a -m1 '^cvnested: nokvm' "$TMP/outer.data" | tr -d '\r' |
			sed 's/^cvnested: nokvm //'); $(grep -a -A1 '^cvnested: nokvm' \
			"$TMP/outer.data" | tail -n1 | tr -d '\r')"
		return 1
	fi
	check "the outer guest loaded kvm_amd: nested paging on TCG's AMD-V" \
		grep -aq '^cvnested: kvm .*SVM: kvm: Nested Paging enabled' "$TMP/outer.data"
	if [ "$rc" != 0 ] || ! grep -aq '^cvnested: done' "$TMP/outer.data"; then
		not_ok "the outer guest ran every scenario and powered off (QEMU exit status $rc)"
		grep -av '^$' "$TMP/outer.console" | tail -n 15 | sed 's/^/#   /'
		sed 's/^/#   /' "$TMP/qemu.err" | grep -v 'TCG doesn.t support' | tail -n 5
	fi
	nested_split "$TMP/outer.data" "$TMP"
	grep -ah '^cvnested: [a-z0-9]*: retried once' "$TMP"/*.out 2>/dev/null | sed 's/^/# /'
	return 0
}

# nested_split DATA DIR: each section of the stream DATA into DIR/NAME.out
# (carriage returns dropped), its exit status into DIR/NAME.rc, as run_vm
# (tests/integration/lib.sh) leaves them on the host.  A section that comes
# twice (a VM run again after a triple fault, scenarios.sh's vm) leaves its
# last run: both files are closed at its end, so awk truncates them when
# the next one opens them.
nested_split() {
	awk -v dir="$2" '
		{ sub(/\r+$/, "") }
		/^cvnested: begin / { name = $3; f = dir "/" name ".out"; printf "" > f; next }
		/^cvnested: end / {
			split($4, a, "="); rc = dir "/" name ".rc"
			print a[2] > rc; close(rc); close(f); name = ""; next
		}
		name != "" { print > f }' "$1"
}

# ran NAME: whether section NAME came back at all ("not ok" if not).
ran() {
	[ -e "$TMP/$1.rc" ] && return 0
	not_ok "$1: ran in the outer guest (it did not: see the outer guest's console)"
	return 1
}
# said NAME REGEX: a line scenarios.sh said about NAME matches.
said() { grep -qE -- "^cvnested: $1: $2" "$TMP/$1.out"; }
