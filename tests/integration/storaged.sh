#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cv-storaged against a real NVMe/TCP host over loopback: tests/tools/nvmf_host.py
# (the kernel's nvme-tcp is not available here) drives well-formed traffic,
# then malformed PDUs while another volume's connection must keep working.
# Wireshark's nvme-tcp dissector must decode the well-formed capture cleanly.
# The Python peer speaks plain NVMe/TCP (Python 3.11's ssl module has no TLS
# 1.3 external PSK), so its daemons run with --tls=off; TLS is checked with
# the project's own host and tshark in nvmf_host.sh.
. "$(dirname "$0")/lib.sh"

STORAGED=${STORAGED:-$BUILD/cv-storaged}
CHECK=tests/tools/storaged_check.py
LIMIT=${STORAGED_TIMEOUT:-300}
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -x "$STORAGED" ]; then
	skip "cv-storaged" "$STORAGED is not built"
	exit 0
fi

vols=$TMP/vols
mkdir -p "$vols"
check "cardvisor volume create makes sparse volume files" \
	bash -c "'$CARDVISOR' volume create --size 8M --dir '$vols' alpha >/dev/null &&
		 '$CARDVISOR' volume create --size 8M --dir '$vols' beta >/dev/null &&
		 [ \$(stat -c %s '$vols/alpha.vol') = 8388608 ] &&
		 [ \$(stat -c %b '$vols/alpha.vol') = 0 ]"
check "cardvisor volume create refuses a bad id, a bad size and an existing volume" \
	bash -c "! '$CARDVISOR' volume create --size 8M --dir '$vols' '../x' 2>/dev/null &&
		 ! '$CARDVISOR' volume create --size 1000 --dir '$vols' odd 2>/dev/null &&
		 ! '$CARDVISOR' volume create --size 8M --dir '$vols' alpha 2>/dev/null"

usage_error() { # ARGS...: exit status 1 and one line saying why
	local rc
	timeout 10 "$STORAGED" "$@" >"$TMP/usage.out" 2>&1
	rc=$?
	[ "$rc" = 1 ] && [ -s "$TMP/usage.out" ]
}
check "cv-storaged refuses bad options: no --dir, a missing --dir, a bad --listen" \
	bash -c "$(declare -f usage_error); STORAGED='$STORAGED' TMP='$TMP';
		 usage_error && usage_error --dir '$TMP/nope' &&
		 usage_error --dir '$vols' --listen 127.0.0.1:99999 &&
		 usage_error --dir '$vols' --listen '[::1' &&
		 usage_error --dir '$vols' --listen localhost:4420 &&
		 usage_error --dir '$vols' --tls=optional"
if [ "$(id -u)" = 0 ]; then
	check "root's cv-storaged --jail alone refuses a root-owned --dir: it would serve as root" \
		bash -c "$(declare -f usage_error); STORAGED='$STORAGED' TMP='$TMP';
			 usage_error --dir '$vols' --jail && grep -q 'is root.s: chown it' '$TMP/usage.out'"
fi

storaged_listen storaged "$LIMIT" --dir "$vols" --tls=off
spid=$SD_JOB PORT=$SD_PORT
pids+=("$spid")
if [ -z "$PORT" ]; then
	not_ok "cv-storaged starts and listens"
	sed 's/^/#   /' "$TMP/storaged.log"
	exit 1
fi
ok "cv-storaged starts and listens (port $PORT)"

# capture NAME: tshark on loopback for this port, until stop_capture.
have_tshark=false no_tshark="tshark is not installed"
command -v tshark >/dev/null && have_tshark=true
cap_pid=
start_capture() {
	$have_tshark || return 0
	timeout --kill-after=5 "$LIMIT" tshark -q -i lo -f "tcp port $PORT" \
		-w "$TMP/$1.pcapng" >"$TMP/$1.tshark.log" 2>&1 &
	cap_pid=$!
	pids+=("$cap_pid")
	# tshark says "Capturing on" once the capture filter is in place.
	for _ in $(seq 100); do
		grep -q "Capturing on" "$TMP/$1.tshark.log" && return 0
		sleep 0.1
	done
	# No capture (no permission on lo, say): the checks that need one skip.
	kill "$cap_pid" 2>/dev/null
	have_tshark=false
	no_tshark="tshark cannot capture on lo: $(grep -v '^Running as' \
		"$TMP/$1.tshark.log" | head -n1)"
}
stop_capture() {
	$have_tshark || return 0
	sleep 0.5    # let the last segments reach the capture
	kill -INT "$cap_pid" 2>/dev/null
	wait "$cap_pid" 2>/dev/null
}
# decode NAME FILTER: how many frames of a capture, dissected as NVMe/TCP,
# match FILTER; -1 if tshark fails (a filter it rejects must not read as 0).
decode() {
	local out
	if out=$(tshark -r "$TMP/$1.pcapng" -d "tcp.port==$PORT,nvme-tcp" \
		-o nvme-tcp.check_hdgst:TRUE -o nvme-tcp.check_ddgst:TRUE -Y "$2" \
		2>"$TMP/tshark.err"); then
		[ -n "$out" ] && wc -l <<<"$out" || echo 0
	else
		sed 's/^/# tshark: /' "$TMP/tshark.err" >&2
		echo -1
	fi
}

