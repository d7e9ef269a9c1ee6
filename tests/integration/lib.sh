# SPDX-License-Identifier: Apache-2.0
# Helpers for integration scripts: TAP output and running VMs with a time limit.
# Every VM a test starts has a timeout and, on failure, the test prints the
# last lines the guest wrote: never a hang, never a silent failure.

BUILD=${BUILD:-build}
CARDVISOR=${CARDVISOR:-$BUILD/cardvisor}
TESTGUEST=${TESTGUEST:-$BUILD/guest/cv-testguest.elf}
VM_TIMEOUT=${VM_TIMEOUT:-120}
TMP=$(mktemp -d /tmp/cv-test.XXXXXX)
export CARDVISOR_RUNDIR=$TMP/run
trap 'rm -rf "$TMP"' EXIT

ok()      { echo "ok - $*"; }
not_ok()  { echo "not ok - $*"; }
skip()    { echo "ok - $1 # SKIP $2"; }

# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# Every card a test starts as root serves from its jail, as cardvisor starts
# it (tools/lib/jail.h): "${CARD_JAIL[@]}" goes last on its command line.
CARD_JAIL=()
[ "$(id -u)" = 0 ] && CARD_JAIL=(--jail)

# run_vm NAME ARGS...: runs `cardvisor run ARGS` with a timeout, console and
# logs in $TMP/NAME.out, exit status in $TMP/NAME.rc.
run_vm() {
	local name=$1; shift
	timeout --kill-after=10 "$VM_TIMEOUT" "$CARDVISOR" run "$@" </dev/null \
		>"$TMP/$name.out" 2>&1
	echo $? >"$TMP/$name.rc"
	if [ "$(cat "$TMP/$name.rc")" = 124 ]; then
		echo "# $name: timed out after ${VM_TIMEOUT}s" >>"$TMP/$name.out"
	fi
}

rc_of()  { cat "$TMP/$1.rc"; }
out_of() { cat "$TMP/$1.out"; }

# expect NAME DESCRIPTION REGEX: the VM's output has a line matching REGEX.
expect() {
	if grep -qE -- "$3" "$TMP/$1.out"; then
		ok "$2"
	else
		not_ok "$2"
		echo "# expected /$3/ in the output of $1; its last lines:"
		tail -n 15 "$TMP/$1.out" | sed 's/^/#   /'
	fi
}

# expect_rc NAME DESCRIPTION CODE
expect_rc() {
	local rc; rc=$(rc_of "$1")
	if [ "$rc" = "$3" ]; then
		ok "$2"
	else
		not_ok "$2 (exit status $rc, expected $3)"
		tail -n 15 "$TMP/$1.out" | sed 's/^/#   /'
	fi
}

# json_check DESCRIPTION JSON PYTHON-EXPRESSION: one TAP line, whether the
# expression (it may span lines) holds for JSON (a control socket's reply)
# parsed as r; false after a failure, for the caller to say more.
json_check() {
	if python3 -c 'import json, sys; r = json.loads(sys.argv[1])
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' \
		"$2" "$3" 2>/dev/null; then
		ok "$1"
	else
		not_ok "$1"
		echo "#   reply: ${2:0:300}"
		return 1
	fi
}

# wait_line FILE REGEX SECONDS: true once FILE has a line matching REGEX
# (extended), false after SECONDS without one.
wait_line() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -aqE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

have_kvm() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# kill_card_when NAME PIDFILES REGEX: once VM NAME's output matches REGEX
# and a card's pid file (a glob under $CARDVISOR_RUNDIR, like
# 'i-*/eni-*.sock.pid') exists, wait a second and SIGKILL that card; prints
# its pid.  Gives up after 60 s.
kill_card_when() {
	local pid
	for _ in $(seq 600); do
		# shellcheck disable=SC2086  # $2 is a glob
		pid=$(cat "$CARDVISOR_RUNDIR"/$2 2>/dev/null | head -n1)
		if [ -n "$pid" ] && grep -qE "$3" "$TMP/$1.out" 2>/dev/null; then
			sleep 1
			kill -9 "$pid" && echo "$pid"
			return
		fi
		sleep 0.1
	done
}

