#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The blk-face benchmark (docs/benchmarks.md, "Blk face under QEMU"):
# Debian's stock kernel under QEMU 7.2 TCG runs fio on /dev/vda, once on
# cv-ebs's vhost-user-blk face (vhost-user-blk-pci -> cv-ebs, AES-256-XTS
# -> NVMe/TCP on loopback -> cv-storaged -> io_uring, O_DIRECT -> the
# volume file) and once on QEMU's own in-process virtio-blk on a raw file
# (cache=none, aio=native), same guest, same QEMU options otherwise, in one
# run, taking turns.  4 KiB random reads at QD 32 and 128 KiB sequential
# writes, after the guest has written the whole span once.  Prints a table
# with the ratio ours/QEMU; no thresholds: the numbers are reported, never
# judged.  The guest's /init is tools/bench/vblk-bench-init.
#
# usage: tools/bench/vblk_qemu.sh [BUILD]
# env:   BENCH_REPEAT=N         boots per side, taking turns (default 2)
#        BENCH_VBLK_ROUNDS=N    measured rounds per boot (default 1)
#        BENCH_VBLK_SECONDS=S   seconds per fio measurement (default 4)
#        BENCH_VBLK_MIB=M       MiB of the disk the guest uses (default 128)
#        BENCH_VBLK_RQD=Q       random-read queue depth (default 32)
#        BENCH_VBLK_WQD=Q       sequential-write queue depth (default 16)
#        BENCH_VBLK_SIDES=LIST  "ours qemu" (default), or one of them
#        BENCH_DIR=DIR          where the volume and the raw file live
#        BENCH_VBLK_KEEP=1      keep the run directory (consoles, cv-ebs log)
#        BENCH_VBLK_QEMU_ARGS=  more QEMU options, both sides (e.g. -trace ...)
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${1:-${BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
cd "$top" || exit 1

REPEAT=${BENCH_REPEAT:-3}
ROUNDS=${BENCH_VBLK_ROUNDS:-1}
SECS=${BENCH_VBLK_SECONDS:-4}
MIB=${BENCH_VBLK_MIB:-128}
RQD=${BENCH_VBLK_RQD:-32}
WQD=${BENCH_VBLK_WQD:-16}
SIDES=${BENCH_VBLK_SIDES:-ours qemu}
VM_TIMEOUT=${VM_TIMEOUT:-300}
read -r -a qemu_extra <<<"${BENCH_VBLK_QEMU_ARGS:-}"
MEM=1G       # fio and its libraries (~80 MiB) live in the initramfs

QEMU=$(command -v qemu-system-x86_64 || true)
FIO=$(command -v fio || true)
say() { echo "blk face: $*"; }
if [ -z "$QEMU" ] || [ -z "$FIO" ]; then
	say "not measured, $([ -z "$QEMU" ] && echo qemu-system-x86_64 || echo fio) is missing (make deps)"
	exit 0
fi
for b in cardvisor cv-storaged cv-ebs tests/tools/mkinstance; do
	[ -x "$BUILD/$b" ] || { say "$BUILD/$b is missing: run make first" >&2; exit 1; }
done

# shellcheck source=tools/bench/lib.sh
. "$here/lib.sh"
bench_env vblk "${BENCH_DIR:-}"
exec 3>&1
# tests/boot/lib.sh's helpers report in TAP; here a skip means "not
# measured" (exit 0), a failure makes the exit status 1.
failed=0
ok() { :; }
not_ok() { say "failed: $*" >&2; failed=1; }
skip() { say "not measured, $2" >&3; }
check() {
	local what=$1
	shift
	"$@" || not_ok "$what"
}
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	vblk_card_stop
	if [ -n "${BENCH_VBLK_KEEP:-}" ]; then
		echo "blk face: run directory kept: $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	[ "$failed" = 0 ] || exit 1
}
trap cleanup EXIT
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

mkdir -p "$TMP/extra"
boot_step "blk face" "copying fio" tests/boot/copy-with-libs.sh "$TMP/extra" usr/bin "$FIO"
EXTRA=$TMP/extra boot_prepare "blk face" tools/bench/vblk-bench-init >/dev/null

# cv-storaged and cv-ebs on $TMP/vblk.sock, a volume of the span's size.
vblk_card_start "${MIB}M"
[ "$failed" = 0 ] || exit 1

# The baseline's raw file, beside the volume store (same file system).
raw=$TMP/qemu-baseline.raw
truncate -s "${MIB}M" "$raw" || { not_ok "cannot create $raw"; exit 1; }
aio=native
probe_aio() {
	echo quit | timeout 30 "$QEMU" -machine none -nodefaults -display none -monitor stdio \
		-drive "file=$raw,format=raw,if=none,id=d0,cache=none,aio=$1" >"$TMP/probe.out" 2>&1
}
if ! probe_aio native; then
	aio=io_uring
	probe_aio io_uring || { not_ok "QEMU opens $raw with neither aio=native nor aio=io_uring:" \
		"$(grep -v '^(qemu)\|^QEMU' "$TMP/probe.out" | tail -n1)"; exit 1; }
fi

# cpu_ticks PID: user + system CPU time of a process in clock ticks
# (stat fields 14 and 15; the names here have no spaces); 0 once it is gone.
cpu_ticks() {
	local f
	read -r -a f <"/proc/$1/stat" 2>/dev/null || { echo 0; return; }
	echo $((f[13] + f[14]))
}
# child_of PID: the process `timeout` runs (its one child).
child_of() {
	local c
	for _ in $(seq 50); do
		read -r c _ <"/proc/$1/task/$1/children" 2>/dev/null
		[ -n "$c" ] && { echo "$c"; return; }
		sleep 0.1
	done
	echo "$1"
}
CLK_TCK=$(getconf CLK_TCK)
sd_pid=$(cat "$TMP/storaged.pid" 2>/dev/null)
# shellcheck disable=SC2154  # set by vblk_card_start
ebs_proc=$(child_of "$ebs_pid")

# boot SIDE N: one VM, console in $TMP/SIDE-N.out.  While it runs, the
# host CPU time of QEMU, cv-ebs and cv-storaged is sampled at each measured
# run's "cvbench: start" and result lines (0.2 s polling): $TMP/SIDE-N.cpu
# gets "WORKLOAD qemu_ticks ebs_ticks storaged_ticks" per run.
boot() {
	local side=$1 n=$2 out=$TMP/$1-$2.out dev qemu qproc seen=0 ev w t0 e
	local -a lines
	if [ "$side" = ours ]; then
		dev=(-chardev "socket,id=c0,path=$TMP/vblk.sock"
		     -device "vhost-user-blk-pci,chardev=c0,num-queues=2,queue-size=128,vectors=0")
	else
		dev=(-drive "file=$raw,format=raw,if=none,id=d0,cache=none,aio=$aio"
		     -device "virtio-blk-pci,drive=d0,num-queues=2,queue-size=128,vectors=0,logical_block_size=4096,physical_block_size=4096")
	fi
	: >"$TMP/$side-$n.cpu"
	timeout --kill-after=5 "$VM_TIMEOUT" "$QEMU" -machine q35,accel=tcg -m $MEM -smp 2 \
		-object memory-backend-memfd,id=mem,size=$MEM,share=on -numa node,memdev=mem \
		"${dev[@]}" -kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet cvbench_mib=$MIB cvbench_time=$SECS cvbench_rounds=$ROUNDS cvbench_rqd=$RQD cvbench_wqd=$WQD" \
		-no-reboot -display none -serial "file:$out" -monitor none "${qemu_extra[@]}" \
		</dev/null >"$TMP/$side-$n.qemu" 2>&1 &
	qemu=$!
	qproc=$(child_of "$qemu")
	while kill -0 "$qemu" 2>/dev/null; do
		mapfile -t lines < <(tr -d '\r' 2>/dev/null <"$out" | grep -a '^cvbench: \(start\|fio\) ' | cut -d' ' -f2,3)
		for ev in "${lines[@]:seen}"; do
			w=${ev#* }
			e="$(cpu_ticks "$qproc") $(cpu_ticks "$ebs_proc") $(cpu_ticks "$sd_pid")"
			if [ "${ev%% *}" = start ]; then
				t0=$e
			elif [ -n "${t0:-}" ]; then
				# shellcheck disable=SC2086  # two lists of three numbers
				set -- $t0 $e
				[ "$side" = ours ] || set -- "$1" 0 0 "$4" 0 0
				echo "$w $(($4 - $1)) $(($5 - $2)) $(($6 - $3))" >>"$TMP/$side-$n.cpu"
				t0=
			fi
		done
		seen=${#lines[@]}
		sleep 0.2
	done
	wait "$qemu"
	echo $? >"$TMP/$side-$n.rc"
	if ! grep -aq '^cvbench: done' "$out" || grep -aq '^cvbench: fail' "$out"; then
		not_ok "$side boot $n: $(tr -d '\r' <"$out" | grep -a -m1 '^cvbench: fail' ||
			echo "no result, exit $(cat "$TMP/$side-$n.rc")")"
		tr -d '\r' <"$out" | grep -av '^$' | tail -n 10 | sed 's/^/    /' >&2
	fi
}

mbs() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
echo "blk face: Debian's kernel ($(awk '{ print $1; exit }' "$BOOT_DIR/version" 2>/dev/null)) under QEMU $("$QEMU" --version |
	sed -n '1s/.*version \([0-9.]*\).*/\1/p') TCG, 2 vCPUs, $MEM;"
echo "  fio $("$FIO" --version | sed 's/^fio-//') libaio, O_DIRECT on /dev/vda over $MIB MiB, written once before anything is measured"
echo "  ours: vhost-user-blk-pci -> cv-ebs blk face (AES-256-XTS) -> NVMe/TCP on loopback"
echo "        -> cv-storaged -> io_uring, O_DIRECT -> volume file"
echo "  QEMU: virtio-blk-pci, -drive format=raw,cache=none,aio=$aio on a raw file beside it"
echo "  both: num-queues=2, queue-size=128, vectors=0 (INTx), 4 KiB logical blocks, memfd share=on RAM"

for n in $(seq "$REPEAT"); do
	for side in $SIDES; do
		boot "$side" "$n"
	done
done

# Every measured fio line, parsed: "side boot workload iops bw_kib p50_us
# p99_us io_kib" (terse v3: read iops 8, bw 7, clat p50 24, p99 30, I/O 6;
# write 49, 48, 65, 71, 47; percentiles are "P%=USEC").
for side in $SIDES; do
	for n in $(seq "$REPEAT"); do
		[ -s "$TMP/$side-$n.out" ] || continue
		tr -d '\r' <"$TMP/$side-$n.out" | grep -a '^cvbench: fio ' | cut -d' ' -f3- |
			awk -v s="$side" -v n="$n" '{
				split($3, f, ";")
				if ($1 == "randread") { i = f[8]; b = f[7]; p50 = f[24]; p99 = f[30]; k = f[6] }
				else { i = f[49]; b = f[48]; p50 = f[65]; p99 = f[71]; k = f[47] }
				sub(/.*=/, "", p50); sub(/.*=/, "", p99)
				print s, n, $1, i, b, p50, p99, k }'
	done
