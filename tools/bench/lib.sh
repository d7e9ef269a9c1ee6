# SPDX-License-Identifier: Apache-2.0
# Sourced by the benchmark scripts that run VMs: a private volume store,
# run directory and cv-storaged port in a temporary directory under
# PARENT_DIR (default $TMPDIR or /tmp), all removed (cv-storaged stopped)
# on exit.  usage: bench_env NAME [PARENT_DIR]

bench_env() {
	TMP=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/cv-bench-$1.XXXXXX") || exit 1
	export CARDVISOR_STATE=$TMP/state
	export CARDVISOR_RUNDIR=$TMP/run
	port=$(tests/tools/free_port.py)
	export CARDVISOR_STORAGED=127.0.0.1:$port
	trap bench_cleanup EXIT
}

# shellcheck disable=SC2317  # called by the trap
bench_cleanup() {
	local pidfile=$CARDVISOR_RUNDIR/storaged/pid
	[ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
	rm -rf "$TMP"
}
