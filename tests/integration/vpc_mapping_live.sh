#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live updates of cv-vpc's mapping table over its control socket
# (mapping-set, mapping-remove, mapping-prune: docs/vpc.md, "Live
# updates"), seen on the datapath.  A real cv-vpc (instance description
# from tests/tools/mkinstance, no mapping file) serves the test guest
# under QEMU TCG over vhost-user; the guest pings 10.0.1.7 once a second
# (nothing answers, so each ping waits out its one-second timeout).  Two
# UDP sockets on 127.0.0.1 stand for two underlay hosts and log every
# datagram they get: tunnel header, inner destination, ICMP sequence.
#  - a fresh card: 0 mappings, mapping_gen 0; the pings are dropped as
#    no_route;
#  - mapping-set: the pings arrive at the first host, VXLAN VNI 1
#    (RFC 7348 §5); set again to the second host with geneve (an ENI that
#    moved): later pings arrive there as Geneve (RFC 8926 §3.4), none at
#    the first any more;
#  - mapping-remove: no_route again, nothing more encapsulated; removing
#    it again answers removed:false;
#  - mark and sweep: two entries at gen 5, a resync at gen 6 that re-sets
#    only the other address, mapping-prune 6: the stale entry is gone
#    (no_route again), the other kept, mapping_gen 6;
#  - refused requests (a foreign VNI, bad ip, underlay and encap, a wrong
#    JSON type, a missing field, a negative gen) answer ok:false with the
#    reason, change neither the table nor mapping_gen, are logged once per
#    kind, and the card goes on encapsulating;
#  - every exchange sends several requests on one connection (ctl_call).
. "$(dirname "$0")/lib.sh"

QEMU=$(command -v qemu-system-x86_64 || true)
VPC=$BUILD/cv-vpc
MKINSTANCE=$BUILD/tests/tools/mkinstance
CTL=$BUILD/tests/tools/ctl_call
MAC=02:00:0a:00:01:17
ENI_IP=10.0.1.23
PEER=10.0.1.7 OTHER=10.0.1.9
PINGS=60
vpc_pid='' qemu_pid='' peer_pid=''