done >"$TMP/results"

# median SIDE WORKLOAD COLUMN: over every boot and round, the mean of the
# middle two for an even count ("-" when none ran).
median() {
	awk -v s="$1" -v w="$2" -v c="$3" '$1 == s && $3 == w { print $c }' "$TMP/results" |
		sort -g | awk '{ v[NR] = $1 }
		END { print !NR ? "-" : NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# %9s for the µs headers: printf pads bytes, and µ takes two.
ROW='%-22s %3s | %8s %8s %8s | %8s %8s %8s | %6s %6s %6s\n'
printf '\n%-26s | %-26s | %-26s | %s\n' "" "cv-ebs blk face" "QEMU virtio-blk" "ours/QEMU"
printf '%-22s %3s | %8s %9s %9s | %8s %9s %9s | %6s %6s %6s\n' workload QD result \
	"p50 µs" "p99 µs" result "p50 µs" "p99 µs" result p50 p99
for w in randread seqwrite; do
	if [ "$w" = randread ]; then
		label="4 KiB randread, IOPS" qd=$RQD
	else
		label="128 KiB seqwrite, MB/s" qd=$WQD
	fi
	vals=()
	for side in ours qemu; do
		if [ "$w" = randread ]; then
			v=$(median "$side" "$w" 4)
		else
			v=$(median "$side" "$w" 5)
			[ "$v" = - ] || v=$(mbs "$v")
		fi
		vals+=("$v" "$(median "$side" "$w" 6)" "$(median "$side" "$w" 7)")
	done
	awk -v row="$ROW" -v w="$label" -v qd="$qd" \
		-v a="${vals[0]}" -v a50="${vals[1]}" -v a99="${vals[2]}" \
		-v b="${vals[3]}" -v b50="${vals[4]}" -v b99="${vals[5]}" 'BEGIN {
		r1 = (a != "-" && b != "-" && b > 0) ? sprintf("%.2fx", a / b) : "-"
		r2 = (a50 != "-" && b50 != "-" && b50 > 0) ? sprintf("%.2fx", a50 / b50) : "-"
		r3 = (a99 != "-" && b99 != "-" && b99 > 0) ? sprintf("%.2fx", a99 / b99) : "-"
		d = (w ~ /MB/) ? 1 : 0
		printf row, w, qd, f(a, d), f(a50, 0), f(a99, 0), f(b, d), f(b50, 0), f(b99, 0), r1, r2, r3
	}
	# D decimals (a median of an even count is a mean of two).
	function f(v, d) { return v == "-" ? v : sprintf("%." d "f", v) }'
done

echo
echo "Each figure: the median of $REPEAT boot(s) x $ROUNDS round(s) of $SECS s per side, the sides taking"
echo "turns.  result: fio's IOPS, or MB/s (10^6 bytes/s); p50/p99: fio's completion latency."
echo "ours/QEMU: the result ratio (1.00x: the card's path is as fast as QEMU's own) and the"
echo "latency ratios.  Under TCG the absolute figures mean little (the guest's driver and"
echo "fio are emulated, and QEMU's vCPUs share the 2 CPUs with the card); the ratio counts."
echo "Per run, and what the guest's block layer saw:"
for side in $SIDES; do
	for n in $(seq "$REPEAT"); do
		out=$TMP/$side-$n.out
		[ -s "$out" ] || continue
		tr -d '\r' <"$out" | awk -v s="$side" -v n="$n" '
			/^cvbench: fio / { split($5, f, ";")
				if ($3 == "randread") { rr = rr sep1 f[8]; sep1 = "/" }
				else { sw = sw sep2 sprintf("%.1f", f[48] * 1024 / 1e6); sep2 = "/" } }
			/^cvbench: diskstat / { for (i = 5; i <= NF; i++) { split($i, kv, "="); d[$3, kv[1]] += kv[2] } }
			/^cvbench: queue / { qline = $0; sub(/^cvbench: queue /, "", qline) }
			END {
				printf "  %-4s boot %s: randread %s IOPS, seqwrite %s MB/s", s, n, rr, sw
				printf "\n"
				r = d["randread", "reads"]; w = d["seqwrite", "writes"]
				if (r && w) printf "    interrupts per request: randread %.2f, seqwrite %.2f; seqwrite: %.1f KiB per request at the device\n",
					d["randread", "irqs"] / r, d["seqwrite", "irqs"] / w, d["seqwrite", "write_kib"] / w
				if (n == 1) printf "    /sys/block/vda/queue: %s\n", qline }'
	done
done
# Host CPU per I/O: the processes' ticks over each measured run against the
# I/O fio did in it, summed over all runs of a side.
echo "Host CPU per I/O over the measured runs (sampled at their start and end, 0.2 s polling):"
for w in randread seqwrite; do
	for side in $SIDES; do
		cat "$TMP/$side-"*.cpu 2>/dev/null | awk -v w="$w" '$1 == w { q += $2; e += $3; s += $4 }
			END { print q + 0, e + 0, s + 0 }' | {
			read -r q e sd
			awk -v s="$side" -v w="$w" -v q="$q" -v e="$e" -v sd="$sd" -v tck="$CLK_TCK" \
				'$1 == s && $3 == w { k += $8 }
				END {
					bs = (w == "randread") ? 4 : 128
					ios = k / bs
					if (!ios) exit
					u = 1e6 / tck / ios
					printf "  %-8s %-4s %7.1f µs: QEMU %.1f", w, s, (q + e + sd) * u, q * u
					if (s == "ours") printf ", cv-ebs %.1f, cv-storaged %.1f", e * u, sd * u
					printf "\n" }' "$TMP/results"
		}
	done
done
