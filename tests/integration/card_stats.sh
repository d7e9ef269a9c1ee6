#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Counters by query (tools/lib/card_ctl.h, issue 13): each card answers
# {"cmd":"stats"} on <its socket>.ctl with its counters as JSON, from its
# own event loop.  Here on a running cv-ebs (vhost-user-blk face, its
# volume on a cv-storaged) and cv-vpc of one instance description: the
# replies' shape and first values, and that bad requests get an error or
# lose their connection while the card goes on answering.  What the
# counters count under load is checked where a guest drives the cards
# (ebs_vhost_blk.sh; `cardvisor status` in the nested-KVM test).
. "$(dirname "$0")/lib.sh"

what="card counters by query"
cards_alone_start "$what"

call() { "$BUILD"/tests/tools/ctl_call "$@" 2>/dev/null; }

r=$(call "$TMP/blk.sock.ctl")
json_check "cv-ebs answers stats: its volume, face and a live NVMe/TCP association" "$r" \
	"r['ok'] and r['card'] == 'cv-ebs' and r['volume'] == '$vol' and r['face'] == 'vhost-user-blk' and r['nvmf']['live'] and r['nvmf']['reconnects'] == 0"
json_check "cv-ebs: no I/O yet: submitted, completed and errors are 0" "$r" \
	"(r['submitted'], r['completed'], r['errors']) == (0, 0, 0) and r['virtio_blk']['requests'] == 0"
r=$(call "$TMP/vpc.sock.ctl")
json_check "cv-vpc answers stats: its ENI, traffic counters, every drop reason, conntrack" "$r" \
	"r['ok'] and r['card'] == 'cv-vpc' and r['eni'] == 'eni-0' and r['from_guest'] == 0 and len(r['drops']) > 5 and 'tx_bad' in r['virtio_net'] and r['conntrack']['max'] > 0 and r['conntrack']['count'] == 0"

r=$(call "$TMP/vpc.sock.ctl" 'this is not json')
json_check "not JSON: an error reply, not a crash" "$r" \
	"not r['ok'] and 'JSON object' in r['error']"
r=$(call "$TMP/blk.sock.ctl" '{"cmd":"reboot"}')
json_check "an unknown command: an error naming what is known" "$r" \
	"not r['ok'] and 'unknown command' in r['error']"
check "a request line longer than any request: the connection is closed unanswered" \
	bash -c "! $BUILD/tests/tools/ctl_call '$TMP/vpc.sock.ctl' '$(head -c 2000 /dev/zero | tr '\0' x)' 2>/dev/null"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	check "another user gets no counters" \
		bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups $BUILD/tests/tools/ctl_call '$TMP/vpc.sock.ctl' 2>/dev/null"
fi
# idle_clients N SECONDS: N connections to cv-ebs's control socket that
# send nothing for SECONDS, in the background ($idlers); returns once all N
# are connected (accepted, or closed by the card when no slot is free).
idle_clients() {
	rm -f "$TMP/idle.ready"
	python3 - "$TMP/blk.sock.ctl" "$1" "$2" "$TMP/idle.ready" <<'EOF' &
import socket, sys, time
idle = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    idle.append(s)
open(sys.argv[4], "w").close()
time.sleep(float(sys.argv[3]))
EOF
	idlers=$!
	for _ in $(seq 100); do [ -e "$TMP/idle.ready" ] && break; sleep 0.1; done
	sleep 0.2  # the card's loop takes them in
}
# Clients that connect and say nothing hold a slot each, never the loop.
idle_clients 3 4
r=$(call "$TMP/blk.sock.ctl")
json_check "cv-ebs answers a fourth client while three others sit idle" "$r" "r['ok']"
wait "$idlers"
idle_clients 6 3
check "with every slot held by an idle client, one more is closed at once, unanswered" \
	bash -c "! $BUILD/tests/tools/ctl_call '$TMP/blk.sock.ctl' 2>/dev/null"
wait "$idlers"
r=$(call "$TMP/blk.sock.ctl")
json_check "cv-ebs answers again once the idle clients are gone" "$r" "r['ok']"
check "both cards are still running" bash -c "kill -0 ${pids[*]}"
