#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The run directory and the sockets in it belong to the VM's owner alone
# (issue 11, "Sockets and run directory"):
#  - a run directory another user made (the /tmp fallback can be made by
#    anyone first), or one that is a symlink, makes `cardvisor run` refuse
#    with one line naming it, before anything starts;
#  - with every socket and directory of a running VM made 0777 (a careless
#    umask), an unprivileged user still cannot pause it, read its console
#    or stop it: cv-hv checks each peer's uid (SO_PEERCRED); the VM runs on;
#  - a card socket served by another user is refused by cv-hv instead of
#    being handed guest memory (tests/tools/vfu_testdev run as that user,
#    plugged with --vfio-user);
#  - a symlink inside the instance directory pointing outside it is
#    removed at exit, its target left alone.
# Needs root (to act as another user, 65534 "nobody", with setpriv).
set -u
. "$(dirname "$0")/lib.sh"

NOBODY=65534
what="run directory and sockets"
if ! have_kvm; then
	skip "$what" "/dev/kvm is not usable here"
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	skip "$what" "needs root and setpriv to act as another user"
	exit 0
fi
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }

# --- a run directory that is not ours ------------------------------------
mkdir -m 0777 "$TMP/planted"
chown $NOBODY:$NOBODY "$TMP/planted"
CARDVISOR_RUNDIR=$TMP/planted "$CARDVISOR" run --guest "$TESTGUEST" --mem 64M \
	--cmdline "" >"$TMP/planted.out" 2>&1
rc=$?
check "run refuses a run directory another user owns (exit $rc)" test "$rc" != 0
check "with one line naming it" bash -c "[ \$(wc -l <'$TMP/planted.out') = 1 ] &&
	grep -q 'run directory $TMP/planted belongs to uid $NOBODY.*refusing' '$TMP/planted.out'"
check "and nothing was created in it" test -z "$(ls -A "$TMP/planted")"

mkdir -m 0700 "$TMP/real"
ln -s "$TMP/real" "$TMP/link"
CARDVISOR_RUNDIR=$TMP/link "$CARDVISOR" run --guest "$TESTGUEST" --mem 64M \
	--cmdline "" >"$TMP/link.out" 2>&1
check "run refuses a run directory that is a symlink" \
	grep -q "run directory $TMP/link is not a directory" "$TMP/link.out"

# --- a running VM, its sockets made 0777 ----------------------------------
timeout --kill-after=10 "$VM_TIMEOUT" "$CARDVISOR" run --guest "$TESTGUEST" --mem 64M \
	--cmdline wait </dev/null >"$TMP/vm.out" 2>&1 &
vm_pid=$!
id=
for _ in $(seq 200); do
	id=$(grep -oE 'instance i-[0-9a-f]+' "$TMP/vm.out" | head -n1 | cut -d' ' -f2)
	[ -n "$id" ] && grep -q '^cvguest: waiting for a shutdown request' "$TMP/vm.out" && break
	sleep 0.1
done
if [ -z "$id" ]; then
	not_ok "a waiting guest comes up"
	tail -n 20 "$TMP/vm.out" | sed 's/^/#   /'
	exit 0
fi
chmod 0777 "$TMP" "$CARDVISOR_RUNDIR" "$CARDVISOR_RUNDIR/$id"
chmod 0777 "$CARDVISOR_RUNDIR/$id"/*.sock

export CARDVISOR_RUNDIR
as_nobody "$CARDVISOR" pause "$id" >"$TMP/pause.out" 2>&1
check "another user cannot pause it, even through a 0777 socket" \
	bash -c "! grep -q '$id paused' '$TMP/pause.out'"
as_nobody "$CARDVISOR" stop --force "$id" >"$TMP/stop.out" 2>&1
as_nobody timeout 5 "$CARDVISOR" console "$id" </dev/null >"$TMP/console.out" 2>&1
check "nor read its console" bash -c "! grep -q 'cvguest' '$TMP/console.out'"
check "the VM runs on" grep -q '"state":"running"' <("$CARDVISOR" status "$id" | tr -d ' \n')
check "cv-hv logged the refusal with the peer's uid" \
	grep -qE "control: refused a connection from uid $NOBODY" "$TMP/vm.out"

# The owner tidies the modes up again; then a symlink in the instance
# directory, pointing at a file outside it.
chmod 0700 "$TMP" "$CARDVISOR_RUNDIR" "$CARDVISOR_RUNDIR/$id"
echo keep >"$TMP/outside"
ln -s "$TMP/outside" "$CARDVISOR_RUNDIR/$id/planted-link"
check "the owner stops it" grep -q "$id" <("$CARDVISOR" stop --force "$id" 2>&1)
wait "$vm_pid"
check "the instance directory is gone at exit" test ! -e "$CARDVISOR_RUNDIR/$id"
check "the file a symlink in it pointed at is still there" \
	grep -qx keep "$TMP/outside"

# --- a card another user serves --------------------------------------------
TESTDEV=$BUILD/tests/tools/vfu_testdev
# Somewhere that user can write: $TMP is root's alone.
foreign=$(mktemp -d /tmp/cv-foreign.XXXXXX)
trap 'rm -rf "$TMP" "$foreign"' EXIT
chmod 0777 "$foreign"
as_nobody timeout 60 "$TESTDEV" "$foreign/card.sock" >"$TMP/foreign.card" 2>&1 &
card=$!
for _ in $(seq 100); do grep -q ready "$TMP/foreign.card" 2>/dev/null && break; sleep 0.1; done
run_vm foreign --guest "$TESTGUEST" --mem 64M --vfio-user "$foreign/card.sock"
expect_rc foreign "a card served by another user: cv-hv does not start the VM (exit 1)" 1
expect foreign "and says whose it is" "served by uid $NOBODY, not by a card of this VM's owner"
check "cv-hv set nothing up with it (no version, no guest memory, no vectors)" \
	bash -c "! grep -q 'card at .*MSI-X vectors' '$TMP/foreign.out'"
# The card ends by SIGTERM: its status is not this test's.
kill "$card" 2>/dev/null
wait "$card" 2>/dev/null || true
