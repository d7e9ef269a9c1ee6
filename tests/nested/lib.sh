# SPDX-License-Identifier: Apache-2.0
# The nested-KVM outer guest, for its users: tests/integration/nested.sh,
# `make demo` (tools/demo.sh) and `make bench` (tools/bench/boot_nested.sh).
# Debian's kernel boots under QEMU's TCG with AMD-V emulated and loads
# kvm_amd; tests/nested/scenarios.sh runs the selected groups inside.
# Sourced with BOOT_DIR set to where tests/boot/fetch-kernel.sh put the
# kernel.

# nested_qemu: the host's QEMU, or nothing.
nested_qemu() { command -v qemu-system-x86_64 || true; }

# A CPU of the outer guest that stops scheduling panics it (after 2 x
# watchdog_thresh seconds, with the stuck CPU's registers and call trace on
# its console) and, with -no-reboot, ends QEMU: no user-space program can
# do that to a kernel, so it is TCG's or kvm_amd's fault, and failing at
# once beats waiting out the limit.
NESTED_LOCKUP_ARGS="softlockup_panic=1 watchdog_thresh=30"

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
		-append "console=ttyS0 quiet panic=-1 $NESTED_LOCKUP_ARGS cvnested=$2" \
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

# nested_attempt CPIO GROUPS LIMIT: one boot of the outer guest (see
# nested_run), its status in $rc, $stalled set if it was stopped for
# silence (QEMU then exits 0).  QEMU is stopped early when the stream
# has been silent for NESTED_STALL seconds (default 420): every VM inside
# has a limit of at most 300 s, after which scenarios.sh says so, so a
# silence that long means the outer guest itself hangs.
nested_attempt() {
	local qemu size last=-1 quiet=0 stall=${NESTED_STALL:-420}
	rc=0 stalled=
	: >"$TMP/outer.data"
	nested_boot "$1" "$2" "$3" "$TMP/outer.console" "file:$TMP/outer.data" \
		>"$TMP/qemu.err" 2>&1 &
	qemu=$!
	while kill -0 "$qemu" 2>/dev/null; do
		sleep 5
		size=$(stat -c %s "$TMP/outer.data" 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then
			last=$size quiet=0
		elif [ $((quiet += 5)) -ge "$stall" ]; then
			echo "# outer guest: no output for $quiet s: stopping it"
			pkill -TERM -P "$qemu" 2>/dev/null
			# QEMU ends with status 0 on SIGTERM: say why it ended.
			stalled=1
			break
		fi
	done
	wait "$qemu" || rc=$?
}

# nested_lockup: the outer kernel's lockup or panic report on its console,
# if any (both kinds seen under TCG, docs/kvm-hosts.md): its first line,
# the RIP and the call trace's functions.
nested_lockup() {
	grep -aqE 'soft lockup|hard LOCKUP|Kernel panic' "$TMP/outer.console" 2>/dev/null || return 1
	{
		grep -a -m1 -E 'soft lockup|hard LOCKUP|Kernel panic' "$TMP/outer.console"
		grep -a -m1 -E '^\[ *[0-9.]+\] RIP: ' "$TMP/outer.console"
		grep -a -A14 -m1 'Call Trace:' "$TMP/outer.console" | grep -aoE '[a-z_0-9.]+\+0x' |
			sed 's/+0x//' | tr '\n' ' '
	} | tr -d '\r' | sed 's/^\[ *[0-9.]*\] //'
}

# nested_run WHAT CPIO GROUPS LIMIT LOG: a test's outer guest (sourced after
# tests/integration/lib.sh): boots it, keeps what the VMs printed in
# $BOOT_DIR/LOG.log and its console in LOG.console, checks the outer guest
# had its KVM and ran every scenario, and splits the stream into
# $TMP/NAME.out and .rc.  An outer guest whose own kernel locked up or
# that went silent (TCG's fault, not cv-hv's: in roughly one run in four on
# a 2-core host, docs/kvm-hosts.md) is booted again, saying so with its
# lockup report, up to NESTED_TRIES boots in all (default 3); the last one
# stands.  Returns 1 (after one SKIP line for WHAT) where TCG offers no SVM.
NESTED_TRIES=${NESTED_TRIES:-3}
nested_run() {
	local what=$1 cpio=$2 groups=$3 limit=$4 log=$5 start rc=0 try lockup
	for try in $(seq "$NESTED_TRIES"); do
		start=$(date +%s)
		nested_attempt "$cpio" "$groups" "$limit"
		echo "# outer guest: QEMU exit status $rc after $(($(date +%s) - start)) s wall" \
			"($(grep -ac 'cvnested: begin' "$TMP/outer.data" 2>/dev/null || true) sections)"
		cp "$TMP/outer.data" "$BOOT_DIR/$log.log" 2>/dev/null
		cp "$TMP/outer.console" "$BOOT_DIR/$log.console" 2>/dev/null
		echo "# everything the VMs printed: $BOOT_DIR/$log.log; the outer guest's console:" \
			"$BOOT_DIR/$log.console"
		lockup=$(nested_lockup)
		if [ -z "$lockup" ] && [ -z "$stalled" ] &&
		   { [ "$rc" = 0 ] || grep -aq '^cvnested: done' "$TMP/outer.data"; }; then
			break
		fi
		[ -n "$lockup" ] && echo "# the outer guest's kernel stopped (lockup or panic):" $lockup
		[ -z "$lockup" ] && [ "$rc" = 124 ] && break # its limit, not a hang: it stands
		[ "$try" = "$NESTED_TRIES" ] && break
		cp "$TMP/outer.console" "$BOOT_DIR/$log-try$try.console" 2>/dev/null
		cp "$TMP/outer.data" "$BOOT_DIR/$log-try$try.log" 2>/dev/null
		echo "# outer guest: booting it once more (try $try's console:" \
			"$BOOT_DIR/$log-try$try.console)"
	done
	if grep -aq '^cvnested: nokvm' "$TMP/outer.data" 2>/dev/null; then
		skip "$what" "$(grep -a -m1 '^cvnested: nokvm' "$TMP/outer.data" | tr -d '\r' |
			sed 's/^cvnested: nokvm //'); $(grep -a -A1 '^cvnested: nokvm' \
			"$TMP/outer.data" | tail -n1 | tr -d '\r')"
		return 1
	fi
	check "the outer guest loaded kvm_amd: nested paging on TCG's AMD-V" \
		grep -aq '^cvnested: kvm .*SVM: kvm: Nested Paging enabled' "$TMP/outer.data"
	if [ "$rc" != 0 ] || [ -n "$stalled" ] || ! grep -aq '^cvnested: done' "$TMP/outer.data"; then
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
