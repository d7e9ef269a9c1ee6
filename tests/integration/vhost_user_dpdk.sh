#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The VPC card's vhost-user-net back-end against a real front-end: DPDK's
# net_virtio_user driven by dpdk-testpmd (Debian package dpdk-dev).
# tests/tools/vnet_echo serves the socket and echoes every frame; testpmd
# sends a first burst and forwards what comes back, so frames circle
# testpmd -> TX ring -> back-end -> RX ring -> testpmd until it stops.
# Checked: the handshake, frames both ways with one and two queue pairs,
# a second front-end connecting after the first left, no request refused.
set -u
. "$(dirname "$0")/lib.sh"

ECHO=$BUILD/tests/tools/vnet_echo
TESTPMD=$(command -v dpdk-testpmd || true)
echo_pid=

cleanup() {
	[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "$TESTPMD" ]; then
	skip "DPDK net_virtio_user front-end" "dpdk-testpmd not installed (apt-get install dpdk-dev)"
	exit 0
fi
if [ ! -x "$ECHO" ]; then
	not_ok "vnet_echo built ($ECHO missing)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	skip "DPDK net_virtio_user front-end" "testpmd needs root for /var/run/dpdk"
	exit 0
fi

# start_echo PAIRS: a fresh back-end on $TMP/vu.sock, its output in $TMP/echo.out.
start_echo() {
	rm -f "$TMP/vu.sock"
	timeout --kill-after=5 120 "$ECHO" "$TMP/vu.sock" "$1" >"$TMP/echo.out" 2>&1 &
	echo_pid=$!
	for _ in $(seq 50); do
		[ -S "$TMP/vu.sock" ] && return 0
		sleep 0.1
	done
	return 1
}

# stop_echo: SIGTERM makes it print its counters line.
stop_echo() {
	kill -TERM "$echo_pid" 2>/dev/null
	wait "$echo_pid" 2>/dev/null
	echo_pid=
}

# testpmd NAME QUEUES: one run, forwarding for 2 seconds, output in $TMP/NAME.out.
# --no-huge: plain memory, which virtio_user shares with the back-end as
# memfd-backed segments; the pool is small so 512 MiB holds it.
testpmd() {
	(sleep 2; echo) | timeout --kill-after=5 60 "$TESTPMD" -l 0-1 --no-huge -m 512 \
		--no-pci --file-prefix "cv-vu-$$" \
		--vdev "net_virtio_user0,path=$TMP/vu.sock,queues=$2" -- \
		--tx-first --rxq="$2" --txq="$2" --total-num-mbufs=4096 \
		--stats-period 0 >"$TMP/$1.out" 2>&1
}

# rx_packets NAME: testpmd's accumulated RX-packets count.
rx_packets() {
	awk '/Accumulated forward statistics/ { acc = 1 }
	     acc && /RX-packets:/ { print $2; exit }' "$TMP/$1.out"
}

# counter NAME: a field of vnet_echo's final counters line.
counter() {
	awk -v k="$1" '/^vnet_echo: connects/ {
		for (i = 2; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$TMP/echo.out"
}

show_tail() {
	tail -n 15 "$1" | sed 's/^/#   /'
}

check_run() { # NAME WHAT
	local n; n=$(rx_packets "$1")
	if [ -n "$n" ] && [ "$n" -gt 0 ]; then
		ok "$2: testpmd received $n echoed frames"
	else
		not_ok "$2: testpmd received no frames"
		show_tail "$TMP/$1.out"
		show_tail "$TMP/echo.out"
	fi
}

if ! start_echo 1; then
	not_ok "vnet_echo listens"
	exit 0
fi
testpmd one 1
check_run one "one queue pair"
testpmd again 1
check_run again "a new front-end after the first disconnected"
stop_echo
check "both front-ends connected to one back-end" [ "$(counter connects)" = 2 ]
tx=$(counter tx) rx=$(counter rx)
check "back-end moved frames both ways (tx $tx, rx $rx)" \
	[ "${tx:-0}" -gt 0 -a "${rx:-0}" -gt 0 ]
check "no request refused, no bad TX header" \
	[ "$(counter rejected)" = 0 -a "$(counter tx_bad)" = 0 ]

if ! start_echo 2; then
	not_ok "vnet_echo listens with two queue pairs"
	exit 0
fi
testpmd mq 2
check_run mq "two queue pairs (VIRTIO_NET_F_MQ)"
stop_echo
check "two queue pairs: no request refused" [ "$(counter rejected)" = 0 ]
