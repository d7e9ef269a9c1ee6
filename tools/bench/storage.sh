#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The storage benchmark (docs/benchmarks.md): 4 KiB random reads and writes
# at QD 1 and 32 from the test guest through the whole EBS path (ring 3,
# polled: cv-hv -> vfio-user -> cv-ebs, AES-256-XTS -> NVMe/TCP ->
# cv-storaged -> io_uring -> the volume file), and the same pattern with
# io_uring straight on that same file (build/bench/uring_randio), in one
# run.  Prints a table with the ratio; no thresholds: the numbers are
# reported, never judged.
#
# usage: tools/bench/storage.sh [BUILD]
# env:   BENCH_OPS=N     operations per measurement, every row (default
#                        20000 at QD 1, 150000 at QD 32)
#        BENCH_REPEAT=N  runs per measurement, the median reported
#                        (default 3)
#        BENCH_DIR=DIR   where the volume file lives (default: a new
#                        directory under $TMPDIR or /tmp); the file system
#                        decides what O_DIRECT costs
set -u

BUILD=${1:-${BUILD:-build}}
CARDVISOR=$BUILD/cardvisor
TESTGUEST=$BUILD/guest/cv-testguest.elf
RANDIO=$BUILD/bench/uring_randio
VM_TIMEOUT=${VM_TIMEOUT:-600}
SIZE_MIB=64
UNITS=$((SIZE_MIB * 256))          # 4 KiB units: the whole volume
QUEUES=2
REPEAT=${BENCH_REPEAT:-3}

# shellcheck source=tools/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_env storage "${BENCH_DIR:-}"

die() { echo "storage bench: $*" >&2; exit 1; }

for f in "$CARDVISOR" "$TESTGUEST" "$RANDIO" "$BUILD/bench/tsc_hz"; do
	[ -x "$f" ] || [ -f "$f" ] || die "$f is missing: run make first"
done

# The guest's TSC ticks at the host's rate (cv-hv leaves the TSC rate to
# KVM); its own LAPIC-based calibration wanders on a software KVM.
host_hz=$("$BUILD/bench/tsc_hz" | sed -n 's/^tsc_hz=//p')
[ -n "$host_hz" ] || die "could not measure the host's TSC rate"

have_kvm=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && have_kvm=1

vol=bench
volfile=$CARDVISOR_STATE/volumes/$vol.vol

# cpu_ticks PID: user + system CPU time of a process in clock ticks, read
# without forking (stat fields 14 and 15; the names here have no spaces).
cpu_ticks() {
	local f
	read -r -a f <"/proc/$1/stat" 2>/dev/null || return 1
	echo $((f[13] + f[14]))
}
CLK_TCK=$(getconf CLK_TCK)

