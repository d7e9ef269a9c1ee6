#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What NVMe/TCP's TLS 1.3 (TP 8011) and its digests cost on the storage
# link, without a guest: tests/tools/nvmf_cli (the card's NVMe/TCP host
# code, cards/ebs/nvmf_host.c and nvmf_pdu.c) runs 4 KiB random I/O, half
# writes, at QD 32 over 2 queues against cv-storaged on loopback, four
# ways: plain or TLS, without or with header and data digests (what cv-ebs
# negotiates today).  The baseline is plain without digests, measured in
# the same run; runs alternate between the four so that a busy moment
# hits them alike, and each row is the median of BENCH_REPEAT runs.  CPU
# per operation counts cv-storaged and the host together.  Nothing is
# judged: the numbers are printed.
#
# usage: tools/bench/nvmf_tls.sh [BUILD]
# env:   BENCH_OPS=N (default 100000), BENCH_REPEAT=N (default 3)
set -u

BUILD=${1:-${BUILD:-build}}
CLI=$BUILD/tests/tools/nvmf_cli
STORAGED=$BUILD/cv-storaged
OPS=${BENCH_OPS:-100000}
REPEAT=${BENCH_REPEAT:-3}
NQN=nqn.2026-11.io.cardvisor:bench

die() { echo "nvmf-tls bench: $*" >&2; exit 1; }
for f in "$CLI" "$STORAGED"; do
	[ -x "$f" ] || die "$f is missing: run make first"
done
command -v nvme >/dev/null || die "nvme-cli is missing (make deps): it makes the PSK"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cv-bench-tls.XXXXXX") || exit 1
SD_PID=
trap '[ -n "$SD_PID" ] && kill "$(cat "$TMP/sd.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$TMP"' EXIT
mkdir -p "$TMP/vols"
truncate -s 64M "$TMP/vols/bench.vol"
(umask 077; nvme gen-tls-key --hmac=1 >"$TMP/vols/bench.psk") ||
	die "nvme gen-tls-key failed"
PORT=$(tests/tools/free_port.py)
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: user + system time of a process (stat fields 14 and 15).
cpu_ticks() {
	local f
	read -r -a f <"/proc/$1/stat" 2>/dev/null || return 1
	echo $((f[13] + f[14]))
}

# start_storaged TLS: cv-storaged with --tls=TLS (required or off) on $PORT.
start_storaged() {
	rm -f "$TMP/sd.pid"
	"$STORAGED" --dir "$TMP/vols" --listen "127.0.0.1:$PORT" --pidfile "$TMP/sd.pid" \
		--tls="$1" >>"$TMP/storaged.log" 2>&1 &
	SD_PID=$!
	for _ in $(seq 100); do
		[ -s "$TMP/sd.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.05
	done
	die "cv-storaged did not start (see $TMP/storaged.log)"
}
stop_storaged() {
	kill "$(cat "$TMP/sd.pid")" 2>/dev/null
	wait "$SD_PID" 2>/dev/null
	SD_PID=
}

# one TLS DIGESTS: a run; prints "IOPS CPU_US_PER_OP".
one() {
	local args=(-t "127.0.0.1:$PORT" -n "$NQN" -q 2 -d 32 -i "$OPS" -s 16384)
	local out c0 c1 iops
	[ "$1" = on ] && args+=(-P "$TMP/vols/bench.psk")
	[ "$2" = on ] && args+=(-H -D)
	c0=$(cpu_ticks "$(cat "$TMP/sd.pid")")
	# The subshell's `times`: its children's (nvmf_cli's) user and system time.
	out=$( ( "$CLI" "${args[@]}" rand 2>&1 || echo "nvmf_cli failed"; times ) )
	c1=$(cpu_ticks "$(cat "$TMP/sd.pid")")
	grep -q 'errors=0 mismatches=0' <<<"$out" || die "nvmf_cli: $(head -n 3 <<<"$out")"
	iops=$(sed -n 's/.* iops=\([0-9]*\) .*/\1/p' <<<"$out")
	tail -n 1 <<<"$out" | tr 'ms' '  ' | awk -v iops="$iops" -v sd=$((c1 - c0)) \
		-v hz="$CLK_TCK" -v ops="$OPS" '
		{ cli = $1 * 60 + $2 + $3 * 60 + $4 }
		END { printf "%s %.1f\n", iops, (sd / hz + cli) * 1e6 / ops }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A iops cpu
rows=("off off" "off on" "on off" "on on")
for r in $(seq "$REPEAT"); do
	for tls in off on; do
		start_storaged "$([ $tls = on ] && echo required || echo off)"
		for dg in off on; do
			read -r i c < <(one $tls $dg)
			iops[$tls $dg]+="$i "
			cpu[$tls $dg]+="$c "
		done
		stop_storaged
	done
	echo "# run $r of $REPEAT done" >&2
done

echo "NVMe/TCP with TLS 1.3 and digests: nvmf_cli -> cv-storaged on loopback, 4 KiB random, 50% writes, QD 32, 2 queues, $OPS ops, median of $REPEAT"
printf '%-26s | %8s %8s | %7s %7s\n' "" IOPS "CPU/op" "IOPS" "CPU/op"
printf '%-26s | %8s %8s | %7s %7s\n' "" "" "us" "ratio" "ratio"
base_i=$(tr ' ' '\n' <<<"${iops[off off]}" | grep . | median)
base_c=$(tr ' ' '\n' <<<"${cpu[off off]}" | grep . | median)
for row in "${rows[@]}"; do
	read -r tls dg <<<"$row"
	i=$(tr ' ' '\n' <<<"${iops[$row]}" | grep . | median)
	c=$(tr ' ' '\n' <<<"${cpu[$row]}" | grep . | median)
	name="$([ "$tls" = on ] && echo TLS || echo plain), $([ "$dg" = on ] && echo "header+data digests" || echo "no digests")"
	awk -v n="$name" -v i="$i" -v c="$c" -v bi="$base_i" -v bc="$base_c" \
		'BEGIN { printf "%-26s | %8d %8.1f | %6.2fx %6.2fx\n", n, i, c, i / bi, c / bc }'
	echo "  $name: runs iops ${iops[$row]}; cpu/op ${cpu[$row]}" >&2
done
