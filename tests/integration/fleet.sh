#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fleet (docs/fleet.md) on one machine: a real 3-member etcd cluster on
# loopback ports and two host agents (`cardvisor host serve`), each with its
# own state and run directories.  Registration, placement through etcd
# transactions, a launch that cannot be placed, the last slot raced for,
# volume attachment (a held volume refused, --force-detach raising its
# epoch, which reaches the host's run), a host that dies with an instance
# pending (host-lost), an etcd member killed
# mid-run, an instance stopped while its host was away and released when the
# host's agent comes back, ENI addresses (one VPC address held by one ENI
# from placement to release; a host without --underlay refuses ENIs), and
# an agent leaving on SIGTERM.  Where /dev/kvm is usable the
# test guest runs to its end through its host's agent; where it is not, the
# agent's start fails and the fleet says why, and capacity comes back.
. "$(dirname "$0")/lib.sh"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
	skip "the fleet" "etcd is not installed (make deps installs etcd-server and etcd-client)"
	exit 0
fi
# N distinct loopback ports nobody listens on now (all bound at once).
ports() {
	python3 -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}

# --- a 3-member etcd cluster ----------------------------------------------
declare -a CPORT PPORT EPID
read -r CPORT[0] PPORT[0] CPORT[1] PPORT[1] CPORT[2] PPORT[2] < <(ports 6)
initial=
for i in 0 1 2; do
	initial+="${initial:+,}m$i=http://127.0.0.1:${PPORT[$i]}"
