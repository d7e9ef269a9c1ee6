#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# System call allow-lists (tools/lib/syscall_filter.h, issue 11): each
# card and cv-storaged serves under a seccomp filter of its own.  Here on
# a running cv-ebs, cv-vpc and cv-storaged of one instance description:
# the kernel reports the filter on each (Seccomp 2), and a system call
# outside the list, made through the cards' test hook
# ({"cmd":"seccomp-probe"} on the control socket), ends that card with
# SIGSYS and one log line naming the call, while the other card and
# cv-storaged go on.  --seccomp=off is the one way to run without the
# filter: it says so in the log, and the same probe then just answers.
# That cardvisor restarts a card that dies so runs in the nested-KVM test
# (group cardkill), which needs a VM.
. "$(dirname "$0")/lib.sh"

what="seccomp allow-lists"
cards_alone_start "$what"

call() { "$BUILD"/tests/tools/ctl_call "$@" 2>/dev/null; }
field() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"; }
ebs_pid=$(pgrep -f "^$BUILD/cv-ebs --instance $TMP/inst.dtb" | head -n1)
vpc_pid=$(pgrep -f "^$BUILD/cv-vpc --instance $TMP/inst.dtb" | head -n1)
for p in cv-ebs:$ebs_pid cv-vpc:$vpc_pid cv-storaged:$(cat "$STORAGED_PID"); do
	pid=${p#*:}
	# Its sockets exist before the end of its set-up, where the filter comes.
	for _ in $(seq 50); do [ "$(field "$pid" Seccomp)" = 2 ] && break; sleep 0.1; done
	check "${p%:*}: serves under a seccomp filter (Seccomp $(field "$pid" Seccomp))" \
		test "$(field "$pid" Seccomp)" = 2
done

# pids[1] is the timeout around cv-vpc: it exits with the card's status.
call "$TMP/vpc.sock.ctl" '{"cmd":"seccomp-probe"}' >"$TMP/probe.out"
wait "${pids[1]}" 2>/dev/null
rc=$?
check "a system call outside cv-vpc's list ends it with SIGSYS (exit status $rc)" \
	test "$rc" = $((128 + $(kill -l SYS)))
check "it got no answer to the probe" test ! -s "$TMP/probe.out"
check "cv-vpc's log names the system call by number" \
	grep -qE "cv-vpc: error: seccomp: system call [0-9]+ outside its allow-list" "$TMP/cv-vpc.log"
r=$(call "$TMP/blk.sock.ctl")
json_check "cv-ebs goes on, its association to cv-storaged live" "$r" \
	"r['ok'] and r['nvmf']['live']"

# The same card without the filter: the only test that runs --seccomp=off.
timeout --kill-after=5 300 "$BUILD/cv-vpc" --instance "$TMP/inst.dtb" --nic eni-0 \
	--seccomp=off >"$TMP/cv-vpc-off.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	grep -q "seccomp: OFF" "$TMP/cv-vpc-off.log" && [ -S "$TMP/vpc.sock.ctl" ] &&
		call "$TMP/vpc.sock.ctl" >/dev/null && break
	sleep 0.1
done
check "--seccomp=off says so in the card's log" \
	grep -q "cv-vpc: warn: seccomp: OFF (--seccomp=off)" "$TMP/cv-vpc-off.log"
pid=$(pgrep -f "^$BUILD/cv-vpc --instance $TMP/inst.dtb --nic eni-0 --seccomp=off" | head -n1)
check "--seccomp=off: no filter (Seccomp $(field "$pid" Seccomp))" test "$(field "$pid" Seccomp)" = 0
r=$(call "$TMP/vpc.sock.ctl" '{"cmd":"seccomp-probe"}')
json_check "--seccomp=off: the probe's system call runs and the card answers" "$r" \
	"r['ok'] and r['filtered'] is False"
check "bad --seccomp values are refused" \
	bash -c "! '$BUILD/cv-vpc' --instance '$TMP/inst.dtb' --nic eni-0 --seccomp=maybe 2>/dev/null"

# Landlock (tools/lib/landlock.h) under the jail: the same card without the
# filter, so that its probe can run.  Unjailed it opens files and connects
# anywhere; jailed it can do neither, with its root's /proc right there.
r=$(call "$TMP/vpc.sock.ctl" '{"cmd":"landlock-probe"}')
json_check "unjailed: the card opens a file and connects to a TCP port" "$r" \
	"r['ok'] and r['file_open'] and r['tcp_connect']"
kill "$pid" 2>/dev/null
if [ ${#CARD_JAIL[@]} -gt 0 ]; then
	for _ in $(seq 50); do [ -S "$TMP/vpc.sock.ctl" ] || break; sleep 0.1; done
	timeout --kill-after=5 300 "$BUILD/cv-vpc" --instance "$TMP/inst.dtb" --nic eni-0 \
		--seccomp=off "${CARD_JAIL[@]}" >"$TMP/cv-vpc-ll.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		grep -q "landlock" "$TMP/cv-vpc-ll.log" && call "$TMP/vpc.sock.ctl" >/dev/null && break
		sleep 0.1
	done
	if grep -q "landlock: not in this kernel" "$TMP/cv-vpc-ll.log"; then
		skip "landlock in the jail" "$(grep -o 'landlock: .*' "$TMP/cv-vpc-ll.log")"
	else
		r=$(call "$TMP/vpc.sock.ctl" '{"cmd":"landlock-probe"}')
		abi=$(sed -n 's/.*landlock ABI \([0-9]*\):.*/\1/p' "$TMP/cv-vpc-ll.log")
		json_check "jailed: landlock (ABI $abi) lets the card open no file" "$r" \
			"r['ok'] and not r['file_open']"
		if [ "${abi:-0}" -ge 4 ]; then
			json_check "jailed: and connect to no TCP port" "$r" "not r['tcp_connect']"
			check "the card's log says what landlock allows" \
				grep -q "cv-vpc: info: landlock ABI $abi: files: none; TCP: none" \
				"$TMP/cv-vpc-ll.log"
		else
			skip "landlock: no TCP connect" "ABI $abi has no network rules (Linux 6.7)"
		fi
	fi
else
	skip "landlock in the jail" "not root: the cards run unjailed here"
fi