start_capture wellformed
timeout --kill-after=5 "$LIMIT" python3 "$CHECK" "$PORT" "$vols" wellformed
stop_capture

if $have_tshark; then
	n=$(decode wellformed nvme-tcp)
	bad=$(decode wellformed '_ws.malformed || _ws.expert.severity >= "Error"')
	if [ "$n" -gt 0 ] && [ "$bad" = 0 ]; then
		ok "tshark decodes $n NVMe/TCP frames of the well-formed traffic, none malformed"
	else
		not_ok "tshark: $n NVMe/TCP frames, $bad malformed or with errors"
		tshark -r "$TMP/wellformed.pcapng" -d "tcp.port==$PORT,nvme-tcp" \
			-Y '_ws.malformed || _ws.expert.severity >= "Error"' 2>&1 | head -5 |
			sed 's/^/#   /'
	fi
	t=$(decode wellformed 'nvme-tcp.type == 9')
	d=$(decode wellformed 'nvme-tcp.type == 7')
	g=$(decode wellformed 'nvme-tcp.hdgst')
	check "the capture has R2T ($t), C2HData ($d) and digested ($g) PDUs" \
		test "$t" -gt 0 -a "$d" -gt 0 -a "$g" -gt 0
	# Digest status 0 is "Bad", 1 "Good" (tshark -G values).
	bad=$(decode wellformed 'nvme-tcp.hdgst.status == 0 || nvme-tcp.ddgst.status == 0')
	good=$(decode wellformed 'nvme-tcp.hdgst.status == 1 && nvme-tcp.ddgst.status == 1')
	check "tshark verifies every header and data digest ($good PDUs with both, $bad bad)" \
		test "$bad" = 0 -a "$good" -gt 0
else
	skip "tshark decodes the well-formed traffic" "$no_tshark"
fi

start_capture malformed
timeout --kill-after=5 "$LIMIT" python3 "$CHECK" "$PORT" "$vols" malformed
stop_capture
if $have_tshark; then
	n=$(decode malformed 'nvme-tcp.type == 3')
	check "the malformed-PDU capture shows the C2HTermReqs ($n)" test "$n" -gt 0
	hb=$(decode malformed "tcp.dstport == $PORT && nvme-tcp.hdgst.status == 0")
	db=$(decode malformed "tcp.dstport == $PORT && nvme-tcp.ddgst.status == 0")
	cb=$(decode malformed "tcp.srcport == $PORT && (nvme-tcp.hdgst.status == 0 ||
		nvme-tcp.ddgst.status == 0)")
	check "tshark sees the host's bad digests ($hb header, $db data), none of the daemon's" \
		test "$hb" -gt 0 -a "$db" -gt 0 -a "$cb" = 0
else
	skip "the malformed-PDU capture shows the C2HTermReqs" "$no_tshark"
fi

check "cv-storaged is still running" kill -0 "$spid"
# The check script sends SIGTERM itself, with writes in flight.
timeout --kill-after=5 "$LIMIT" python3 "$CHECK" "$PORT" "$vols" drain "$spid"
wait "$spid"
rc=$?
check "SIGTERM: clean exit (status $rc) and the pidfile is removed" \
	test "$rc" = 0 -a ! -e "$TMP/storaged.pid"
check "one log line per connection event, with peer, qid and NQN" \
	grep -qE "127\.0\.0\.1:[0-9]+: connect qid 1 sqsize 63 cntlid [0-9]+ subnqn nqn\.2026-11\.io\.cardvisor:beta" \
	"$TMP/storaged.log"
