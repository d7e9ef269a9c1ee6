#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Single attachment (docs/storaged.md, "Attachment") through the project's
# own NVMe/TCP host, tests/tools/nvmf_cli: while one host writes a volume,
# another host's Connect is refused with Controller Busy and none of its
# data reaches the volume; the same host connecting again (a restarted
# card) takes the volume over from its frozen association; every write
# acknowledged reads back afterwards.  The writers are frozen with SIGSTOP
# at the moment that matters, so the daemon still holds their association.
# Then the same for cv-ebs (its vhost-user-blk face, no VM needed): a
# restarted card is the same host, derived from the instance and volume ids,
# and takes over from its frozen predecessor.
. "$(dirname "$0")/lib.sh"

STORAGED=$BUILD/cv-storaged
CLI=$BUILD/tests/tools/nvmf_cli
VOL=shared
NQN=nqn.2026-11.io.cardvisor:$VOL
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:
HOST1=3f6c1a52-7d0e-4b9a-8c21-5e4f3a2b1c01
HOST2=3f6c1a52-7d0e-4b9a-8c21-5e4f3a2b1c02
SPAN=64            # blocks the writers share: each one written many times
SD_PID=
bg=()

cleanup() {
	local p
	for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$SD_PID" ] && kill -9 "$SD_PID" 2>/dev/null
	storaged_kill
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -x "$STORAGED" ] || [ ! -x "$CLI" ]; then
	skip "single attachment in cv-storaged" "$STORAGED or $CLI not built"
	exit 0
fi

mkdir -p "$TMP/vols"
"$CARDVISOR" volume create --size 16M --dir "$TMP/vols" "$VOL" >/dev/null
PSK=$TMP/vols/$VOL.psk
# The volume's TLS PSK, in the interchange format nvme-cli reads too.
check "volume create --dir made the volume's TLS PSK, and nvme-cli finds it valid" \
	bash -c "nvme check-tls-key --key=\"\$(cat '$PSK')\" | grep -q '^Key is valid (HMAC 1, length 32'"
storaged_listen sd 300 --dir "$TMP/vols"
SD_PID=$SD_JOB PORT=$SD_PORT
if [ -z "$PORT" ]; then
	not_ok "cv-storaged starts and listens"
	sed 's/^/#   /' "$TMP/sd.log"
	exit 0
fi

cli() { # NAME ARGS...: nvmf_cli with a time limit, output in $TMP/NAME.out
	local name=$1; shift
	timeout --kill-after=5 120 "$CLI" -t "127.0.0.1:$PORT" -n "$NQN" -P "$PSK" "$@" \
		>"$TMP/$name.out" 2>&1
}

# in_bg CMD...: CMD under a time limit in the background, in a subshell
# that outlives it, so its being killed is no job of ours to report.  Sets
# JOB to the subshell; its grandchild is CMD.
in_bg() {
	(timeout --kill-after=5 120 "$@"; :) &
	JOB=$!
	bg+=("$JOB")
}
grandchild() { pgrep -P "$(pgrep -P "$1")"; }

# writer NAME ARGS...: a rand workload in the background that creates
# $TMP/NAME.mark a quarter of the way through; sets WPID to nvmf_cli's pid
# once the mark is there, empty if it never came.
writer() {
	local name=$1; shift
	in_bg "$CLI" -t "127.0.0.1:$PORT" -n "$NQN" -P "$PSK" -s "$SPAN" -m "$TMP/$name.mark" "$@" rand \
		>"$TMP/$name.out" 2>&1
	WPID=
	for _ in $(seq 600); do
		[ -e "$TMP/$name.mark" ] && break
		sleep 0.05
	done
	[ -e "$TMP/$name.mark" ] && WPID=$(grandchild "$JOB")
}

# expect_out DESCRIPTION NAME REGEX: REGEX in $TMP/NAME.out.
expect_out() {
	if grep -qE -- "$3" "$TMP/$2.out"; then
		ok "$1"
	else
		not_ok "$1"
		tail -n 10 "$TMP/$2.out" | sed 's/^/#   /'
	fi
}

# Blocks of the volume that carry version SEED (nvmf_cli's block layout:
# LBA in bytes 0-7, version in bytes 8-15).
blocks_of() {
	python3 - "$TMP/vols/$VOL.vol" "$1" <<'EOF'
import struct, sys
n = 0
with open(sys.argv[1], "rb") as f:
    while b := f.read(4096):
        n += struct.unpack_from("<Q", b, 8)[0] == int(sys.argv[2])
print(n)
EOF
}

# Host 1 writes; frozen, it still holds the volume.  Host 2 tries to write
# every block of the span.
writer w1 -u "$HOST1" -d 8 -i 20000 -S "$TMP/w1.state"
if [ -z "$WPID" ]; then
	not_ok "writer 1 runs"
	tail -n 10 "$TMP/w1.out" | sed 's/^/#   /'
	exit 0
