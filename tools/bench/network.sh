#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The network benchmark (docs/benchmarks.md, "Network"): packets/s and
# Gbit/s through cv-vpc with security groups, connection tracking and VXLAN
# on, both ways, for 64 B and 1500 B frames, against a plain UDP socket pair
# on loopback measured in the same run.  build/bench/vpc_bench starts the
# card from an instance description, as cardvisor does, and is its
# vhost-user front-end (a polling guest driver: the nested software KVM of
# this host cannot drive line rate from a real guest).  No thresholds: the
# numbers are reported, never judged; the exit status says whether it ran
# and every frame checked arrived intact.
#
# usage: tools/bench/network.sh [BUILD]
# env:   BENCH_REPEAT=N         runs per measurement, the median reported (default 5)
#        BENCH_NET_SECONDS=S    counted seconds per run, after 0.2 s of warm-up (default 1)
#        BENCH_NET_SIZES=64,1500  Ethernet frame sizes, bytes without FCS
#        BENCH_NET_WINDOW=N     frames in flight on the UDP legs (default 64)
set -u

BUILD=${1:-${BUILD:-build}}
BENCH=$BUILD/bench/vpc_bench
CARD=$BUILD/cv-vpc
REPEAT=${BENCH_REPEAT:-5}
SECONDS_PER_RUN=${BENCH_NET_SECONDS:-1}
SIZES=${BENCH_NET_SIZES:-64,1500}
WINDOW=${BENCH_NET_WINDOW:-64}

die() { echo "network bench: $*" >&2; exit 1; }
for f in "$BENCH" "$CARD"; do
	[ -x "$f" ] || die "$f is missing: run make first"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cv-netbench.XXXXXX")
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	# vpc_bench stops its card; this is for a bench that was killed.
	local pid
	pid=$(cat "$TMP/card.pid" 2>/dev/null)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

echo "network: Ethernet frames carrying IPv4/UDP, one flow each way, $(nproc) CPUs shared by both ends"
echo "  cv-vpc TX: vhost-user TX ring -> cv-vpc (source MAC/IP, SG egress + conntrack, mapping,"
echo "             VXLAN) -> UDP on loopback -> sink socket"
echo "  cv-vpc RX: remote-host socket -> VXLAN on loopback -> cv-vpc (decap, VNI, underlay"
echo "             source, SG ingress + conntrack) -> vhost-user RX ring"
echo "  UDP loopback: the frame's bytes as the payload of a plain UDP socket pair, both ends polling"
echo "  bench side: 32 frames per kick / sendmmsg, recvmmsg of up to 64, at most $WINDOW frames"
echo "  in flight on the UDP legs; cv-vpc makes one sendmsg (TX) or recvfrom (RX) per frame"
echo

# Every run is bounded: warm-up + counted time + settling, per path, size and repeat.
nsizes=$(tr ',' '\n' <<<"$SIZES" | grep -c .)
limit=$(awk -v r="$REPEAT" -v s="$SECONDS_PER_RUN" -v n="$nsizes" \
	'BEGIN { printf "%d", 30 + r * n * 3 * (s + 0.5) * 2 }')
timeout --kill-after=5 "$limit" "$BENCH" --card "$CARD" --dir "$TMP" --repeat "$REPEAT" \
	--seconds "$SECONDS_PER_RUN" --sizes "$SIZES" --window "$WINDOW" 2>"$TMP/log"
status=$?
echo
echo "Each figure: the median of $REPEAT runs of ${SECONDS_PER_RUN} s (by pps; Mpps range: the slowest and"
echo "fastest run).  Mpps, Gbit/s: frames (bytes without preamble, FCS or gap) delivered at the far"
echo "side per wall second.  wall ns: 1e9 / pps, both ends busy on shared CPUs.  CPU ns/pkt: cv-vpc's"
echo "process CPU time per packet; for loopback, sender+receiver thread CPU time inside the"
echo "sendmmsg/recvmmsg calls that moved data.  vs UDP: pps against loopback.  CPU vs: cv-vpc's CPU"
echo "per packet against the loopback end doing the same job (sending for TX, receiving for RX)."
echo "lost: sent but never delivered (a socket buffer overran).  Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# The card's own counters at exit: every frame it did not deliver has a reason.
grep -E "cv-vpc: .*(from guest|tx_bad)" "$TMP/log" | sed 's/^\[[ 0-9.]*\] /  /'
if [ "$status" != 0 ]; then
	echo "network bench: vpc_bench failed (status $status); its log:" >&2
	sed 's/^/  /' "$TMP/log" >&2
fi
exit "$status"
