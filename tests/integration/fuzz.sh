#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The libFuzzer harnesses (tests/fuzz, docs/fuzzing.md) as a regression
# test: built with clang at -O0 into $BUILD/fuzz-quick (make fuzz-build,
# incremental; -O0 builds in a sixth of the time, which matters more here
# than executions per second), then each run for FUZZ_TEST_SECONDS (3)
# from a scratch copy of its committed seed corpus, as many at a time as
# there are CPUs.  libFuzzer runs every seed before it
# mutates, so a change that makes a parser crash, leak or break an
# invariant on a known input fails here, and so does a seed corpus that
# rotted.  One TAP line per harness; one skip when clang or libFuzzer is
# missing.  `make fuzz` is the long run.
. "$(dirname "$0")/lib.sh"

SECONDS_EACH=${FUZZ_TEST_SECONDS:-3}
FUZZ_BUILD=$BUILD/fuzz-quick
JOBS=$(nproc)

cat >"$TMP/probe.c" <<'EOF'
int LLVMFuzzerTestOneInput(const unsigned char *data, unsigned long size);
int LLVMFuzzerTestOneInput(const unsigned char *data, unsigned long size)
{
	(void)data;
	(void)size;
	return 0;
}
EOF
if ! clang -fsanitize=fuzzer,address,undefined -o "$TMP/probe" "$TMP/probe.c" \
	>/dev/null 2>&1; then
	skip "fuzz harnesses" "no clang with libFuzzer (Debian: clang, libfuzzer-14-dev)"
	exit 0
fi

# Not make's jobserver of an outer `make test`: this build has its own -j.
if ! env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory -j"$JOBS" BUILD="$BUILD" \
	FUZZ_BUILD="$FUZZ_BUILD" FUZZ_OPT=-O0 fuzz-build >"$TMP/build.log" 2>&1; then
	not_ok "fuzz harnesses build (make fuzz-build)"
	tail -n 20 "$TMP/build.log" | sed 's/^/#   /'
	exit 0
fi
ok "fuzz harnesses build (make fuzz-build)"

# run NAME: one harness, its TAP line in $TMP/NAME.tap.
run() {
	local name=$1 work=$TMP/work/$1 log=$TMP/$1.log execs seeds rc
	mkdir -p "$work" "$TMP/crash/$name"
	cp tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
	seeds=$(find "$work" -type f | wc -l)
	"$FUZZ_BUILD/fuzz_$name" -max_total_time="$SECONDS_EACH" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$TMP/crash/$name/" "$work" >"$log" 2>&1
	rc=$?
	execs=$(grep -aoP '^stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -n1)
	if [ "$rc" -eq 0 ] && [ "$seeds" -gt 0 ]; then
		echo "ok - fuzz_$name: ${execs:-?} executions in ${SECONDS_EACH} s from $seeds seeds" \
			>"$TMP/$name.tap"
	else
		{
			echo "not ok - fuzz_$name (exit $rc, $seeds seeds)"
			grep -aE 'invariant failed|ERROR:|SUMMARY:|runtime error|^ +#[0-9]+ .* in .*(tests/fuzz|cards|tools|hv)/' \
				"$log" | head -n 15 | sed 's/^/#   /'
			find "$TMP/crash/$name" -type f | sed 's/^/#   input: /'
		} >"$TMP/$name.tap"
	fi
}

names=()
for src in tests/fuzz/fuzz_*.c; do
	names+=("$(basename "$src" .c | sed 's/^fuzz_//')")
done
running=0
for name in "${names[@]}"; do
	run "$name" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
for name in "${names[@]}"; do
	cat "$TMP/$name.tap"
done
