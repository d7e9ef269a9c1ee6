#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every fuzz harness built in FUZZ_BUILD for SECONDS each, one after
# the other (each takes a core; libFuzzer's own -jobs would share them
# unevenly), on a scratch copy of its seed corpus, and prints one line per
# harness: executions, executions per second, and whether it crashed.  A
# crashing input is kept in FUZZ_BUILD/crashes/NAME/.  Exit status 1 when
# any harness crashed (or did not run).  docs/fuzzing.md has the details.
# usage: tests/fuzz/run.sh FUZZ_BUILD SECONDS [NAME...]   (NAME: virtq, vblk, ...)
set -u
fuzz_build=${1:?usage: tests/fuzz/run.sh FUZZ_BUILD SECONDS [NAME...]}
seconds=${2:?usage: tests/fuzz/run.sh FUZZ_BUILD SECONDS [NAME...]}
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for b in "$fuzz_build"/fuzz_*; do
		[ -x "$b" ] && names+=("$(basename "$b" | sed 's/^fuzz_//')")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "no harnesses in $fuzz_build (make fuzz-build)" >&2
	exit 1
fi

failed=0
for name in "${names[@]}"; do
	bin=$fuzz_build/fuzz_$name
	work=$fuzz_build/work/$name
	crashes=$fuzz_build/crashes/$name
	log=$fuzz_build/logs/$name.log
	rm -rf "$work"
	mkdir -p "$work" "$crashes" "$(dirname "$log")"
	cp "$root/tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null
	before=$(find "$crashes" -type f | wc -l)
	# -timeout: an input that runs 10 s is a hang, reported like a crash.
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$crashes/" "$work" >"$log" 2>&1
	rc=$?
	execs=$(grep -aoP '^stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -n1)
	rate=$(grep -aoP '^stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -n1)
	after=$(find "$crashes" -type f | wc -l)
	if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
		printf '%-24s %12s execs %8s/s  no crash\n' "fuzz_$name" "${execs:-?}" "${rate:-?}"
	else
		failed=1
		printf '%-24s %12s execs %8s/s  CRASHED (exit %s): %s, log %s\n' "fuzz_$name" \
			"${execs:-?}" "${rate:-?}" "$rc" \
			"$(find "$crashes" -type f -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2-)" \
			"$log"
	fi
done
exit "$failed"