cleanup() {
	local p
	for p in "$qemu_pid" "$vpc_pid" "$peer_pid"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && echo "# kept $TMP"
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

what="live mapping updates on cv-vpc's control socket"
[ -n "$QEMU" ] || { skip "$what" "qemu-system-x86_64 not installed"; exit 0; }
command -v python3 >/dev/null || { skip "$what" "python3 (the underlay peers) is missing"; exit 0; }
for b in "$VPC" "$MKINSTANCE" "$CTL" "$TESTGUEST"; do
	[ -e "$b" ] || { not_ok "$what: $b is not built"; exit 0; }
done

# --- two underlay hosts: UDP sockets logging what they get -------------------
# One line per datagram: SOCKET HEADER-HEX INNER-DST IP-PROTO ICMP-TYPE ICMP-SEQ.
timeout 300 python3 - "$TMP/ports" "$TMP/peer.log" <<'EOF' >"$TMP/peer.err" 2>&1 &
import os, select, socket, sys
socks = {}
for name in ("vx", "gn"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    socks[s] = name
log = open(sys.argv[2], "a", buffering=1)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(" ".join(str(s.getsockname()[1]) for s in socks) + "\n")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    for s in select.select(list(socks), [], [])[0]:
        d = s.recv(65535)
        inner, dst, proto, typ, seq = d[8:], "-", -1, -1, -1
        # Ethernet, then IPv4 (ethertype 0x0800), then ICMP.
        if len(inner) >= 34 and inner[12:14] == b"\x08\x00":
            dst, proto = socket.inet_ntoa(inner[30:34]), inner[23]
            l4 = inner[14 + (inner[14] & 15) * 4:]
            if proto == 1 and len(l4) >= 8:
                typ, seq = l4[0], int.from_bytes(l4[6:8], "big")
        log.write("%s %s %s %d %d %d\n" % (socks[s], d[:8].hex(), dst, proto, typ, seq))
EOF
peer_pid=$!
for _ in $(seq 100); do [ -s "$TMP/ports" ] && break; sleep 0.1; done
if [ ! -s "$TMP/ports" ]; then
	not_ok "$what: the underlay peers start"
	sed 's/^/#   /' "$TMP/peer.err"
	exit 0
fi
read -r VX_PORT GN_PORT <"$TMP/ports"
touch "$TMP/peer.log"

# --- the card and the guest --------------------------------------------------
"$MKINSTANCE" "$TMP/inst.dtb" --kernel "$TESTGUEST" \
	--nic "$TMP/vpc.sock,10.0.1.0/24,$ENI_IP,$MAC" >"$TMP/mk.out" 2>&1 || {
	not_ok "$what: mkinstance: $(tail -n1 "$TMP/mk.out")"
	exit 0
}
timeout --kill-after=5 300 "$VPC" --instance "$TMP/inst.dtb" --nic eni-0 --verbose \
	"${CARD_JAIL[@]}" >"$TMP/vpc.log" 2>&1 &
vpc_pid=$!
for _ in $(seq 100); do [ -S "$TMP/vpc.sock.ctl" ] && break; sleep 0.1; done
if [ ! -S "$TMP/vpc.sock.ctl" ]; then
	not_ok "$what: cv-vpc serves $TMP/vpc.sock.ctl"
	sed 's/^/#   /' "$TMP/vpc.log" | tail -n 10
	exit 0
fi

# ctl REQUEST...: the replies, one line each, all on one connection; a
# missing reply is a failure of its own (on stderr: callers capture stdout).
ctl() {
	local out
	out=$("$CTL" "$TMP/vpc.sock.ctl" "$@" 2>"$TMP/ctl.err")
	if [ "$(grep -c . <<<"$out")" != $# ]; then
		not_ok "$# requests on one connection get $# replies" >&2
		sed 's/^/#   /' "$TMP/ctl.err" >&2
	fi
	printf '%s\n' "$out"
}
STATS='{"cmd":"stats"}'
# reply N REPLIES: the Nth line.
reply() { sed -n "$1p" <<<"$2"; }
# stat EXPR: a Python expression over the card's stats reply (r).
stat() {
	"$CTL" "$TMP/vpc.sock.ctl" 2>/dev/null |
		python3 -c 'import json, sys; r = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# wait_stat EXPR SECONDS: until EXPR holds on the stats, or false.
wait_stat() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		[ "$(stat "$1" 2>/dev/null)" = True ] && return 0
		sleep 0.2
	done
	return 1
}
# got SOCKET: datagrams logged for it; wait_got SOCKET N SECONDS: until N more than now.
got() { awk -v s="$1" '$1 == s' "$TMP/peer.log" | wc -l; }
wait_got() {
	local want=$(($(got "$1") + $2)) i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(got "$1")" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
set_req() { # IP UNDERLAY ENCAP GEN
	printf '{"cmd":"mapping-set","vni":1,"ip":"%s","underlay":"%s","encap":"%s","gen":%s}' \
		"$@"
}
show_card() {
	echo "#   card: $(stat "(r['mappings'], r['mapping_gen'], r['encapsulated'], r['drops']['no_route'])" 2>&1)"
	sed 's/^/#   peer: /' "$TMP/peer.log" | tail -n 5
	tail -n 3 "$TMP/guest.out" | sed 's/^/#   guest: /'
}
check_dp() { # DESCRIPTION COMMAND...: check, with the datapath's state on failure
	local d=$1; shift
	if "$@"; then ok "$d"; else not_ok "$d"; show_card; fi
}

r=$(ctl "$STATS")
json_check "a fresh card: no mappings, mapping_gen 0" "$r" \
	"r['ok'] and r['mappings'] == 0 and r['mapping_gen'] == 0"

timeout --kill-after=5 $((PINGS + 60)) "$QEMU" -accel tcg -M q35 -m 128 \
	-object memory-backend-memfd,id=mem,size=128M,share=on -numa node,memdev=mem \
	-nodefaults -display none -no-reboot -serial "file:$TMP/guest.out" \
	-kernel "$TESTGUEST" -append "net-ping host=$PEER count=$PINGS" \
	-chardev "socket,id=c0,path=$TMP/vpc.sock" -netdev vhost-user,id=n0,chardev=c0 \
	-device "virtio-net-pci,netdev=n0,mac=$MAC,vectors=0" \
	-device isa-debug-exit,iobase=0x3c0,iosize=1 </dev/null >"$TMP/qemu.log" 2>&1 &
qemu_pid=$!

# --- unmapped: no_route ------------------------------------------------------
check_dp "unmapped: the guest's pings of $PEER are dropped as no_route, nothing encapsulated" \
	wait_stat "r['drops']['no_route'] >= 2 and r['encapsulated'] == 0" 30
[ -s "$TMP/qemu.log" ] && sed 's/^/#   qemu: /' "$TMP/qemu.log"

# --- mapping-set: VXLAN to the first host --------------------------------------
r=$(ctl "$(set_req $PEER "127.0.0.1:$VX_PORT" vxlan 1)" "$STATS")
json_check "mapping-set $PEER -> 127.0.0.1:$VX_PORT vxlan gen 1: ok" "$(reply 1 "$r")" "r == {'ok': True}"
json_check "stats after it (same connection): 1 mapping, mapping_gen 1" "$(reply 2 "$r")" \
	"r['mappings'] == 1 and r['mapping_gen'] == 1"
no_route=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["drops"]["no_route"])' \
	"$(reply 2 "$r")")
check_dp "the pings now arrive at the first underlay host" wait_got vx 2 10
check_dp "each one VXLAN with VNI 1 (flags 0x08, reserved bits 0), an ICMP echo request to $PEER" \
	awk -v p="$PEER" '$1 == "vx" && ($2 != "0800000000000100" || $3 != p || $4 != 1 || $5 != 8) { bad = 1 }
		END { exit bad }' "$TMP/peer.log"
check_dp "no_route stopped counting once the mapping was set" \
	test "$(stat "r['drops']['no_route']")" = "$no_route"

# --- mapping-set again: the ENI moved (another host, Geneve) -------------------
r=$(ctl "$(set_req $PEER "127.0.0.1:$GN_PORT" geneve 2)" "$STATS")
json_check "mapping-set of the same address to 127.0.0.1:$GN_PORT geneve gen 2 replaces it" \
	"$(reply 2 "$r")" "r['mappings'] == 1 and r['mapping_gen'] == 2"
check_dp "the pings now arrive at the second host" wait_got gn 2 10
check_dp "as Geneve (version 0, no options, protocol 0x6558, VNI 1) to $PEER" \
	awk -v p="$PEER" '$1 == "gn" && ($2 != "0000655800000100" || $3 != p || $4 != 1) { bad = 1 }
		END { exit bad }' "$TMP/peer.log"
check_dp "and none at the first host after the move (every VXLAN sequence number before every Geneve one)" \
	awk '$1 == "vx" && $6 > vx { vx = $6 } $1 == "gn" && (!gn || $6 < gn) { gn = $6 }
		END { exit !(vx && gn && vx < gn) }' "$TMP/peer.log"

# --- mapping-remove -------------------------------------------------------------
r=$(ctl '{"cmd":"mapping-remove","vni":1,"ip":"'$PEER'","gen":3}' "$STATS" \
	'{"cmd":"mapping-remove","vni":1,"ip":"'$PEER'","gen":3}')
json_check "mapping-remove $PEER: removed" "$(reply 1 "$r")" "r == {'ok': True, 'removed': True}"
json_check "stats after it: 0 mappings, mapping_gen 3" "$(reply 2 "$r")" \
	"r['mappings'] == 0 and r['mapping_gen'] == 3"
json_check "removing it again is no error: removed false" "$(reply 3 "$r")" \
	"r == {'ok': True, 'removed': False}"
read -r no_route encapsulated < <(python3 -c 'import json, sys; r = json.loads(sys.argv[1])
print(r["drops"]["no_route"], r["encapsulated"])' "$(reply 2 "$r")")
check_dp "removed: the pings are no_route again" \
	wait_stat "r['drops']['no_route'] >= $no_route + 2" 10
check_dp "and nothing more is encapsulated" test "$(stat "r['encapsulated']")" = "$encapsulated"
check_dp "the underlay got every datagram the card counted, no more ($encapsulated)" \
	test "$(wc -l <"$TMP/peer.log")" = "$encapsulated"

# --- mark and sweep ---------------------------------------------------------------
r=$(ctl "$(set_req $PEER "127.0.0.1:$VX_PORT" vxlan 5)" "$(set_req $OTHER 10.233.0.9 vxlan 5)" \
	"$STATS")
json_check "two entries set at gen 5" "$(reply 3 "$r")" "r['mappings'] == 2 and r['mapping_gen'] == 5"
check_dp "$PEER reaches the first host again" wait_got vx 2 10
r=$(ctl "$(set_req $OTHER 10.233.0.9 vxlan 6)" '{"cmd":"mapping-prune","gen":6}' "$STATS")
json_check "a resync at gen 6 re-sets only $OTHER; mapping-prune 6 removes the other one" \
	"$(reply 2 "$r")" "r == {'ok': True, 'removed': 1}"
json_check "stats after it: 1 mapping, mapping_gen 6" "$(reply 3 "$r")" \
	"r['mappings'] == 1 and r['mapping_gen'] == 6"
no_route=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["drops"]["no_route"])' \
	"$(reply 3 "$r")")
check_dp "the pruned $PEER is no_route again" wait_stat "r['drops']['no_route'] >= $no_route + 2" 10

# --- refused requests ---------------------------------------------------------------
r=$(ctl "$(set_req $PEER "127.0.0.1:$VX_PORT" vxlan 7)" \
	'{"cmd":"mapping-set","vni":2,"ip":"'$PEER'","underlay":"10.233.0.2"}' \
	'{"cmd":"mapping-set","vni":2,"ip":"'$PEER'","underlay":"10.233.0.2","gen":99}' \
	'{"cmd":"mapping-set","vni":1,"ip":"10.0.1.300","underlay":"10.233.0.2","gen":99}' \
	'{"cmd":"mapping-set","vni":1,"ip":"'$PEER'","underlay":"10.233.0.2:0","gen":99}' \
	'{"cmd":"mapping-set","vni":1,"ip":"'$PEER'","underlay":"10.233.0.2","encap":"gre","gen":99}' \
	'{"cmd":"mapping-set","vni":"1","ip":"'$PEER'","underlay":"10.233.0.2","gen":99}' \
	'{"cmd":"mapping-set","vni":1,"ip":"'$PEER'","underlay":"10.233.0.2","gen":"99"}' \
	'{"cmd":"mapping-set","vni":1,"ip":"'$PEER'","gen":99}' \
	'{"cmd":"mapping-remove","vni":1,"ip":7,"gen":99}' \
	'{"cmd":"mapping-prune","gen":-1}' \
	'{"cmd":"mapping-prune"}' \
	'{"cmd":"mapping-sweep"}' \
	"$STATS")
json_check "$PEER set again at gen 7 (to the first host)" "$(reply 1 "$r")" "r == {'ok': True}"
i=2
for want in "vni 2 is not this card's (vni 1)" "vni 2 is not this card's (vni 1)" \
	"bad ip '10.0.1.300'" "bad underlay address '10.233.0.2:0'" \
	"encapsulation 'gre' is not vxlan or geneve" '"vni" is not an integer' \
	'"gen" is not an integer' 'no "underlay"' '"ip" is not a string' \
	'gen -1 is negative' 'no "gen"' 'unknown command'; do
	lit=$(python3 -c 'import sys; print(repr(sys.argv[1]))' "$want")
	json_check "refused with the reason: $want" "$(reply $i "$r")" \
		"r['ok'] is False and set(r) == {'ok', 'error'} and $lit in r['error']"
	i=$((i + 1))
done
json_check "after the refusals: still 2 mappings and mapping_gen 7" "$(reply $i "$r")" \
	"r['mappings'] == 2 and r['mapping_gen'] == 7"
check_dp "the card goes on encapsulating $PEER to the first host" wait_got vx 2 10
check "each kind of refusal logged once, with the ENI (the foreign VNI twice refused, once logged)" \
	test "$(grep -c "eni eni-0: control socket: refused: mapping-set: vni 2 is not this card's (vni 1)" "$TMP/vpc.log")" = 1
check "applied updates logged under --verbose" \
	grep -q "eni eni-0: mapping-set vni 1 $PEER -> 127.0.0.1:$GN_PORT geneve, gen 2" "$TMP/vpc.log"

check "the guest kept running throughout" kill -0 "$qemu_pid"
check "cv-vpc is still running" kill -0 "$vpc_pid"
kill "$qemu_pid" 2>/dev/null
wait "$qemu_pid" 2>/dev/null
qemu_pid=''
