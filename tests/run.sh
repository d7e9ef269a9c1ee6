#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every cmocka unit test binary and every integration script, then
# prints one summary line: "N passed, N failed, N skipped".
# usage: tests/run.sh BUILD_DIR [PATTERN]   (PATTERN filters test names)
set -u
build=${1:?usage: tests/run.sh BUILD_DIR [PATTERN]}
pattern=${2:-}
passed=0 failed=0 skipped=0
failures=()

count() { # $1 = output, $2 = regex capturing a number
	grep -aoP "$2" <<<"$1" | head -n1
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	[[ -n "$pattern" && "$name" != *$pattern* ]] && continue
	echo "=== unit: $name"
	out=$(timeout 300 "$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(count "$out" '^\[  PASSED  \] \K[0-9]+')
	f=$(count "$out" '^\[  FAILED  \] \K[0-9]+(?= test)')
	s=$(count "$out" '^\[  SKIPPED \] \K[0-9]+(?= test)')
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		# Crashed or timed out before cmocka could count: that is a failure too.
		failed=$((failed + 1)); failures+=("$name (exit $rc)")
	elif [ "${f:-0}" -ne 0 ]; then
		failures+=("$name")
	fi
done

# Integration scripts print TAP lines: "ok - what", "not ok - what", "ok - what # SKIP why".
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	[ "$name" = lib ] && continue
	[[ -n "$pattern" && "$name" != *$pattern* ]] && continue
	echo "=== integration: $name"
	out=$(BUILD="$build" timeout 1800 bash "$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(grep -acP '^ok\b(?!.*# SKIP)' <<<"$out")
	s=$(grep -acP '^ok\b.*# SKIP' <<<"$out")
	f=$(grep -acP '^not ok\b' <<<"$out")
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	if [ "$f" -ne 0 ]; then
		failures+=("$name")
	elif [ "$rc" -ne 0 ]; then
		failed=$((failed + 1)); failures+=("$name (exit $rc)")
	fi
done

if [ ${#failures[@]} -ne 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
