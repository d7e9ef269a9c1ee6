#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Detached instances, the CI use of cardvisor: `run -d` returns once the VM
# runs and prints its id, `logs` shows its console (and `--system` what the
# processes said), `wait` returns the status a foreground run would have,
# `rm` forgets it.  The record lives in $CARDVISOR_STATE/instances/ID.
# Where /dev/kvm is missing, a VM that cannot start still checks the
# failure path; the nested-KVM test (tests/nested/scenarios.sh, group
# lifecycle) runs the same flow on kvm_amd everywhere.
. "$(dirname "$0")/lib.sh"

export CARDVISOR_STATE=$TMP/state
cv() { "$CARDVISOR" "$@"; }
# cv_out NAME ARGS...: cardvisor ARGS, stdout in NAME.out, stderr in
# NAME.err, exit status in NAME.rc.
cv_out() {
	local name=$1; shift
	timeout --kill-after=5 60 "$CARDVISOR" "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $? >"$TMP/$name.rc"
}
# err NAME DESCRIPTION REGEX: NAME's stderr matches.
err() {
	if grep -qE -- "$3" "$TMP/$1.err"; then ok "$2"; else
		not_ok "$2"; sed 's/^/#   /' "$TMP/$1.err" | tail -n 10
	fi
}

# --- what needs no VM ---------------------------------------------------------
cv_out nowait wait i-0123456789abcdef0
expect_rc nowait "wait on an instance with no record: exit status 1" 1
err nowait "wait on an instance with no record: the error says so" 'no record of i-0123456789abcdef0'
cv_out badid logs ../etc
expect_rc badid "logs with a malformed id: exit status 1" 1
err badid "logs with a malformed id: the error names it" '"\.\./etc" is not an instance id'
cv_out dstdio run -d --guest "$TESTGUEST" --console stdio
expect_rc dstdio "run -d --console stdio: exit status 1" 1
err dstdio "run -d --console stdio: the error says why" 'no terminal for --console stdio'
cv_out badtimeout wait --timeout soon i-0123456789abcdef0
expect_rc badtimeout "wait --timeout soon: exit status 1" 1
err badtimeout "wait --timeout soon: the error names the value" '--timeout soon: expected'

# A VM that ends before it runs: run -d says so with its log and status.
printf 'not a kernel\n' >"$TMP/junk"
cv_out junk run -d --kernel "$TMP/junk"
expect_rc junk "run -d of a VM that cannot start: exit status 1, as in the foreground" 1
err junk "run -d of a VM that cannot start: the error says so" \
	"instance i-[0-9a-f]+ ended before it was running \\(exit status 1\\)"
err junk "run -d of a VM that cannot start: cv-hv's error line follows" 'cv-hv: error: '
check "run -d of a VM that cannot start: no id on standard output" test ! -s "$TMP/junk.out"
jid=$(grep -oE 'instance i-[0-9a-f]+' "$TMP/junk.err" | head -n1 | cut -d' ' -f2)
cv_out junkwait wait "$jid"
expect_rc junkwait "wait on it gives the same status" 1
cv_out junklog logs --system "$jid"
expect junklog "logs --system shows what cv-hv said" 'cv-hv: error: '
cv_out junkrm rm "$jid"
expect_rc junkrm "rm of an ended instance: exit status 0" 0
check "rm removed its record" test ! -e "$CARDVISOR_STATE/instances/$jid"
check "no run directory is left behind" bash -c "! ls '$CARDVISOR_RUNDIR' 2>/dev/null | grep -q ."

if ! have_kvm; then
	skip "a detached test guest: run -d, logs, wait --timeout, stop, wait, rm" \
		"/dev/kvm is not usable here (the nested-KVM test runs this flow)"
	exit 0
fi

# --- a detached test guest ------------------------------------------------------
cv_out start run -d --guest "$TESTGUEST" --mem 64M --cmdline wait
expect_rc start "run -d: exit status 0" 0
id=$(cat "$TMP/start.out")
check "run -d prints the instance id and nothing else on standard output" \
	grep -qxE 'i-[0-9a-f]+' "$TMP/start.out"
check "the detached instance is running (ps)" bash -c "'$CARDVISOR' ps | grep -qE '^$id +running'"
check "its console reaches cardvisor logs" \
	wait_line "$CARDVISOR_STATE/instances/$id/console.log" '^cvguest: waiting for a shutdown request' 60
cv_out logs1 logs "$id"
expect logs1 "cardvisor logs prints the console" '^cvguest: result pass'
cv_out tmo wait --timeout 1 "$id"
expect_rc tmo "wait --timeout 1 on a running guest: exit status 124" 124
cv_out busy rm "$id"
expect_rc busy "rm of a running instance is refused: exit status 1" 1
err busy "rm of a running instance: the error says to stop it" 'still running'
timeout 60 "$CARDVISOR" logs -f "$id" >"$TMP/follow.out" 2>&1 &
follow=$!
cv_out stop stop "$id"
expect_rc stop "cardvisor stop: exit status 0" 0
cv_out wait wait "$id"
expect_rc wait "wait: the guest's exit status after a graceful stop (0)" 0
wait "$follow"
echo $? >"$TMP/follow.rc"
expect_rc follow "logs -f ends when the instance ends" 0
expect follow "logs -f saw the end of the console" '^cvguest: shutdown requested'
cv_out sys logs --system "$id"
expect sys "logs --system has cv-hv's stop line" 'stopped \(guest powered off'
cv_out rm rm "$id"
expect_rc rm "rm after the end: exit status 0" 0
cv_out gone logs "$id"
expect_rc gone "logs after rm: exit status 1" 1

# A guest that fails: wait returns what the foreground run returns.
run_vm fg --guest "$TESTGUEST" --mem 64M --cmdline fault
cv_out bad run -d --guest "$TESTGUEST" --mem 64M --cmdline fault
cv_out badwait wait "$(cat "$TMP/bad.out")"
check "wait on a faulting guest returns the foreground run's status ($(rc_of fg))" \
	test "$(rc_of badwait)" = "$(rc_of fg)"
cv rm "$(cat "$TMP/bad.out")" >/dev/null 2>&1