if grep -qE "AddressSanitizer|runtime error" "$TMP/storaged.log"; then
	not_ok "no sanitizer reports"
	grep -E -A5 "AddressSanitizer|runtime error" "$TMP/storaged.log" | head -20 | sed 's/^/#   /'
fi

# A second daemon on tmpfs, which refused O_DIRECT before Linux 6.6: then
# buffered I/O, said once in the log.
if [ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
	shm=$(mktemp -d /dev/shm/cv-storaged.XXXXXX)
	"$CARDVISOR" volume create --size 1M --dir "$shm" alpha >/dev/null
	storaged_listen shm "$LIMIT" --dir "$shm" --tls=off
	pids+=("$SD_JOB")
	PORT=$SD_PORT
	timeout --kill-after=5 "$LIMIT" python3 "$CHECK" "$PORT" "$shm" basic
	# tmpfs takes O_DIRECT since Linux 6.6.
	if python3 -c "import os; os.open('$shm/alpha.vol', os.O_RDWR | os.O_DIRECT)" \
		2>/dev/null; then
		skip "buffered fallback logged" "this kernel's tmpfs takes O_DIRECT"
	else
		check "tmpfs refuses O_DIRECT: the log says the page cache serves the volume" \
			grep -q "alpha: file system refuses O_DIRECT" "$TMP/shm.log"
	fi
	kill -TERM "$(cat "$TMP/shm.pid")"
	wait
	rm -rf "$shm"
else
	skip "buffered fallback on tmpfs" "/dev/shm is not a tmpfs"
fi

# Limits (docs/storaged.md, "Limits"), each on a daemon with 64 descriptors:
# hosts that never read their responses, more connections than the daemon
# may take, more than it has descriptors for.
LIMITS=tests/tools/storaged_limits.py
# start_limited NAME ARGS...: sets LPID and LPORT, or prints "not ok".
start_limited() {
	local name=$1; shift
	LPID= LPORT=
	# Under `make asan` freed memory waits in ASan's quarantine (256 MiB by
	# default) and would read as growth: keep none, so VmRSS measures what
	# the daemon holds.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
	timeout --kill-after=5 "$LIMIT" prlimit --nofile=64:64 "$STORAGED" --dir "$vols" \
		--listen 127.0.0.1:0 --tls=off --pidfile "$TMP/$name.pid" "$@" >"$TMP/$name.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 100); do
		[ -s "$TMP/$name.pid" ] && break
		sleep 0.1
	done
	LPID=$(cat "$TMP/$name.pid" 2>/dev/null)
	LPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/$name.log")
	if [ -z "$LPID" ] || [ -z "$LPORT" ]; then
		not_ok "cv-storaged $* starts with 64 descriptors"
		sed 's/^/#   /' "$TMP/$name.log"
		return 1
	fi
}
# stop_limited NAME: SIGTERM, clean exit, no sanitizer reports.
stop_limited() {
	kill -TERM "$LPID"
	for _ in $(seq 100); do
		kill -0 "$LPID" 2>/dev/null || break
		sleep 0.1
	done
	check "$1: stops cleanly" bash -c "! kill -0 $LPID 2>/dev/null &&
		! grep -qE 'AddressSanitizer|runtime error' '$TMP/$1.log'"
}

if start_limited flood; then
	timeout --kill-after=5 "$LIMIT" python3 "$LIMITS" "$LPORT" "$LPID" flood
	n=$(grep -c "reads no responses" "$TMP/flood.log")
	check "one log line per connection that stopped reading ($n)" test "$n" = 2
	stop_limited flood
fi

# The default connection limit leaves descriptors for every volume file.
if start_limited cap; then
	timeout --kill-after=5 "$LIMIT" python3 "$LIMITS" "$LPORT" "$LPID" fds 100
	n=$(grep -c "connection limit" "$TMP/cap.log")
	check "the connection limit is logged once ($n)" test "$n" = 1
	check "no descriptor ran out under the connection limit" \
		bash -c "! grep -q 'Too many open files' '$TMP/cap.log'"
	stop_limited cap
fi

# A limit past the descriptors: accept runs out of them and backs off.
if start_limited emfile --max-connections 1000; then
	timeout --kill-after=5 "$LIMIT" python3 "$LIMITS" "$LPORT" "$LPID" fds 100
	n=$(grep -c "accept: Too many open files" "$TMP/emfile.log")
	check "running out of descriptors is logged once ($n)" test "$n" = 1
	stop_limited emfile
fi