done
member_start() {
	local i=$1
	etcd --name m$i --data-dir "$TMP/etcd-m$i" \
		--listen-client-urls http://127.0.0.1:${CPORT[$i]} \
		--advertise-client-urls http://127.0.0.1:${CPORT[$i]} \
		--listen-peer-urls http://127.0.0.1:${PPORT[$i]} \
		--initial-advertise-peer-urls http://127.0.0.1:${PPORT[$i]} \
		--initial-cluster "$initial" --initial-cluster-token "$TMP" \
		--initial-cluster-state new >>"$TMP/etcd-m$i.log" 2>&1 &
	EPID[$i]=$!
}
for i in 0 1 2; do member_start $i; done
export CARDVISOR_ETCD="http://127.0.0.1:${CPORT[0]},http://127.0.0.1:${CPORT[1]},http://127.0.0.1:${CPORT[2]}"
cleanup() {
	for p in "$TMP"/*.agent; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
	for p in "${EPID[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
healthy() {
	ETCDCTL_API=3 etcdctl --endpoints="$1" endpoint health >/dev/null 2>&1
}
# until COMMAND... succeeds, for up to 60 s (a guard against hangs)
until_ok() {
	for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done
	return 1
}
if ! until_ok healthy "$CARDVISOR_ETCD"; then
	not_ok "a 3-member etcd cluster starts"
	tail -n 5 "$TMP"/etcd-m*.log | sed 's/^/#   /'
	exit 0
fi

# --- host agents ------------------------------------------------------------
# agent NAME OPTIONS...: `cardvisor host serve` for host NAME, in the background.
agent() {
	local name=$1; shift
	mkdir -p "$TMP/$name"
	CARDVISOR_STATE=$TMP/$name/state CARDVISOR_RUNDIR=$TMP/$name/run \
		"$CARDVISOR" host serve --name "$name" "$@" >"$TMP/$name.log" 2>&1 &
	echo $! >"$TMP/$name.agent"
}
listed() { "$CARDVISOR" host ls | grep -q "^$1 "; }
# failed_saying DESCRIPTION RC FILE REGEX [one]: a command ended with exit
# status 1 and FILE has a line matching REGEX (with "one": that line alone);
# else FILE is quoted.
failed_saying() {
	if [ "$2" = 1 ] && grep -qE -- "$4" "$3" && { [ "${5:-}" != one ] || [ "$(wc -l <"$3")" = 1 ]; }; then
		ok "$1"
	else
		not_ok "$1 (exit status $2)"
		sed 's/^/#   /' "$3"
	fi
}
agent h1 --vcpus 1 --mem 256M --ttl 3
agent h2 --vcpus 1 --mem 1G --ttl 3
# h2's agent gets killed: not this shell's job, so no "Killed" line.
disown "$(cat "$TMP/h2.agent")"
until_ok listed h1 && until_ok listed h2
hosts=$("$CARDVISOR" host ls --json)
json_check "two agents register their hosts with what they offer" "$hosts" \
	'sorted((h["name"], h["vcpus"], h["mem"]) for h in r) ==
	 [("h1", 1, 256 << 20), ("h2", 1, 1 << 30)]'

CARDVISOR_STATE=$TMP/x "$CARDVISOR" host serve --name h1 >"$TMP/dup.out" 2>&1
failed_saying "a second agent for a live host is refused" $? "$TMP/dup.out" \
	'host h1: already registered: another agent serves it'

# --- placement ----------------------------------------------------------------
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 4G >"$TMP/big.out" 2>&1
failed_saying "a launch no host has room for fails at once, in one line" $? "$TMP/big.out" \
	'cannot place i-[0-9a-f]{17}: no host has 1 vCPUs and 4096 MiB free \(2 live hosts\)' one

# The test guest, on the only host with room for 128M: h2... unless h2 is
# busy.  First on h1 (64M fits both; h1 comes first by name).
"$CARDVISOR" run --fleet --json --guest "$TESTGUEST" --mem 64M >"$TMP/tg.out" 2>"$TMP/tg.err"
rc=$?
if have_kvm; then
	tg=$(cat "$TMP/tg.out")
	json_check "the test guest launched through the fleet runs on h1" "$tg" \
		'r["host"] == "h1" and r["state"] in ("running", "stopped")'
	id=$(sed -n 's/.*"id":"\(i-[0-9a-f]*\)".*/\1/p' "$TMP/tg.out")
	stopped() { "$CARDVISOR" ps --fleet | grep -qE "^$id +h1 +stopped"; }
	check "its end is reported stopped by h1's agent" until_ok stopped
	check "its console is on h1 under the fleet's id" \
		test -s "$TMP/h1/state/instances/$id/console.log"
else
	failed_saying "without /dev/kvm, the launch fails with h1's reason" $rc "$TMP/tg.err" \
		'h1 could not start i-[0-9a-f]{17}: .*/dev/kvm'
	id=$(grep -oE 'i-[0-9a-f]{17}' "$TMP/tg.err" | head -n1)
	check "ps --fleet shows it failed, with the reason" \
		bash -c "'$CARDVISOR' ps --fleet | grep -qE '^$id +h1 +failed .*/dev/kvm'"
fi
hosts=$("$CARDVISOR" host ls --json)
json_check "its capacity is back on h1" "$hosts" \
	'[h["used"].get("vcpus", 0) for h in r if h["name"] == "h1"] == [0]'
"$CARDVISOR" rm --fleet "$id" >"$TMP/rm.out" 2>&1
check "rm --fleet forgets the ended instance" \
	bash -c "grep -q '^$id removed$' '$TMP/rm.out' && ! '$CARDVISOR' ps --fleet | grep -q '^$id '"

# --- the last slot, and a host lost with an instance pending ----------------
# h2's agent frozen: what is placed there stays pending.  512M fits only
# h2.  Both launches attach volume vol-f.
kill -STOP "$(cat "$TMP/h2.agent")"
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 512M --volume id=vol-f >"$TMP/race1.out" 2>&1 &
r1=$!
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 512M --volume id=vol-f >"$TMP/race2.out" 2>&1 &
r2=$!
pending() { [ "$("$CARDVISOR" ps --fleet | grep -cE ' h2 +pending ')" = 1 ]; }
until_ok pending
# The loser fails at once; the winner waits for h2.
for _ in $(seq 600); do
	if ! kill -0 $r1 2>/dev/null; then loser=$r1; winner=$r2; lout=race1; wout=race2; break; fi
	if ! kill -0 $r2 2>/dev/null; then loser=$r2; winner=$r1; lout=race2; wout=race1; break; fi
	sleep 0.1
done
# It lost on capacity or on the volume, whichever it read after the winner.
if [ -n "${loser:-}" ] && ! wait $loser && kill -0 $winner 2>/dev/null &&
	grep -qE 'no host has 1 vCPUs and 512 MiB free|volume vol-f is attached to' "$TMP/$lout.out"; then
	ok "two launches race for the last slot: exactly one is placed"
else
	not_ok "two launches race for the last slot: exactly one is placed"
	cat "$TMP/race1.out" "$TMP/race2.out" | sed 's/^/#   /'
fi
lost_id=$("$CARDVISOR" ps --fleet | awk '$2 == "h2" && $3 == "pending" { print $1 }')

# --- volume attachment (epochs) --------------------------------------------
volume_rec() {
	ETCDCTL_API=3 etcdctl --endpoints="$CARDVISOR_ETCD" get /cardvisor/v1/volumes/vol-f \
		--print-value-only
}
json_check "the placed launch attached vol-f as epoch 1" "$(volume_rec)" \
	"r == {'instance': '$lost_id', 'host': 'h2', 'epoch': 1}"
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 64M --volume id=vol-f >"$TMP/att.out" 2>&1
failed_saying "another launch naming the attached volume is refused at once, in one line" $? \
	"$TMP/att.out" "cannot place i-[0-9a-f]{17}: volume vol-f is attached to $lost_id \(epoch 1\); \
--force-detach takes it" one
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 64M --volume id=vol-f --force-detach \
	>"$TMP/force.out" 2>&1
force_id=$(grep -oE 'i-[0-9a-f]{17}' "$TMP/force.out" | head -n1)
check "--force-detach takes it: h1's agent starts it with --volume id=vol-f,epoch=2" \
	grep -qE "instance $force_id: starting it: cardvisor run -d --id $force_id .*--volume id=vol-f,epoch=2( |$)" "$TMP/h1.log"
ended() { "$CARDVISOR" ps --fleet | grep -qE "^$force_id +h1 +(failed|stopped) "; }
until_ok ended
json_check "once it ended, vol-f is detached and keeps epoch 2" "$(volume_rec)" "r == {'epoch': 2}"

kill -9 "$(cat "$TMP/h2.agent")"
wait $winner
failed_saying "the waiting launch ends when its host's lease expires" $? "$TMP/$wout.out" \
	"$lost_id placed on h2: h2 left the fleet before starting it"
check "ps --fleet reports the instance of the dead host host-lost" \
	bash -c "'$CARDVISOR' ps --fleet | grep -qE '^$lost_id +h2 +host-lost '"
check "host ls no longer lists the dead host" bash -c "! '$CARDVISOR' host ls | grep -q '^h2 '"
"$CARDVISOR" rm --fleet "$lost_id" >"$TMP/rm-lost.out" 2>&1
failed_saying "rm --fleet of an instance still placed (its host lost) is refused" $? \
	"$TMP/rm-lost.out" "$lost_id is still placed on h2: cardvisor stop --fleet $lost_id first \
\(rm --force once h2 is lost\)" one

# Stopped while its host is away; the host's agent, started again, finds it
# placed there and asked to stop: it never runs, and h2's capacity is back.
"$CARDVISOR" stop --fleet "$lost_id" >"$TMP/stop-lost.out" 2>&1
check "stop --fleet of the host-lost instance is recorded" \
	grep -q "^$lost_id stopping on h2$" "$TMP/stop-lost.out"
agent h2 --vcpus 1 --mem 1G --ttl 3
disown "$(cat "$TMP/h2.agent")"
stopped_early() {
	"$CARDVISOR" ps --fleet | grep -qE "^$lost_id +h2 +stopped .*stopped before it started"
}
check "h2's agent, back, releases it as stopped before it started" until_ok stopped_early
json_check "and leaves vol-f, force-detached from it, as it was" "$(volume_rec)" "r == {'epoch': 2}"
hosts=$("$CARDVISOR" host ls --json)
json_check "and h2's capacity is back" "$hosts" \
	'[h["used"].get("vcpus", 0) for h in r if h["name"] == "h2"] == [0]'

# --- ENI addresses ---------------------------------------------------------------
ETCDCTL="env ETCDCTL_API=3 etcdctl --endpoints=$CARDVISOR_ETCD"
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 64M \
	--nic subnet=10.0.1.0/24,underlay=127.0.0.1:4789 >"$TMP/nic-u.out" 2>&1
failed_saying "run --fleet refuses a --nic underlay= (the host's to give), in one line" $? \
	"$TMP/nic-u.out" 'the host gives --nic its underlay= and the fleet its mapping=' one
# h1 was started without --underlay: whatever /dev/kvm says, it cannot
# carry an ENI's traffic, and says so.
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 64M \
	--nic subnet=10.0.1.0/24,ip=10.0.1.9 >"$TMP/nic-h1.out" 2>&1
failed_saying "a host without --underlay refuses an instance with an ENI, saying why" $? \
	"$TMP/nic-h1.out" 'h1 could not start i-[0-9a-f]{17}: host h1 has no underlay address for its ENIs'
check "and its address is free again once it is released" \
	bash -c "! $ETCDCTL get --prefix /cardvisor/v1/addresses/ | grep -q 10.0.1.9"

# --- an etcd member dies mid-run ----------------------------------------------
kill -9 "${EPID[0]}"
wait "${EPID[0]}" 2>/dev/null
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 64M >"$TMP/m0.out" 2>&1
rc=$?
# h1's agent answered through its watch, now on another member.
if grep -qE 'h1 could not start|^i-[0-9a-f]{17}$' "$TMP/m0.out"; then
	ok "with an etcd member killed, a launch is placed and h1's agent answers"
else
	not_ok "with an etcd member killed, a launch is placed and h1's agent answers (exit status $rc)"
	sed 's/^/#   /' "$TMP/m0.out" "$TMP/h1.log"
fi
member_start 0
check "the killed member comes back with its data" until_ok healthy "http://127.0.0.1:${CPORT[0]}"
check "h1 stayed registered throughout (its lease kept alive)" listed h1

"$CARDVISOR" stop --fleet i-00000000000000000 >"$TMP/stop.out" 2>&1
failed_saying "stop --fleet of an unknown instance says so" $? "$TMP/stop.out" \
	'the fleet has no instance i-00000000000000000'

# --- an instance left on a host that never comes back: rm --force --------------
kill -STOP "$(cat "$TMP/h2.agent")"
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 512M --volume id=vol-g \
	--nic subnet=10.0.1.0/24,ip=10.0.1.12 >"$TMP/left.out" 2>&1 &
left=$!
until_ok pending
left_id=$("$CARDVISOR" ps --fleet | awk '$2 == "h2" && $3 == "pending" { print $1 }')
"$CARDVISOR" run --fleet --guest "$TESTGUEST" --mem 64M \
	--nic subnet=10.0.1.0/24,ip=10.0.1.12 >"$TMP/held.out" 2>&1
failed_saying "an address another ENI of the VPC holds is refused at once, naming the holder" \
	$? "$TMP/held.out" "cannot place i-[0-9a-f]{17}: address 10.0.1.12 of VNI 1 is held by $left_id" one
json_check "the holder's record says the NIC as placed (address, ENI id)" \
	"$($ETCDCTL get "/cardvisor/v1/instances/$left_id" --print-value-only)" \
	'r["nics"][0]["ip"] == "10.0.1.12" and r["nics"][0]["eni"].startswith("eni-") and
	 any(a.startswith("subnet=10.0.1.0/24,ip=10.0.1.12,") and "id=" + r["nics"][0]["eni"] in a
	     for a in r["args"])'

kill -9 "$(cat "$TMP/h2.agent")"
wait $left
lost_status() { "$CARDVISOR" status --fleet "$left_id" | grep -q '"state": "host-lost"'; }
until_ok lost_status
json_check "status --fleet of it, from any host: host-lost on h2, its ENI and its volume's epoch" \
	"$("$CARDVISOR" status --fleet "$left_id")" \
	'r["id"] == "'"$left_id"'" and r["host"] == "h2" and r["state"] == "host-lost" and
	 r["nics"][0]["ip"] == "10.0.1.12" and r["volumes"] == {"vol-g": 1}'
"$CARDVISOR" status --fleet i-00000000000000000 >"$TMP/status-none.out" 2>&1
failed_saying "status --fleet of an unknown instance says so" $? "$TMP/status-none.out" \
	'the fleet has no instance i-00000000000000000' one
"$CARDVISOR" rm --fleet --force "$left_id" >"$TMP/rm-force.out" 2>&1
check "rm --fleet --force forgets an instance of a lost host" \
	bash -c "grep -q '^$left_id removed$' '$TMP/rm-force.out' && ! '$CARDVISOR' ps --fleet | grep -q '^$left_id '"
check "and frees its volume, its address and the lost host's capacity" bash -c "
	! $ETCDCTL get --prefix /cardvisor/v1/addresses/ | grep -q 10.0.1.12 &&
	$ETCDCTL get /cardvisor/v1/volumes/vol-g --print-value-only |
		grep -qx '{\"epoch\":1}' &&
	$ETCDCTL get /cardvisor/v1/capacity/h2 --print-value-only |
		grep -q '\"vcpus\":0'"

# --- an agent that is told to go ------------------------------------------------
kill -TERM "$(cat "$TMP/h1.agent")"
wait "$(cat "$TMP/h1.agent")"
rc=$?
check "h1's agent ends on SIGTERM with status 0 (it was $rc)" test $rc = 0
check "and h1 leaves the fleet at once (lease revoked, not left to expire)" \
	bash -c "! '$CARDVISOR' host ls | grep -q '^h1 '"
rm -f "$TMP/h1.agent"