# volume_env: a volume store and cv-storaged port of the test's own, so
# `cardvisor run --volume` starts a cv-storaged nobody else shares.  Sets
# $port and $STORAGED_PID; call storaged_kill from the test's EXIT trap.
volume_env() {
	export CARDVISOR_STATE=$TMP/state
	port=$(tests/tools/free_port.py)
	export CARDVISOR_STORAGED=127.0.0.1:$port
	STORAGED_PID=$CARDVISOR_RUNDIR/storaged/pid
}
# cards_alone_start WHAT: a cv-ebs (vhost-user-blk face, a new 16 MiB
# volume on this test's cv-storaged) and a cv-vpc (eni-0) of one instance
# description, $TMP/inst.dtb, with no VM; returns once both serve
# $TMP/blk.sock and $TMP/vpc.sock and their control sockets (.ctl).  Sets
# $vol and $pids (the cards' time limits); stops them and cv-storaged, and
# removes $TMP, at exit.  A failure is one "not ok" for WHAT and the end.
cards_alone_start() {
	local ids name sock
	volume_env
	pids=()
	trap cards_alone_stop EXIT
	ids=$("$BUILD/tests/tools/mkinstance" "$TMP/inst.dtb" --kernel "$TESTGUEST" \
		--nic "$TMP/vpc.sock,10.0.1.0/24,10.0.1.23,02:00:0a:00:01:17" \
		--volume "$TMP/blk.sock,size=16M" --storaged "$BUILD/cv-storaged" \
		2>"$TMP/mk.err") || {
		not_ok "$1: mkinstance: $(tail -n1 "$TMP/mk.err")"
		exit 0
	}
	vol=$(sed -n 2p <<<"$ids")
	timeout --kill-after=5 300 "$BUILD/cv-ebs" --instance "$TMP/inst.dtb" --volume "$vol" \
		"${CARD_JAIL[@]}" >"$TMP/cv-ebs.log" 2>&1 &
	pids+=($!)
	timeout --kill-after=5 300 "$BUILD/cv-vpc" --instance "$TMP/inst.dtb" --nic eni-0 \
		"${CARD_JAIL[@]}" >"$TMP/cv-vpc.log" 2>&1 &
	pids+=($!)
	for name in cv-ebs:blk cv-vpc:vpc; do
		sock=$TMP/${name#*:}.sock.ctl
		for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
		[ -S "$sock" ] && continue
		not_ok "$1: ${name%:*} serves $sock"
		sed 's/^/#   /' "$TMP/${name%:*}.log" | tail -n 10
		exit 0
	done
}
# shellcheck disable=SC2317  # called by the trap
cards_alone_stop() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	storaged_kill
	wait 2>/dev/null
	rm -rf "$TMP"
}
storaged_kill() { [ -s "$STORAGED_PID" ] && kill -9 "$(cat "$STORAGED_PID")" 2>/dev/null; }

# storaged_listen NAME LIMIT ARGS...: cv-storaged ($STORAGED if set) ARGS on
# 127.0.0.1, a port of its choosing, in the background under a LIMIT-second
# timeout (its pid in SD_JOB), log $TMP/NAME.log, pid file $TMP/NAME.pid.
# Waits until it listens; SD_PORT is its port, empty if it did not start.
storaged_listen() {
	local name=$1 limit=$2
	shift 2
	timeout --kill-after=5 "$limit" "${STORAGED:-$BUILD/cv-storaged}" --listen 127.0.0.1:0 \
		--pidfile "$TMP/$name.pid" "$@" >"$TMP/$name.log" 2>&1 &
	SD_JOB=$!
	for _ in $(seq 100); do
		[ -s "$TMP/$name.pid" ] && break
		sleep 0.1
	done
	SD_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/$name.log")
}

# veth_netns_pair NS_A NS_B VETH_A VETH_B ADDR_A ADDR_B [ADDR...]: two network
# namespaces joined by a veth pair: VETH_A with ADDR_A (address/prefix) in
# NS_A, VETH_B with ADDR_B and any further ADDRs in NS_B, both up, and no
# IPv6 in NS_B (so only the frames a test asks for come back).  Nonzero with
# the reason on stderr where the host cannot (not root, no veth): a skip.
# netns_del removes them, veths and devices inside with them.
veth_netns_pair() {
	local ns_a=$1 ns_b=$2 veth_a=$3 veth_b=$4 addr_a=$5 addr
	shift 5
	ip netns add "$ns_a" && ip netns add "$ns_b" &&
		ip link add "$veth_a" type veth peer name "$veth_b" &&
		ip link set "$veth_a" netns "$ns_a" && ip link set "$veth_b" netns "$ns_b" &&
		ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
		ip -n "$ns_a" addr add "$addr_a" dev "$veth_a" || return 1
	for addr; do
		ip -n "$ns_b" addr add "$addr" dev "$veth_b" || return 1
	done
	ip -n "$ns_a" link set "$veth_a" up && ip -n "$ns_b" link set "$veth_b" up &&
		ip netns exec "$ns_b" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
}
netns_del() { local ns; for ns; do ip netns del "$ns" 2>/dev/null; done; }