# guest NAME QD READS OPS: one VM running nvme-rand over the whole volume;
# prints "iops p50_us p99_us doorbell_writes doorbell_rings guest_hz
# ebs_cpu_us_per_op storaged_cpu_us_per_op".  cv-ebs lives as long as the
# VM, so its CPU time is sampled while it runs (the last sample misses at
# most 0.2 s of it, set-up included); cv-storaged's is read around the run.
guest() {
	local name=$1 qd=$2 reads=$3 ops=$4 out=$TMP/$1.out result lat vm ebs="" t
	local ebs_ticks=- sd_pid="" sd0="" sd1=""
	[ -s "$CARDVISOR_RUNDIR/storaged.pid" ] && sd_pid=$(cat "$CARDVISOR_RUNDIR/storaged.pid")
	[ -n "$sd_pid" ] && sd0=$(cpu_ticks "$sd_pid")
	timeout --kill-after=10 "$VM_TIMEOUT" "$CARDVISOR" run --guest "$TESTGUEST" --mem 128M \
		--cmdline "nvme-rand user qd=$qd ops=$ops reads=$reads queues=$QUEUES blocks=0 span=$UNITS" \
		--volume "id=$vol,queues=$QUEUES" </dev/null >"$out" 2>&1 &
	vm=$!
	while kill -0 "$vm" 2>/dev/null; do
		[ -n "$ebs" ] || ebs=$(sed -n 's/^cardvisor: .* served by cv-ebs.* pid \([0-9]*\)$/\1/p' "$out" 2>/dev/null)
		[ -n "$ebs" ] && t=$(cpu_ticks "$ebs") && ebs_ticks=$t
		sleep 0.2
	done
	wait "$vm"
	[ -n "$sd0" ] && sd1=$(cpu_ticks "$sd_pid")
	result=$(grep -m1 '^cvguest: nvme-rand done ' "$out")
	lat=$(grep -m1 '^cvguest: nvme-rand lat_tsc ' "$out")
	if [ -z "$result" ] || [ -z "$lat" ]; then
		echo "storage bench: $name: no nvme-rand result; last lines:" >&2
		tail -n 15 "$out" | sed 's/^/  /' >&2
		return 1
	fi
	echo "$result $lat" | awk -v hz="$host_hz" -v tck="$CLK_TCK" -v ebs="$ebs_ticks" \
		-v sd="${sd1:+$((sd1 - sd0))}" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		split(v["doorbells"], db, "/")
		printf "%.0f %.1f %.1f %s %s %s %s %s\n", v["ops"] * hz / v["tsc"],
			v["p50"] * 1e6 / hz, v["p99"] * 1e6 / hz, db[1], db[2], v["tsc_hz"],
			ebs == "-" ? "-" : sprintf("%.1f", ebs * 1e6 / tck / v["ops"]),
			sd == "" ? "-" : sprintf("%.1f", sd * 1e6 / tck / v["ops"])
	}'
}

# direct QD READS OPS: uring_randio on the volume file;
# prints "iops p50_us p99_us".
direct() {
	local line
	line=$("$RANDIO" --qd "$1" --reads "$2" --ops "$3" --span "$UNITS" "$volfile") || return 1
	echo "$line" | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%s %.1f %.1f\n", v["iops"], v["p50"] / 1e3, v["p99"] / 1e3
	}'
}

"$CARDVISOR" volume create --size "${SIZE_MIB}M" "$vol" >/dev/null || die "volume create failed"
# Every block written before anything is measured, so reads hit allocated
# extents, not holes, and writes overwrite in place on both sides.
dd if=/dev/urandom of="$volfile" bs=1M count="$SIZE_MIB" oflag=direct conv=notrunc,fsync \
	status=none || die "could not fill $volfile"

echo "storage: 4 KiB random I/O over a ${SIZE_MIB} MiB volume, pre-written; $QUEUES queue pairs"
echo "  full path: test guest (ring 3, polled) -> cv-hv -> vfio-user -> cv-ebs (AES-256-XTS, QoS off)"
echo "             -> NVMe/TCP on loopback -> cv-storaged -> io_uring, O_DIRECT -> volume file"
echo "  direct:    uring_randio, io_uring O_DIRECT on the same file, same pattern and op count"
if [ "$have_kvm" = 0 ]; then
	echo "  full path: not measured, /dev/kvm is not usable here"
fi

# Warm-up, not reported: storaged connected, caches and the disk busy.
if [ "$have_kvm" = 1 ]; then
	guest warmup 32 50 5000 >/dev/null || die "the warm-up VM failed"
fi
direct 32 50 5000 >/dev/null || die "uring_randio failed on $volfile"

# median COLUMN LINE...: the median of one column over the runs that
# produced a result ("-" when none did).
median() {
	local col=$1; shift
	printf '%s\n' "$@" | awk -v c="$col" '$c != "-" { print $c }' | sort -g |
		awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'
}

# %9s for the µs headers: printf pads bytes, and µ takes two.
ROW='%-8s %3s %7s | %8s %8s %8s | %8s %8s %8s | %6s %6s %6s\n'
printf '\n%-20s | %-26s | %-26s | %s\n' "" "full path" "direct" "full/direct"
printf '%-8s %3s %7s | %8s %9s %9s | %8s %9s %9s | %6s %6s %6s\n' \
	workload QD ops IOPS "p50 µs" "p99 µs" IOPS "p50 µs" "p99 µs" IOPS p50 p99

