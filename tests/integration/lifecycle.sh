#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The lifecycle through the control socket: a running test guest shows up in
# `cardvisor ps`, reports its state, pauses and resumes, and stops gracefully
# (Ctrl+Alt+Del through the i8042, which the guest answers by powering off)
# or by force.
. "$(dirname "$0")/lib.sh"

if ! have_kvm; then
	skip "lifecycle" "/dev/kvm is not usable here"
	exit 0
fi

# start_vm NAME ARGS...: run a VM in the background; sets $id once it is up.
start_vm() {
	local name=$1; shift
	timeout --kill-after=10 "$VM_TIMEOUT" "$CARDVISOR" run "$@" </dev/null \
		>"$TMP/$name.out" 2>&1 &
	echo $! >"$TMP/$name.pid"
	id=""
	for _ in $(seq 1 200); do
		id=$(grep -oE 'instance i-[0-9a-f]+' "$TMP/$name.out" | head -n1 | cut -d' ' -f2)
		if [ -n "$id" ] && grep -q '^cvguest: waiting for a shutdown request' "$TMP/$name.out"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

wait_vm() { # NAME: wait for `cardvisor run` to exit, store its status
	wait "$(cat "$TMP/$1.pid")"
	echo $? >"$TMP/$1.rc"
}

if start_vm graceful --guest "$TESTGUEST" --vcpus 2 --mem 64M --cmdline wait; then
	ok "a waiting guest comes up"
else
	not_ok "a waiting guest comes up"
	tail -n 20 "$TMP/graceful.out" | sed 's/^/#   /'
fi

"$CARDVISOR" ps >"$TMP/ps.out" 2>&1
check "cardvisor ps lists the VM as running" grep -qE "^$id +running +2 +64M" "$TMP/ps.out"

"$CARDVISOR" status "$id" >"$TMP/status.out" 2>&1
check "cardvisor status reports state, vCPUs and memory as JSON" \
	grep -q '"state":"running"' <(tr -d ' \n' <"$TMP/status.out")
check "status names the quirks in force" grep -q '"quirks"' "$TMP/status.out"
check "status counts exits to user space" grep -qE '"exits": *[1-9]' "$TMP/status.out"
check "stop with a malformed timeout is refused and leaves the VM running" \
	bash -c "! '$CARDVISOR' stop '$id' --timeout soon >/dev/null 2>&1 && '$CARDVISOR' status '$id' | grep -q running"

check "cardvisor pause answers paused" grep -q "$id paused" <("$CARDVISOR" pause "$id")
check "status of a paused VM says paused" \
	grep -q '"state":"paused"' <("$CARDVISOR" status "$id" | tr -d ' \n')
# Where each vCPU stopped: the boot CPU waits in the test guest's code.
"$CARDVISOR" status "$id" >"$TMP/paused.out" 2>&1
check "status of a paused VM gives each vCPU's RIP, the boot CPU's in the guest's code" \
	python3 - "$TMP/paused.out" "$TESTGUEST" <<'PY'
import json, subprocess, sys
rips = [int(r, 16) for r in json.load(open(sys.argv[1]))["vcpu_rip"]]
text = [l.split() for l in subprocess.run(["readelf", "-lW", sys.argv[2]], capture_output=True,
        text=True, check=True).stdout.splitlines() if l.split()[:1] == ["LOAD"] and " E " in l]
assert len(rips) == 2, rips
assert any(int(t[2], 16) <= rips[0] < int(t[2], 16) + int(t[5], 16) for t in text), (rips, text)
PY
check "cardvisor resume answers running" grep -q "$id running" <("$CARDVISOR" resume "$id")
check "resume of a running VM is harmless" grep -q "$id running" <("$CARDVISOR" resume "$id")

# Attaching to the console replays what the guest printed before, then follows it.
"$CARDVISOR" console "$id" </dev/null >"$TMP/console.out" 2>"$TMP/console.err" &
console_pid=$!
for _ in $(seq 1 50); do
	grep -q 'waiting for a shutdown request' "$TMP/console.out" && break
	sleep 0.1
done
check "cardvisor console replays the boot log on attach" \
	grep -q '^cvguest: boot pvh magic=ok cmdline="wait"' "$TMP/console.out"

"$CARDVISOR" stop "$id" --timeout 30 >"$TMP/stop.out" 2>&1
check "cardvisor stop returns once the VM has stopped" grep -q "$id stopped" "$TMP/stop.out"
wait_vm graceful
wait "$console_pid"
check "the attached console follows the guest to its power-off" \
	grep -q '^cvguest: shutdown requested' "$TMP/console.out"
check "the console client says the console closed" grep -q 'console closed' "$TMP/console.err"
expect graceful "the guest saw Ctrl+Alt+Del on its keyboard" '^cvguest: shutdown requested'
expect graceful "graceful stop is the guest's own power-off" 'guest powered off'
expect_rc graceful "graceful stop: exit status 0" 0
check "the stopped VM is gone from cardvisor ps" \
	bash -c "! '$CARDVISOR' ps | grep -q '$id'"

# A guest that ignores the request is stopped by force after the timeout;
# `nokbd` makes the test guest ignore its keyboard.
if start_vm stubborn --guest "$TESTGUEST" --cmdline "wait nokbd"; then
	"$CARDVISOR" stop "$id" --timeout 1 >"$TMP/stop2.out" 2>&1
	wait_vm stubborn
	expect stubborn "a guest that ignores the request is forced off after the timeout" \
		'forced: the guest did not shut down in time'
	expect_rc stubborn "forced stop: exit status 0" 0
else
	not_ok "a stubborn guest comes up"
fi

if start_vm forced --guest "$TESTGUEST" --cmdline wait; then
	"$CARDVISOR" stop --force "$id" >/dev/null 2>&1
	wait_vm forced
	expect forced "cardvisor stop --force stops at once" 'stopped on request \(forced\)'
else
	not_ok "a guest to force-stop comes up"
fi

if start_vm sig --guest "$TESTGUEST" --cmdline wait; then
	pkill -TERM -f "cv-hv --instance $CARDVISOR_RUNDIR/$id/" 
	wait_vm sig
	expect sig "SIGTERM to cv-hv stops the VM" 'stopped by signal'
	expect_rc sig "SIGTERM: exit status 0" 0
else
	not_ok "a guest to signal comes up"
fi

# A reboot from inside the guest ends the VM (as in Firecracker), through
# either reset the platform has: the FADT's reset register, which Linux
# tries first, and the i8042's reset line.
for how in reboot reboot-kbd; do
	run_vm "$how" --guest "$TESTGUEST" --cmdline "$how"
done
expect reboot "a reset through the ACPI reset register ends the VM" \
	'guest reset through the ACPI reset register'
expect_rc reboot "ACPI reset: exit status 0" 0
expect reboot-kbd "a reset through the i8042 ends the VM" 'guest reset through the i8042'
expect_rc reboot-kbd "i8042 reset: exit status 0" 0

# A run directory whose cv-hv died without cleaning up is removed by ps.
mkdir -p "$CARDVISOR_RUNDIR/i-0000000000000dead"
echo 999999999 >"$CARDVISOR_RUNDIR/i-0000000000000dead/pid"
"$CARDVISOR" ps >/dev/null 2>&1
check "cardvisor ps clears the run directory of a cv-hv that died" \
	test ! -e "$CARDVISOR_RUNDIR/i-0000000000000dead"

check "an unknown instance gets a clear error" \
	bash -c "'$CARDVISOR' status i-00000000000000000 2>&1 | grep -q 'is not running'"
check "a malformed id is refused" \
	bash -c "'$CARDVISOR' stop ../../etc 2>&1 | grep -q 'not an instance id'"