fi
kill -STOP "$WPID"
if cli w2 -u "$HOST2" write 0 "$SPAN" 99; then
	not_ok "writer 2 (another host) is refused while writer 1 holds the volume"
else
	# Controller Busy is SCT 1h SC 81h; no " DNR": the host may try again later.
	expect_out "writer 2 (another host) is refused with Controller Busy, Do Not Retry clear" \
		w2 'qid 0: Connect failed: SCT 0x1 SC 0x81$'
fi
n=$(blocks_of 99)
check "no block of writer 2's reached the volume ($n)" test "$n" = 0
kill -CONT "$WPID"
wait "$JOB"
expect_out "writer 1 runs on through it, every read checked" w1 'errors=0 mismatches=0'
check "the refusal is logged once, naming the volume, the refused host and the holder" \
	test "$(grep -cE "connect to volume $VOL refused \(Controller Busy\): host \
$HOSTNQN$HOST1 holds it \(cntlid [0-9]+, generation 1\), refused host $HOSTNQN$HOST2$" \
		"$TMP/sd.log")" = 1
cli check1 -u "$HOST1" -s "$SPAN" -S "$TMP/w1.state" check
expect_out "every block writer 1 acknowledged reads back: 0 mismatched" check1 \
	'errors=0 mismatches=0'

# Host 1 again while its old association is frozen: a restarted card.
writer w3 -u "$HOST1" -d 8 -i 40000
if [ -z "$WPID" ]; then
	not_ok "writer 3 runs"
	tail -n 10 "$TMP/w3.out" | sed 's/^/#   /'
	exit 0
fi
kill -STOP "$WPID"
cli w4 -u "$HOST1" -s "$SPAN" -d 8 -i 4000 -S "$TMP/w4.state" rand
expect_out "the same host connecting again takes over its frozen association's volume" \
	w4 'errors=0 mismatches=0'
kill -9 "$WPID"
wait "$JOB"
check "the old association's queues were closed as superseded, the new Connect answered" \
	bash -c "grep -qE 'closed: superseded by cntlid [0-9]+ \(generation [0-9]+\)' \
		'$TMP/sd.log' && grep -qE 'connect answered after [0-9]+ ms' '$TMP/sd.log'"
cli check4 -u "$HOST1" -s "$SPAN" -S "$TMP/w4.state" check
expect_out "every block the new association acknowledged reads back" check4 \
	'errors=0 mismatches=0'

# Nobody holds the volume now: another host may attach.
cli w5 -u "$HOST2" verify 100 1 5
expect_out "once its holder has gone, another host attaches" w5 'ok$'

# Attachment epochs (docs/storaged.md, "Epochs"): host 1's attachment 1 is
# frozen holding the volume (a card on a host the fleet lost); attachment
# 2, another host, takes the volume from it; host 1, thawed, reconnects as
# attachment 1 and is refused for good.  Last here: the volume keeps epoch 2.
writer e1 -u "$HOST1" -e 1 -d 8 -i 40000 -R 5000
if [ -z "$WPID" ]; then
	not_ok "writer of epoch 1 runs"
	tail -n 10 "$TMP/e1.out" | sed 's/^/#   /'
	exit 0
fi
kill -STOP "$WPID"
cli e2 -u "$HOST2" -e 2 -s "$SPAN" -d 8 -i 4000 -S "$TMP/e2.state" rand
expect_out "epoch 2 (another host) takes the volume from the live, frozen epoch 1" \
	e2 'errors=0 mismatches=0'
kill -CONT "$WPID"
wait "$JOB"
# Connect Invalid Host is SCT 1h SC 84h, with Do Not Retry.
expect_out "epoch 1, thawed, is refused with Connect Invalid Host, Do Not Retry, and gives up" \
	e1 'reconnect refused for good \(qid 0: Connect failed: SCT 0x1 SC 0x84 DNR\): failing its I/O'
check "the refusal is logged, naming both epochs" \
	grep -q "connect to volume $VOL refused (Connect Invalid Host): epoch 1, the volume has \
admitted epoch 2 (fenced)" "$TMP/sd.log"
cli check_e2 -u "$HOST2" -e 2 -s "$SPAN" -S "$TMP/e2.state" check
expect_out "every block epoch 2 wrote reads back: nothing of epoch 1 landed after it" \
	check_e2 'errors=0 mismatches=0'
check "the volume's epoch is recorded as 2" test "$((10#$(cat "$TMP/vols/$VOL.epoch")))" = 2
cli e0 -u "$HOST2" verify 100 1 5
expect_out "a host without an epoch is refused too, once the volume has one" \
	e0 'Connect failed: SCT 0x1 SC 0x84 DNR'

