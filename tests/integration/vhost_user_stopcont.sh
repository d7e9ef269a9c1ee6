#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vhost-user back-ends across a front-end's stop and cont, and a back-end
# that dies and is started again under a running guest.  QEMU's QMP
# "stop"/"cont" make QEMU stop every ring (SET_VRING_ENABLE 0, then
# GET_VRING_BASE, whose answer is where the ring resumes) and start them
# again, while the guest keeps its requests outstanding.  A back-end that
# loses ring state there (used entries filled but not published, an
# interrupt not sent) leaves the guest waiting for ever.
#
# Blk face: Debian's kernel under QEMU TCG on cv-ebs's vhost-user-blk face
# runs fio (Debian's package, copied into the initramfs) with CRC32C
# verification, several rounds in one boot; during each round
# tests/tools/qmp_stopcont.py stops and continues the VM 30 times.  Every
# round must finish with its verification passed and no I/O error in the
# guest.  A hang prints what QEMU knows of the rings.  In a last round
# cv-ebs is SIGKILLed with requests in flight and started again: QEMU
# reconnects and hands the new card the inflight buffer the old one
# filled (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), the new card resubmits
# what was taken and not completed, and fio's verification must pass with
# no I/O error in the guest.
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

FIO=$(command -v fio || true)
ROUNDS=${STOPCONT_ROUNDS:-3}
CYCLES=${STOPCONT_CYCLES:-30}

what="vhost-user-blk across QEMU stop/cont"
vblk_test_begin "$what"
[ -n "$FIO" ] || { skip "$what" "fio not installed (make deps)"; exit 0; }
mkdir -p "$TMP/extra"
boot_step "$what" "copying fio" tests/boot/copy-with-libs.sh "$TMP/extra" usr/bin "$FIO"
EXTRA=$TMP/extra boot_prepare "$what" tests/boot/vblk-init
vblk_card_start 128M

# stopcont NAME QOM START END: runs the loop against VM NAME's QMP socket
# and console; its lines go to $TMP/NAME.loop.
stopcont() {
	python3 tests/tools/qmp_stopcont.py "$TMP/$1.qmp" "$TMP/$1.out" "$ROUNDS" "$CYCLES" \
		"$3" "$4" "$2" >"$TMP/$1.loop" 2>&1
}

# stopcont_checks NAME WHAT: one line per round from the loop's report.
stopcont_checks() {
	local r line
	for r in $(seq "$ROUNDS"); do
		line=$(grep -m1 "^stopcont: round $r " "$TMP/$1.loop")
		if [[ $line == *" cycles=$CYCLES "*" overlapped=yes" ]]; then
			ok "$2: round $r: $CYCLES stop/cont cycles while the guest worked (${line#stopcont: round $r })"
		else
			not_ok "$2: round $r: $CYCLES stop/cont cycles while the guest worked (${line:-no report})"
			grep '^#' "$TMP/$1.loop" | head -n 20
			return
		fi
	done
}

# --- blk face: fio with verification --------------------------------------
# Two vCPUs and two virtqueues; 1 GiB because fio's libraries (~80 MiB)
# live in the initramfs.  reconnect=1: QEMU reconnects to a back-end that
# went away, as it must for the card-kill round.  ROUNDS rounds with the
# stop/cont loop, then one more during which cv-ebs is SIGKILLed.
kill_round=$((ROUNDS + 1))
timeout --kill-after=5 900 "$QEMU" -machine q35,accel=tcg -m 1G -smp 2 \
	-object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \
	-chardev "socket,id=c0,path=$TMP/vblk.sock,reconnect=1" \
	-device "vhost-user-blk-pci,id=vblk0,chardev=c0,num-queues=2,vectors=0" \
	-kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet cvvblk=fio cvfio=$kill_round cvfio_time=12" \
	-no-reboot -display none -serial "file:$TMP/blk.out" -monitor none \
	-qmp "unix:$TMP/blk.qmp,server=on,wait=off" </dev/null >"$TMP/blk.qemu" 2>&1 &
qemu_pid=$!
stopcont blk /machine/peripheral/vblk0/virtio-backend \
	'^cvvblk: fio round {r} start' '^cvvblk: fio round {r} (ok|fail)'
loop_rc=$?

# The card-kill round: cv-ebs SIGKILLed while fio has requests in flight;
# a new one (as cardvisor would start) gets the inflight buffer from QEMU
# when it reconnects and resubmits what its predecessor had taken.  So that
# the card surely holds requests when it dies (not only ones still in the
# avail ring, which the next card would take anyway), cv-storaged is
# stopped for a second first: the card takes fio's requests and waits.
killed=
if [ "$loop_rc" = 0 ] && wait_line "$TMP/blk.out" "^cvvblk: fio round $kill_round start" 600; then
	sleep 2
	old_pid=$ebs_pid card=$(vblk_card_pid) storaged=$(cat "$TMP/storaged.pid")
	kill -STOP "$storaged"
	sleep 1
	if [ -n "$card" ] && kill -9 "$card" 2>/dev/null; then
		wait "$old_pid" 2>/dev/null
		killed=yes
	fi
	kill -CONT "$storaged"
	[ -n "$killed" ] && vblk_card_restart
	wait_line "$TMP/blk.out" "^cvvblk: fio round $kill_round (ok|fail)" 300 || loop_rc=1
fi
[ "$loop_rc" = 0 ] || kill "$qemu_pid" 2>/dev/null
wait "$qemu_pid"
echo $? >"$TMP/blk.rc"
stopcont_checks blk "blk face"
for r in $(seq "$ROUNDS"); do
	expect blk "blk face: fio round $r (stop/cont) verified every block it wrote" \
		"^cvvblk: fio round $r ok written_kib=[1-9]"
done
check "blk face: cv-ebs was SIGKILLed during fio round $kill_round and started again" \
	test -n "$killed"
expect blk "blk face: fio round $kill_round (card killed) verified every block it wrote" \
	"^cvvblk: fio round $kill_round ok written_kib=[1-9]"
check "blk face: the new cv-ebs resubmitted what the killed one had in flight" \
	grep -qE 'resubmitting [1-9][0-9]* chains taken and not completed before' "$TMP/ebs.log"
check "blk face: the guest logged no I/O error" \
	bash -c "! grep -qiE 'I/O error|blk_update_request|timeout' '$TMP/blk.out'"
expect blk "blk face: the guest ran its init to the end" '^cvvblk: done'
expect_rc blk "blk face: QEMU ran the guest to power-off" 0
check "blk face: the cards refused no vhost-user request" \
	bash -c "! grep -q 'refused' '$TMP/ebs.log'"
