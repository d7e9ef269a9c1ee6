#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The NVMe/TCP host library (cards/ebs/nvmf_host) against the real
# cv-storaged, through tests/tools/nvmf_cli: data written and read back with
# and without digests, in-capsule and R2T/H2CData writes, reads spanning
# several C2HData PDUs, a QD 32 random workload checking every read, kill -9
# of the target mid-workload (reconnect, no acknowledged write lost), the
# retryable status once the target stays away, and tshark's nvme-tcp
# dissector decoding the host's traffic with valid digests and no errors.
# All of it over TLS 1.3 with the volume's PSK, as cv-ebs runs it (TCP
# Transport 1.0, "Transport Layer Security"): the key is one nvme-cli's
# gen-tls-key wrote, tshark decodes the handshake (TLS 1.3, the PSK identity
# the spec forms, a key share) and, with the session secrets logged through
# SSLKEYLOGFILE, decrypts the PDUs it then checks; a host without the key,
# with another key, or for a volume without one is refused, and so is a
# daemon without the key by the host.  Also a volume's host list and,
# through Landlock, a volume symlinked out of the daemon's directory.
. "$(dirname "$0")/lib.sh"

STORAGED=$BUILD/cv-storaged
CLI=$BUILD/tests/tools/nvmf_cli
NQN=nqn.2026-11.io.cardvisor:hosttest
SD_PID= TS_PID=