kill -TERM "$(cat "$TMP/sd.pid")"
wait "$SD_PID"
rc=$?
SD_PID=
check "cv-storaged exits cleanly (status $rc)" test "$rc" = 0
if grep -qE "AddressSanitizer|runtime error" "$TMP/sd.log"; then
	not_ok "no sanitizer reports"
	grep -E -A5 "AddressSanitizer|runtime error" "$TMP/sd.log" | head -20 | sed 's/^/#   /'
fi

# cv-ebs twice for one instance's volume, on a cv-storaged of its own that
# mkinstance starts: the first card frozen, the second takes over.
volume_env
if ! ids=$("$BUILD/tests/tools/mkinstance" "$TMP/inst.dtb" --kernel "$TESTGUEST" \
	--volume "$TMP/blk.sock,size=16M" --storaged "$STORAGED" 2>"$TMP/mk.err"); then
	not_ok "mkinstance: $(tail -n1 "$TMP/mk.err")"
	exit 0
fi
inst=$(sed -n 1p <<<"$ids")
vol=$(sed -n 2p <<<"$ids")
ebs() { # NAME [DTB]: a cv-ebs for $vol; sets EPID once it is connected
	in_bg "$BUILD/cv-ebs" --instance "${2:-$TMP/inst.dtb}" --volume "$vol" "${CARD_JAIL[@]}" \
		>"$TMP/$1.log" 2>&1
	EPID=
	wait_line "$TMP/$1.log" 'nvmf .* cntlid [0-9]+' 20 && EPID=$(grandchild "$JOB")
}
ebs ebs1
if [ -z "$EPID" ]; then
	not_ok "cv-ebs connects to cv-storaged"
	tail -n 10 "$TMP/ebs1.log" | sed 's/^/#   /'
	exit 0
fi
frozen=$EPID
kill -STOP "$frozen"
ebs ebs2
check "a restarted cv-ebs takes over its volume from the frozen one" test -n "$EPID"
kill -9 "$frozen"
[ -n "$EPID" ] && kill -TERM "$EPID"
wait
sdlog=$CARDVISOR_RUNDIR/storaged.log
# The host both cards are: HOSTID a version 8 UUID from SHA-256 of the
# instance and volume ids, the host NQN its uuid: form (cards/ebs/main.c).
want=$(python3 -c 'import hashlib, sys
u = bytearray(hashlib.sha256(sys.argv[1].encode()).digest()[:16])
u[6] = u[6] & 0x0f | 0x80
u[8] = u[8] & 0x3f | 0x80
h = u.hex()
print("%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:]))' \
	"cardvisor-ebs-host:$inst/$vol")
hosts=$(sed -n "s/.*: connect qid 0 .* hostnqn \([^ ]*\) generation.*/\1/p" "$sdlog" |
	sort | uniq -c)
check "both cards connect as one host, $HOSTNQN$want" \
	test "$(awk '{ print $1, $2 }' <<<"$hosts")" = "2 $HOSTNQN$want"
check "the second card's association superseded the first's, with the next generation" \
	bash -c "grep -qE 'connect qid 0 .* generation 2: supersedes older controllers' '$sdlog' &&
		 grep -qE 'qid 0 cntlid [0-9]+ .* closed: superseded by cntlid' '$sdlog'"

# Another instance attaches the volume as epoch 3 (as the fleet would):
# its card takes the volume, and the first instance's card, which has no
# epoch, is refused from then on and does not start.
if ! "$BUILD/tests/tools/mkinstance" "$TMP/inst3.dtb" --kernel "$TESTGUEST" \
	--volume "$TMP/blk3.sock,id=$vol,epoch=3" --storaged "$STORAGED" >/dev/null 2>"$TMP/mk3.err"; then
	not_ok "mkinstance with epoch=3: $(tail -n1 "$TMP/mk3.err")"
	exit 0
fi
ebs ebs3 "$TMP/inst3.dtb"
check "a card of epoch 3 connects, its host NQN tagged :epoch:3" \
	bash -c "[ -n '$EPID' ] && grep -qE 'connect qid 0 .* hostnqn [^ ]+:epoch:3 generation' '$sdlog'"
[ -n "$EPID" ] && kill -TERM "$EPID"
wait
timeout 60 "$BUILD/cv-ebs" --instance "$TMP/inst.dtb" --volume "$vol" "${CARD_JAIL[@]}" \
	>"$TMP/ebs4.log" 2>&1
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q 'Connect failed: SCT 0x1 SC 0x84 DNR' "$TMP/ebs4.log"; then
	ok "the first instance's card, without an epoch, is refused (Connect Invalid Host) and ends"
else
	not_ok "the first instance's card, without an epoch, is refused (Connect Invalid Host) and ends (exit status $rc)"
	tail -n 5 "$TMP/ebs4.log" | sed 's/^/#   /'
fi