status=0
details=()
for row in "read 1 100" "read 32 100" "write 1 0" "write 32 0"; do
	read -r what qd reads <<<"$row"
	if [ -n "${BENCH_OPS:-}" ]; then
		ops=$BENCH_OPS
	elif [ "$qd" = 1 ]; then
		ops=20000
	else
		ops=150000
	fi
	# Full path and direct take turns, so a burst of load from elsewhere
	# on the machine hits both sides alike; each column is the median.
	fulls=() bases=()
	for rep in $(seq "$REPEAT"); do
		if [ "$have_kvm" = 1 ]; then
			line=$(guest "$what-qd$qd-$rep" "$qd" "$reads" "$ops") ||
				{ line="- - - - - - - -"; status=1; }
			fulls+=("$line")
		fi
		line=$(direct "$qd" "$reads" "$ops") || { line="- - -"; status=1; }
		bases+=("$line")
	done
	f_iops=- f_p50=- f_p99=- db_w=- db_r=- ebs_cpu=- sd_cpu=-
	if [ "$have_kvm" = 1 ]; then
		f_iops=$(median 1 "${fulls[@]}") f_p50=$(median 2 "${fulls[@]}")
		f_p99=$(median 3 "${fulls[@]}") db_w=$(median 4 "${fulls[@]}")
		db_r=$(median 5 "${fulls[@]}") ebs_cpu=$(median 7 "${fulls[@]}")
		sd_cpu=$(median 8 "${fulls[@]}")
	fi
	d_iops=$(median 1 "${bases[@]}") d_p50=$(median 2 "${bases[@]}")
	d_p99=$(median 3 "${bases[@]}")
	awk -v row="$ROW" -v w="$what" -v qd="$qd" -v ops="$ops" -v fi="$f_iops" -v f50="$f_p50" \
		-v f99="$f_p99" -v di="$d_iops" -v d50="$d_p50" -v d99="$d_p99" 'BEGIN {
		r1 = (fi != "-" && di != "-" && di > 0) ? sprintf("%.2fx", fi / di) : "-"
		r2 = (f50 != "-" && d50 != "-" && d50 > 0) ? sprintf("%.2fx", f50 / d50) : "-"
		r3 = (f99 != "-" && d99 != "-" && d99 > 0) ? sprintf("%.2fx", f99 / d99) : "-"
		printf row, w, qd, ops, fi, f50, f99, di, d50, d99, r1, r2, r3
	}'
	if [ "$db_w" != "-" ]; then
		details+=("$(printf '%s\n' "${fulls[@]}" "=" "${bases[@]}" | awk -v w="$what" \
			-v qd="$qd" -v ops="$ops" -v dw="$db_w" -v dr="$db_r" -v ec="$ebs_cpu" -v sc="$sd_cpu" '
			$1 == "=" { side = 1; sep = ""; next }
			$1 == "-" { next }
			!side { full = full sep $1; g = g sep sprintf("%.0f", $6 / 1e6); sep = "/" }
			side { direct = direct sep $1; sep = "/" }
			END {
				printf "  %-5s QD%-2s  IOPS full %s, direct %s; guest TSC calibration %s MHz\n",
					w, qd, full, direct, g
				printf "               per op: %4.2f MMIO doorbell writes (VM exits) of %4.2f doorbell updates; CPU: cv-ebs %s µs, cv-storaged %s µs\n",
					dw / ops, dr / ops, ec, sc }')")
	fi
done

echo
echo "Each figure: the median of $REPEAT runs.  IOPS: operations / wall time of the run;"
echo "p50/p99: per-operation latency from submission to completion.  full/direct: the IOPS"
echo "ratio (1.00x: the path costs nothing) and the latency ratios (1.00x: it adds nothing)."
printf 'Guest TSC ticks converted at the host TSC rate, %.2f MHz (measured by %s).\n' \
	"$(awk -v h="$host_hz" 'BEGIN { print h / 1e6 }')" "$BUILD/bench/tsc_hz"
if [ "${#details[@]}" -gt 0 ]; then
	echo "Per run, and the guest's own counters:"
	printf '%s\n' "${details[@]}"
fi
exit "$status"