cleanup() {
	[ -n "$SD_PID" ] && kill -9 "$(cat "$TMP/sd.pid" 2>/dev/null)" "$SD_PID" 2>/dev/null
	[ -n "$TS_PID" ] && kill -9 "$TS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -x "$STORAGED" ] || [ ! -x "$CLI" ]; then
	skip "nvmf host against cv-storaged" "$STORAGED or $CLI not built"
	exit 0
fi

PORT=$(tests/tools/free_port.py)
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:6b1b5e5a-9d8e-4c43-9c2a-6e76c1d0a001  # nvmf_cli's
PSK=$TMP/vols/hosttest.psk
mkdir -p "$TMP/vols"
truncate -s 64M "$TMP/vols/hosttest.vol"
truncate -s 64M "$TMP/vols/nokey.vol"
# The volume's PSK as nvme-cli makes one (PSK interchange format, SHA-256).
(umask 077; nvme gen-tls-key --hmac=1 >"$PSK") 2>"$TMP/gen-tls-key.err"
check "nvme-cli's gen-tls-key wrote the volume's TLS PSK" grep -qx 'NVMeTLSkey-1:01:.*:' "$PSK"

# start_storaged LOG [ARGS...]: runs cv-storaged in the background, waits until it listens.
start_storaged() { # LOG [ARGS...]
	local log=$1; shift
	rm -f "$TMP/sd.pid"
	timeout --kill-after=5 300 "$STORAGED" --dir "$TMP/vols" --listen "127.0.0.1:$PORT" \
		--pidfile "$TMP/sd.pid" "$@" >>"$TMP/$log" 2>&1 &
	SD_PID=$!
	for _ in $(seq 100); do
		[ -s "$TMP/sd.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

stop_storaged() { # SIGNAL: to cv-storaged itself, not its timeout wrapper
	kill "-$1" "$(cat "$TMP/sd.pid")" 2>/dev/null
	wait "$SD_PID" 2>/dev/null
	SD_PID=
}

cli() { # NAME ARGS...: nvmf_cli with the PSK and a time limit, output in $TMP/NAME.out
	local name=$1; shift
	SSLKEYLOGFILE=$TMP/keys.log timeout --kill-after=5 120 "$CLI" -t "127.0.0.1:$PORT" \
		-n "$NQN" -P "$PSK" "$@" >"$TMP/$name.out" 2>&1
}

# expect_cli DESCRIPTION NAME REGEX ARGS...: exit status 0 and REGEX in the output.
expect_cli() {
	local what=$1 name=$2 re=$3; shift 3
	if cli "$name" "$@" && grep -qE -- "$re" "$TMP/$name.out"; then
		ok "$what"
	else
		not_ok "$what"
		tail -n 10 "$TMP/$name.out" | sed 's/^/#   /'
	fi
}

if ! start_storaged sd1.log; then
	not_ok "cv-storaged listens on 127.0.0.1:$PORT"
	tail -n 10 "$TMP/sd1.log" | sed 's/^/#   /'
	exit 0
fi

# Capture everything up to the kill test for the dissector check.
timeout --kill-after=5 120 tshark -i lo -f "tcp port $PORT" -w "$TMP/host.pcap" \
	>"$TMP/tshark.log" 2>&1 &
TS_PID=$!
for _ in $(seq 100); do
	grep -q Capturing "$TMP/tshark.log" && break
	sleep 0.1
done

expect_cli "association set up: one namespace of 4 KiB blocks, 2 I/O queues" info \
	'nsze=16384 lba_size=4096 .*queues=2 ' -q 2 info
icdata=$(grep -oP 'icdata=\K[0-9]+' "$TMP/info.out")
maxh2c=$(grep -oP 'maxh2cdata=\K[0-9]+' "$TMP/info.out")
if [ -n "$icdata" ] && [ -n "$maxh2c" ] && [ "$icdata" -ge 4096 ] &&
	[ $((256 * 4096)) -gt "$icdata" ] && [ $((256 * 4096)) -gt "$maxh2c" ]; then
	ok "target limits make 4 KiB in-capsule and 1 MiB an R2T with several H2CData/C2HData"
else
	not_ok "target limits (in-capsule $icdata, MAXH2CDATA $maxh2c) exercise both paths"
fi

expect_cli "4 KiB write in-capsule, read back" v1 'ok$' verify 0 1 11
expect_cli "256 KiB write by R2T/H2CData, read back" v64 'ok$' verify 64 64 12
expect_cli "1 MiB write and read (several H2CData and C2HData)" v256 'ok$' verify 256 256 13
expect_cli "header and data digests: 4 KiB" d1 'ok$' -H -D verify 1024 1 14
expect_cli "header and data digests: 1 MiB" d256 'ok$' -H -D verify 1280 256 15
expect_cli "header digest only: 256 KiB" h64 'ok$' -H verify 2048 64 16
expect_cli "data digest only: 256 KiB" dd64 'ok$' -D verify 2112 64 17
expect_cli "a second connection reads the first one's data" r64 'ok$' read 64 64 12
if cli wrong read 64 64 99; then
	not_ok "reading back with the wrong pattern is caught"
else
	ok "reading back with the wrong pattern is caught"
fi
expect_cli "QD 8 random 4 KiB with digests (captured)" randcap \
	'errors=0 mismatches=0' -H -D -d 8 -i 500 rand

# Refused: no TLS, another key, a volume without a key.  Each ends before
# any PDU is read, with one line on each side.
# refused WHAT LOG REGEX ARGS...: nvmf_cli ARGS (info) fails and LOG says REGEX.
refused() {
	local what=$1 log=$2 re=$3; shift 3
	if timeout 60 "$CLI" -t "127.0.0.1:$PORT" "$@" info >"$TMP/refused.out" 2>&1; then
		not_ok "$what"
	else
		check "$what" grep -q -- "$re" "$log"
	fi
}
refused "a host without TLS is refused: cv-storaged ends the connection at the handshake" \
	"$TMP/sd1.log" 'closed before Connect: TLS handshake failed' -n "$NQN"
(umask 077; nvme gen-tls-key --hmac=1 >"$TMP/other.psk") 2>/dev/null
refused "a host with another key is refused at the TLS handshake" \
	"$TMP/refused.out" 'qid 0: TLS handshake:' -n "$NQN" -P "$TMP/other.psk"
refused "a volume without a PSK admits no host: the daemon names the missing key" \
	"$TMP/sd1.log" 'TLS handshake failed: no PSK for subsystem .*:nokey' -n "${NQN%:*}:nokey" -P "$PSK"

# Landlock: the daemon opens files beneath --dir only, so a volume that is a
# symlink to a file elsewhere is refused (Internal Error, and the log says why).
truncate -s 1M "$TMP/outside.vol"
ln -s "$TMP/outside.vol" "$TMP/vols/elsewhere.vol"
cp -p "$PSK" "$TMP/vols/elsewhere.psk"
if grep -q "landlock ABI" "$TMP/sd1.log"; then
	refused "landlock: a volume that is a symlink out of --dir is refused" "$TMP/sd1.log" \
		'volume elsewhere: Permission denied' -n "${NQN%:*}:elsewhere" -P "$PSK"
else
	skip "landlock: a volume symlinked out of --dir is refused" "$(grep -o 'landlock: .*' "$TMP/sd1.log")"
fi

# A host list (DIR/ID.hosts): only the hosts it names attach.
printf '# who may attach\n%s\n' "$HOSTNQN" >"$TMP/vols/hosttest.hosts"
expect_cli "a host on the volume's list attaches" listed 'nsze=16384 ' info
refused "a host not on the volume's list is refused with Connect Invalid Host (SCT 1h, SC 84h)" \
	"$TMP/refused.out" 'qid 0: Connect failed: SCT 0x1 SC 0x84' -n "$NQN" -P "$PSK" \
	-u 6b1b5e5a-9d8e-4c43-9c2a-6e76c1d0a002
check "cv-storaged names the refused host and the volume" grep -q \
	'connect to volume hosttest refused (Connect Invalid Host): host .*0a002 is not on its list' \
	"$TMP/sd1.log"
rm "$TMP/vols/hosttest.hosts"

sleep 0.5
kill -INT "$TS_PID" 2>/dev/null
wait "$TS_PID" 2>/dev/null
TS_PID=
if command -v tshark >/dev/null && [ -s "$TMP/host.pcap" ]; then
	tls=(-r "$TMP/host.pcap" -d "tcp.port==$PORT,tls")
	# Every ServerHello: TLS 1.3, AES-128-GCM-SHA256, the PSK with an (EC)DHE share.
	hellos=$(tshark "${tls[@]}" -Y 'tls.handshake.type == 2' 2>/dev/null | wc -l)
	good=$(tshark "${tls[@]}" -Y 'tls.handshake.type == 2 &&
		tls.handshake.extensions_supported_version == 0x0304 &&
		tls.handshake.ciphersuite == 0x1301 &&
		tls.handshake.extensions.psk.identity.selected == 0 &&
		tls.handshake.extensions_key_share_group' 2>/dev/null | wc -l)
	check "tshark: $hellos TLS handshakes, each TLS 1.3 with the PSK and a key share" \
		[ "$hellos" -gt 2 ] && [ "$good" = "$hellos" ]
	want=$(printf 'NVMe0R01 %s %s' "$HOSTNQN" "$NQN" | od -An -tx1 | tr -d ' \n')
	ids=$(tshark "${tls[@]}" -Y 'tls.handshake.type == 1' -T fields \
		-e tls.handshake.extensions.psk.identity.identity 2>/dev/null | sort -u)
	check "tshark: the PSK identity is the spec's, NVMe0R01 host NQN subsystem NQN" \
		[ "$(printf '%s' "$ids" | tr -d ':' | grep -c "^$want\$")" = 1 ]
	tests/tools/tls_plaintext.py "$TMP/host.pcap" "$TMP/keys.log" "$PORT" \
		"$TMP/plain.pcap" >"$TMP/plain.out" 2>&1
	echo "# decrypted by tshark: $(cat "$TMP/plain.out")"
	dis=(-r "$TMP/plain.pcap" -d "tcp.port==$PORT,nvme-tcp"
	     -o nvme-tcp.check_hdgst:TRUE -o nvme-tcp.check_ddgst:TRUE)
	bad=$(tshark "${dis[@]}" -Y '_ws.malformed || _ws.expert.severity >= "error"' 2>/dev/null | wc -l)
	check "tshark: no malformed NVMe/TCP frame and no expert error" [ "$bad" -eq 0 ]
	# Digest status 0 is "Bad"; 1 "Good" (tshark -G values).
	dbad=$(tshark "${dis[@]}" -Y 'nvme-tcp.hdgst.status == 0 || nvme-tcp.ddgst.status == 0' 2>/dev/null | wc -l)
	dgood=$(tshark "${dis[@]}" -Y 'nvme-tcp.hdgst.status == 1 && nvme-tcp.ddgst.status == 1' 2>/dev/null | wc -l)
	check "tshark: every header and data digest verifies ($dgood PDUs with both)" \
		[ "$dbad" -eq 0 ] && [ "$dgood" -gt 0 ]
	types=" $(tshark "${dis[@]}" -T fields -e nvme-tcp.type 2>/dev/null | tr ',' '\n' | grep -x '[0-9][0-9]*' | sort -nu | tr '\n' ' ')"
	if [[ "$types" == *" 0 1 4 5 6 7 9 "* ]]; then
		ok "tshark decodes ICReq/ICResp, capsules and responses, H2CData, C2HData, R2T"
	else
		not_ok "tshark PDU types seen:$types"
	fi
else
	skip "tshark decodes the host's traffic" "no capture"
fi

expect_cli "QD 32 random 4 KiB read/write over 2 queues, every read checked" rand32 \
	'errors=0 mismatches=0' -q 2 -d 32 -i 20000 rand
expect_cli "QD 16 random 32 KiB with digests over 4 queues" rand16 \
	'errors=0 mismatches=0' -H -D -q 4 -d 16 -b 8 -i 2000 rand

# kill -9 mid-workload: the CLI marks a quarter of its commands done, the
# target dies and comes back; every acknowledged write must read back.
rm -f "$TMP/mark"
cli kill -d 32 -i 40000 -r 1 -m "$TMP/mark" -S "$TMP/state" rand &
cli_pid=$!
for _ in $(seq 600); do
	[ -e "$TMP/mark" ] && break
	sleep 0.05
done
stop_storaged 9
sleep 0.5
start_storaged sd2.log || not_ok "cv-storaged restarts"
wait "$cli_pid"; rc=$?
if [ "$rc" = 0 ] && grep -qE 'reconnects=1 errors=0 mismatches=0' "$TMP/kill.out"; then
	ok "kill -9 of cv-storaged mid-workload: reconnected, workload went on, reads checked"
else
	not_ok "kill -9 of cv-storaged mid-workload (exit $rc)"
	tail -n 10 "$TMP/kill.out" | sed 's/^/#   /'
fi
expect_cli "every acknowledged write reads back on a new association" killcheck \
	'errors=0 mismatches=0' -S "$TMP/state" check

# The target stays away: held commands complete with Command Interrupted
# (SCT 0, SC 21h, DNR clear: status word 0x42) once the reconnect timeout passes.
stop_storaged 9
if cli nolisten info; then
	not_ok "nothing listening: connect fails"
else
	check "nothing listening: connect fails with one error line" \
		[ "$(grep -c 'error: nvmf' "$TMP/nolisten.out")" = 1 ]
fi
start_storaged sd3.log
rm -f "$TMP/mark"
cli gone -d 8 -i 4000 -r 1 -R 500 -m "$TMP/mark" rand &
cli_pid=$!
for _ in $(seq 600); do
	[ -e "$TMP/mark" ] && break
	sleep 0.05
done
stop_storaged 9
wait "$cli_pid"; rc=$?
if [ "$rc" = 1 ] && grep -qE 'status 0x42$' "$TMP/gone.out" &&
	grep -q 'mismatches=0' "$TMP/gone.out"; then
	ok "target gone for good: commands complete with Command Interrupted, DNR clear"
else
	not_ok "target gone for good (exit $rc)"
	tail -n 10 "$TMP/gone.out" | sed 's/^/#   /'
fi

# An impostor: a daemon without the volume's key (here one serving plain
# NVMe/TCP on the same volumes) is not taken for the real one.  The host
# fails at the handshake and sends it no command, as cardvisor's cv-ebs
# does with a daemon that is not its own.
start_storaged sd4.log --tls=off
if cli impostor info; then
	not_ok "a daemon without the key is refused by the host"
else
	check "a daemon without the key is refused by the host at the handshake" \
		grep -q 'qid 0: TLS handshake:' "$TMP/impostor.out"
	check "and got no command from it" bash -c "! grep -q 'connect qid' '$TMP/sd4.log'"
fi
stop_storaged TERM

# Not root: cv-storaged --jail keeps its user's ids and makes its jail in a
# user namespace; it serves the volumes of that user's directory.
if [ "$(id -u)" = 0 ]; then
	udir=$(mktemp -d /tmp/cv-sd-user.XXXXXX)
	mkdir "$udir/vols"
	cp -p "$TMP/vols/hosttest.vol" "$PSK" "$udir/vols/"
	chown -R 65534:65534 "$udir"
	uport=$(tests/tools/free_port.py)
	setpriv --reuid 65534 --regid 65534 --clear-groups -- timeout --kill-after=5 60 \
		"$STORAGED" --dir "$udir/vols" --listen "127.0.0.1:$uport" --jail \
		--pidfile "$udir/pid" >"$TMP/sd-user.log" 2>&1 &
	for _ in $(seq 100); do [ -s "$udir/pid" ] && grep -q listening "$TMP/sd-user.log" && break; sleep 0.05; done
	upid=$(cat "$udir/pid" 2>/dev/null)
	check "an unprivileged cv-storaged --jail: a user namespace of its own, the user's ids" \
		bash -c "[ '$(readlink "/proc/$upid/ns/user")' != '$(readlink /proc/self/ns/user)' ] &&
			 [ \"\$(awk '/^Uid:/ { print \$2 }' /proc/$upid/status)\" = 65534 ]"
	check "it serves its user's volume over TLS" timeout 60 "$CLI" -t "127.0.0.1:$uport" \
		-n "$NQN" -P "$PSK" verify 0 8 21
	kill "$upid" 2>/dev/null
	for _ in $(seq 100); do [ -e "$udir/pid" ] || break; sleep 0.05; done
	check "and removes its pid file from its jail at exit" test ! -e "$udir/pid"
	rm -rf "$udir"
else
	skip "an unprivileged cv-storaged --jail" "not root: no other user to run it as"
fi
