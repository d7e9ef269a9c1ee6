#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The VPC path end to end, as `cardvisor run --nic` wires it: the test
# guest's virtio-net driver -> cv-hv (virtio-pci) -> vhost-user -> cv-vpc
# (source checks, ARP/DHCP/IMDS/gateway ping answered by the card, security
# groups, connection tracking, mapping table, VXLAN/Geneve) -> the underlay.
# Checks: one VM's lease, gateway ping and metadata (and a spot notice);
# two VMs talking through their cards over VXLAN and over Geneve, allowed
# and denied by the security group; a flood against a 64-flow connection
# table; a Linux kernel vxlan device as the far end; malformed descriptor
# chains; tshark decoding what the cards put on the underlay.
#
# Every assertion about the card reads the counters line cv-vpc prints when
# it stops ("from guest N (answered N, consumed N, encapsulated N), from underlay N,
# delivered N, ...; drops: reason=N ..." and "virtio-net tx_bad N, chains
# dropped: ...; conntrack N/MAX, created N, expired N, evicted N, full N").
. "$(dirname "$0")/lib.sh"

export CARDVISOR_STATE=$TMP/state
GUEST=(--guest "$TESTGUEST" --mem 128M)
SUBNET=10.0.1.0/24
IP_A=10.0.1.10 IP_B=10.0.1.20 IP_K=10.0.1.200
NS_A=cv-vpc-card-$$             # check 4: the card's underlay side
NS_B=cv-vpc-kern-$$             # check 4: the kernel's vxlan device
VETH_A=cvpa$$ VETH_B=cvpb$$
UNDER_A=10.232.0.1 UNDER_B=10.232.0.2 UNDER_X=10.232.0.3
CAPTURE=
VM_PIDS=()

cleanup() {
	local p
	for p in "${VM_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${VM_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$CAPTURE" ]; then
		kill "$CAPTURE" 2>/dev/null
		wait "$CAPTURE" 2>/dev/null
	fi
	netns_del "$NS_A" "$NS_B"
	rm -rf "$TMP"
}
trap cleanup EXIT

if ! have_kvm; then
	skip "VPC path end to end" "/dev/kvm is not usable here"
	exit 0
fi


# vm_start NAME [PREFIX...] -- RUN-ARGS...: `cardvisor run` in the
# background with a timeout (PREFIX, e.g. `ip netns exec NS`, in front).
vm_start() {
	local name=$1 prefix=(); shift
	while [ "$1" != -- ]; do prefix+=("$1"); shift; done
	shift
	: >"$TMP/$name.out"
	timeout --kill-after=10 "$VM_TIMEOUT" "${prefix[@]}" "$CARDVISOR" run "$@" </dev/null \
		>"$TMP/$name.out" 2>&1 &
	eval "PID_$name=$!"
	VM_PIDS+=($!)
}

# vm_wait NAME: its exit status in $TMP/NAME.rc.
vm_wait() {
	local pid; eval "pid=\$PID_$1"
	wait "$pid"
	echo $? >"$TMP/$1.rc"
	[ "$(rc_of "$1")" = 124 ] && echo "# $1: timed out after ${VM_TIMEOUT}s" >>"$TMP/$1.out"
}

# wait_for NAME REGEX: until the VM's output has a matching line (or it exits).
wait_for() {
	local pid; eval "pid=\$PID_$1"
	for _ in $(seq 600); do
		grep -qE -- "$2" "$TMP/$1.out" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -qE -- "$2" "$TMP/$1.out"
}

ctl() { timeout 30 "$CARDVISOR" "$@"; }   # a command to a running VM
instance_of() { grep -oP 'cardvisor: instance \Ki-[0-9a-f]+(?= started)' "$TMP/$1.out" | head -n1; }

# counter NAME FIELD: one number from the card's counters lines, e.g.
# `counter a "from underlay"`, `counter a sg_denied=`, `counter a conntrack`.
counter() {
	local line
	line=$(grep -h 'cv-vpc: info: eni .*\(from guest\|conntrack\)' "$TMP/$1.out" | tr '\n' ' ')
	case $2 in
	*=) grep -oP -- "\b$2\K[0-9]+" <<<"$line" | head -n1 ;;
	*) grep -oP -- "\b$2 \K[0-9]+" <<<"$line" | head -n1 ;;
	esac
}
num() { local n; n=$(counter "$1" "$2"); echo "${n:-0}"; }

show() { # NAME: the card's counters and the guest's last lines, as TAP comments
	grep -hE 'cv-vpc: (info: eni .*(from guest|conntrack)|error)|^cvguest: (net|result)' \
		"$TMP/$1.out" | tail -n 12 | sed "s/^/#   $1: /"
}
check_vm() { # NAME DESCRIPTION COMMAND...: check, with the VM's lines on failure
	local name=$1 what=$2; shift 2
	if "$@"; then ok "$what"; else not_ok "$what"; show "$name"; fi
}

# ---- tshark on lo for the two-VM runs' underlay ports ----------------------
P_VX_A=$(tests/tools/free_port.py udp) P_VX_B=$(tests/tools/free_port.py udp)
P_GN_A=$(tests/tools/free_port.py udp) P_GN_B=$(tests/tools/free_port.py udp)
have_tshark=
if command -v tshark >/dev/null; then
	timeout 900 tshark -i lo -f "udp port $P_VX_A or udp port $P_VX_B or udp port $P_GN_A or udp port $P_GN_B" \
		-w "$TMP/underlay.pcapng" -q >"$TMP/tshark.out" 2>&1 &
	CAPTURE=$!
	for _ in $(seq 300); do
		grep -q 'Capturing on' "$TMP/tshark.out" && { have_tshark=1; break; }
		kill -0 "$CAPTURE" 2>/dev/null || break
		sleep 0.1
	done
	[ -z "$have_tshark" ] && sed 's/^/# tshark: /' "$TMP/tshark.out"
fi

# ---- 1. one VM: DHCP, gateway ping, metadata, spot notice ------------------
P=$(tests/tools/free_port.py udp)
run_vm one "${GUEST[@]}" --cmdline "net-dhcp net-ping net-imds" \
	--nic "subnet=$SUBNET,underlay=127.0.0.1:$P"
id=$(instance_of one)
expect_rc one "one VM with an ENI boots, runs its network workloads and powers off" 0
expect one "DHCP from the card: an address in $SUBNET, gateway .1, MTU 1450" \
	'^cvguest: net dhcp ip=10\.0\.1\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4]) gw=10\.0\.1\.1 mask=255\.255\.255\.0 .*mtu=1450 server=10\.0\.1\.1 '
expect one "the leased address is the one cardvisor gave the ENI" \
	"^cvguest: net dhcp ip=$(grep -oP 'cardvisor: nic eni-[0-9a-f]+ \(\K[0-9.]+' "$TMP/one.out") "
expect one "ARP: the gateway is the VPC router's MAC (02:c7:00:00:01:01, VNI 1)" \
	'^cvguest: net arp 10\.0\.1\.1 is 02:c7:00:00:01:01[[:space:]]*$'
expect one "the card answers every ping of the gateway" \
	'^cvguest: net ping host=10\.0\.1\.1 size=56 sent=4 received=4 '
expect one "IMDS: instance-id is the id cardvisor printed (${id:-none})" \
	"^cvguest: net imds instance-id=${id:-no-id-printed}[[:space:]]*\$"
check_vm one "the card answered all of it itself and sent nothing to the underlay" \
	test "$(num one answered)" -ge 10 -a "$(num one encapsulated)" = 0 \
	-a "$(num one answered)" = "$(num one delivered)"

# The guest pings the gateway for a while, is paused, gets a spot notice,
# is resumed and then fetches spot/instance-action.  The pause makes the
# order certain: the notice is in place before the guest's request.
SPOT=/latest/meta-data/spot/instance-action
vm_start spot -- "${GUEST[@]}" --cmdline "net-ping count=2000 net-imds path=$SPOT" \
	--nic "subnet=$SUBNET,underlay=127.0.0.1:$(tests/tools/free_port.py udp)"
spot_ok=
if wait_for spot 'cardvisor: instance i-[0-9a-f]+ started' &&
	sid=$(instance_of spot) && ctl pause "$sid" >"$TMP/pause.out" 2>&1; then
	if grep -q '^cvguest: net ping host=' "$TMP/spot.out"; then
		echo "# the guest finished pinging before it was paused: no ordering, no check"
	else
		t0=$(date +%s)
		ctl interrupt "$sid" --in 60 >"$TMP/interrupt.out" 2>&1 &&
			wait_for spot 'spot interruption scheduled: terminate' && spot_ok=1
		t1=$(date +%s)
	fi
	ctl resume "$sid" >>"$TMP/pause.out" 2>&1
fi
vm_wait spot
if [ -n "$spot_ok" ]; then
	when=$(grep -oP '^cvguest: net imds instance-id=\{"action":\?"terminate",\?"time":\?"\K[0-9T:-]+(?=Z"\})' \
		"$TMP/spot.out")
	at=$(date -u -d "${when:-1970-01-01T00:00:00}Z" +%s 2>/dev/null || echo 0)
	check_vm spot "spot notice (cardvisor interrupt --in 60): the guest reads terminate at ${when:-nothing}Z" \
		test "$at" -ge $((t0 + 60)) -a "$at" -le $((t1 + 60))
else
	not_ok "spot notice: cardvisor pause/interrupt/resume did not go through"
	sed 's/^/#   /' "$TMP/pause.out" "$TMP/interrupt.out" 2>/dev/null
	show spot
fi

# ---- 2. two VMs through their cards and the underlay -----------------------
# pair TAG ENCAP VNI PORT_A PORT_B SG_A ARGS_A CMD_A CMD_B [ARGS_B]: VM A
# serves, VM B starts once A is ready; both share one mapping file.
pair() {
	local tag=$1 encap=$2 vni=$3 pa=$4 pb=$5 sg=$6 args_a=$7 cmd_a=$8 cmd_b=$9 args_b=${10}
	local map=$TMP/$tag.map
	printf '%s %s 127.0.0.1:%s %s\n%s %s 127.0.0.1:%s %s\n' \
		"$vni" "$IP_A" "$pa" "$encap" "$vni" "$IP_B" "$pb" "$encap" >"$map"
	vm_start "${tag}_a" -- "${GUEST[@]}" --cmdline "$cmd_a" \
		--nic "subnet=$SUBNET,ip=$IP_A,vni=$vni,encap=$encap,underlay=127.0.0.1:$pa,mapping=$map${sg:+,sg=$sg}$args_a"
	if ! wait_for "${tag}_a" '^cvguest: net udp-serve port=[0-9]+ ready'; then
		echo "# $tag: VM A never got ready"
	fi
	vm_start "${tag}_b" -- "${GUEST[@]}" --cmdline "$cmd_b" \
		--nic "subnet=$SUBNET,ip=$IP_B,vni=$vni,encap=$encap,underlay=127.0.0.1:$pb,mapping=$map$args_b"
	vm_wait "${tag}_b"
}

# stop_vm NAME: stops a VM still serving (its card prints its counters).
stop_vm() {
	local sid; sid=$(instance_of "$1")
	[ -n "$sid" ] && ctl stop "$sid" --force >/dev/null 2>&1
	vm_wait "$1"
}

cat >"$TMP/sg_a" <<EOF
ingress udp 7000 $SUBNET
egress  all      0.0.0.0/0
EOF

for encap in vxlan geneve; do
	if [ $encap = vxlan ]; then vni=7 pa=$P_VX_A pb=$P_VX_B; else vni=4242 pa=$P_GN_A pb=$P_GN_B; fi
	pair $encap $encap $vni "$pa" "$pb" "$TMP/sg_a" "" \
		"net-udp-serve port=7000 count=10 wait=100" "net-udp-echo peer=$IP_A port=7000 count=10"
	vm_wait "${encap}_a"
	expect "${encap}_b" "$encap: B's 10 datagrams to A's UDP port 7000 (allowed by A's group) all come back intact" \
		"^cvguest: net udp-echo peer=$IP_A port=7000 size=64 sent=10 received=10 lost=0 bad=0 "
	expect "${encap}_a" "$encap: A echoed each of them" '^cvguest: net udp-serve port=7000 echoed=10 '
	check_vm "${encap}_b" "$encap: B's card (default group, no ingress rule) let the 10 replies in: stateful" \
		test "$(num "${encap}_b" encapsulated)" = 10 -a "$(num "${encap}_b" "from underlay")" = 10 \
		-a "$(num "${encap}_b" sg_denied=)" = 0
	check_vm "${encap}_a" "$encap: A's card took 10 from the underlay and sent 10 back, nothing dropped" \
		test "$(num "${encap}_a" "from underlay")" = 10 -a "$(num "${encap}_a" encapsulated)" = 10 \
		-a -n "$(grep 'cv-vpc: info: eni .*drops: none' "$TMP/${encap}_a.out")"
done

# Without the rule (the default group: no ingress) nothing reaches A; a
# second B floods 200 new flows at A through its own 64-flow table.
P_DA=$(tests/tools/free_port.py udp) P_DB=$(tests/tools/free_port.py udp)
pair deny vxlan 7 "$P_DA" "$P_DB" "" "" "net-udp-serve port=7000 wait=100" \
	"net-udp-echo peer=$IP_A port=7000 count=3"
expect deny_b "no ingress rule on A: B's 3 datagrams get nothing back" \
	"^cvguest: net udp-echo peer=$IP_A port=7000 size=64 sent=3 received=0 lost=3 "
vm_start flood -- "${GUEST[@]}" --cmdline "net-flood peer=$IP_A flows=200" \
	--nic "subnet=$SUBNET,ip=$IP_B,vni=7,underlay=127.0.0.1:$P_DB,mapping=$TMP/deny.map,conntrack=64"
vm_wait flood
stop_vm deny_a
check_vm deny_a "A's card took all 203 from the underlay and counted each as sg_denied" \
	test "$(num deny_a "from underlay")" = 203 -a "$(num deny_a sg_denied=)" = 203 \
	-a "$(num deny_a delivered)" = "$(num deny_a answered)"
expect flood "B floods 200 new UDP flows (ports 20000-20199) to A" \
	"^cvguest: net flood peer=$IP_A ports=20000-20199 flows=200 sent=200 "
ct_line=$(grep -oP 'conntrack \K[0-9]+/[0-9]+, created [0-9]+, expired [0-9]+, evicted [0-9]+, full [0-9]+' \
	"$TMP/flood.out")
read -r ct_n ct_max created expired evicted full < <(tr -c '0-9\n' ' ' <<<"$ct_line")
check_vm flood "conntrack=64: B's table holds at most 64 of the 200 flows (${ct_line:-no counters})" \
	test "${ct_max:-0}" = 64 -a "${ct_n:-99}" -le 64 -a "${created:-0}" = 200 \
	-a $((${created:-0} - ${expired:-0} - ${evicted:-0})) = "${ct_n:-99}"
check_vm flood "the 136 flows past the limit displaced unanswered ones (none refused), and all 200 left" \
	test $((${evicted:-0} + ${full:-0})) -ge 136 -a "$(num flood encapsulated)" = 200 \
	-a "$(num flood ct_full=)" = "${full:-x}"

# ---- 5. malformed descriptor chains ----------------------------------------
run_vm bad "${GUEST[@]}" --cmdline "net-bad" --nic "subnet=$SUBNET,underlay=127.0.0.1:$(tests/tools/free_port.py udp)"
expect bad "net-bad: after each of 7 malformed chains the gateway still answers" \
	'^cvguest: net-bad done ok=7 fail=0 '
expect_rc bad "the guest powers off" 0
chains=$(grep -oP 'virtio-net tx_bad \K[0-9]+, chains dropped:.*(?=; conntrack)' "$TMP/bad.out")
n_chains=$(( $(grep -oP '[a-z_]+=\K[0-9]+' <<<"${chains#*:}" | paste -sd+ | sed 's/^$/0/') ))
# Two bad frames (the card refuses their headers) and five malformed chains
# (the zero-length descriptor is one since the virtqueue drops it as
# bad_desc, as virtq.h says: found by fuzzing).
check_vm bad "the card survived and counted all 7: 2 bad frames, ${n_chains} chains dropped (${chains:-no counters})" \
	test "${chains%%,*}" = 2 -a "$n_chains" = 5

# ---- 6. tshark decodes what the cards put on lo ----------------------------
if [ -n "$have_tshark" ]; then
	sleep 0.5       # the last datagrams reach the capture
	kill -INT "$CAPTURE"
	wait "$CAPTURE"
	CAPTURE=
	decode=(-d "udp.port==$P_VX_A,vxlan" -d "udp.port==$P_VX_B,vxlan"
		-d "udp.port==$P_GN_A,geneve" -d "udp.port==$P_GN_B,geneve")
	# count FILTER: matching packets, or "error" when tshark refused it.
	count() {
		tshark -r "$TMP/underlay.pcapng" "${decode[@]}" -Y "$1" >"$TMP/count.out" \
			2>"$TMP/count.err" && wc -l <"$TMP/count.out" ||
			{ echo error; sed 's/^/# tshark: /' "$TMP/count.err" >&2; }
	}
	n_vx=$(count "vxlan && vxlan.vni == 7 && udp.payload && ip.dst == 127.0.0.1 && (ip.src == $IP_A || ip.src == $IP_B) && udp")
	n_vx_all=$(count vxlan)
	n_gn=$(count "geneve && geneve.vni == 4242 && geneve.version == 0 && geneve.proto_type == 0x6558 && udp")
	n_gn_all=$(count geneve)
	# Expert severity warning (PI_WARN) and up, or a malformed packet.
	n_bad=$(count '_ws.malformed || _ws.expert.severity >= "warning"')
	n_all=$(count udp)
	check "tshark: all $n_vx_all VXLAN datagrams carry VNI 7 (expected 20)" \
		test "$n_vx" = 20 -a "$n_vx_all" = 20
	check "tshark: all $n_gn_all Geneve datagrams are version 0, VNI 4242, Ethernet (expected 20)" \
		test "$n_gn" = 20 -a "$n_gn_all" = 20
	check "tshark: none of the $n_all captured datagrams is malformed" test "$n_bad" = 0 -a "$n_all" = 40
else
	skip "tshark decodes our VXLAN and Geneve" "tshark is not installed or cannot capture on lo"
fi

# ---- 4. a Linux kernel vxlan device as the far end -------------------------
what="the guest pings a Linux kernel vxlan device through its card"
if ! command -v ip >/dev/null; then
	skip "$what" "iproute2 is not installed"
	exit 0
fi
if ! veth_netns_pair "$NS_A" "$NS_B" "$VETH_A" "$VETH_B" "$UNDER_A/29" "$UNDER_B/29" \
	"$UNDER_X/29" 2>"$TMP/netns.err"; then
	skip "$what" "cannot set up two network namespaces and a veth pair: $(tail -n1 "$TMP/netns.err")"
	exit 0
fi
P_K=$(tests/tools/free_port.py udp)
ROUTER_MAC=02:c7:00:00:2a:01    # VNI 42, as the card makes it
MAC_A=02:00:0a:00:01:0a
if ! ip -n "$NS_B" link add vx0 type vxlan id 42 dstport "$P_K" remote "$UNDER_A" \
	local "$UNDER_B" dev "$VETH_B" 2>>"$TMP/netns.err"; then
	skip "$what" "no kernel vxlan device: $(tail -n1 "$TMP/netns.err")"
	exit 0
fi
# vx0 is the VPC router to the card (the frames the card sends are
# addressed to that MAC), and the guest's MAC is known: the kernel would
# ARP for it, and the card relays no ARP.
ip -n "$NS_B" link set vx0 address "$ROUTER_MAC"
ip -n "$NS_B" addr add "$IP_K/24" dev vx0
ip -n "$NS_B" link set vx0 up
ip -n "$NS_B" neigh add "$IP_A" lladdr "$MAC_A" dev vx0 nud permanent
echo "42 $IP_K $UNDER_B:$P_K vxlan" >"$TMP/kernel.map"
tshark_k=
if [ -n "$have_tshark" ]; then
	ip netns exec "$NS_A" timeout 300 tshark -i "$VETH_A" -f udp -w "$TMP/kernel.pcapng" -q \
		>"$TMP/tshark_k.out" 2>&1 &
	CAPTURE=$!
	for _ in $(seq 300); do
		grep -q 'Capturing on' "$TMP/tshark_k.out" && { tshark_k=1; break; }
		sleep 0.1
	done
fi
vm_start kernel ip netns exec "$NS_A" -- "${GUEST[@]}" --cmdline "net-ping host=$IP_K count=4" \
	--nic "subnet=$SUBNET,ip=$IP_A,mac=$MAC_A,vni=42,underlay=$UNDER_A:$P_K,mapping=$TMP/kernel.map"
vm_wait kernel
expect kernel "$what: 4 echo requests, 4 replies from the kernel" \
	"^cvguest: net ping host=$IP_K size=56 sent=4 received=4 "
check_vm kernel "the card encapsulated 4 and took 4 back from the kernel's vxlan ($UNDER_B)" \
	test "$(num kernel encapsulated)" = 4 -a "$(num kernel "from underlay")" = 4 \
	-a "$(num kernel underlay_spoof=)" = 0
# The same host, but the mapping table says $IP_K lives at $UNDER_X: the
# kernel answers from $UNDER_B, which does not own $IP_K, and the card
# must drop every answer.
echo "42 $IP_K $UNDER_X:$P_K vxlan" >"$TMP/spoof.map"
vm_start spoof ip netns exec "$NS_A" -- "${GUEST[@]}" --cmdline "net-ping host=$IP_K count=2" \
	--nic "subnet=$SUBNET,ip=$IP_A,mac=$MAC_A,vni=42,underlay=$UNDER_A:$P_K,mapping=$TMP/spoof.map"
vm_wait spoof
expect spoof "answers from an underlay host that does not own $IP_K never reach the guest" \
	"^cvguest: net ping host=$IP_K size=56 sent=2 received=0 "
check_vm spoof "the card counted both as underlay_spoof" \
	test "$(num spoof "from underlay")" = 2 -a "$(num spoof underlay_spoof=)" = 2
if [ -n "$tshark_k" ]; then
	sleep 0.5
	kill -INT "$CAPTURE"
	wait "$CAPTURE"
	CAPTURE=
	n_k=$(tshark -r "$TMP/kernel.pcapng" -d "udp.port==$P_K,vxlan" \
		-Y "vxlan.vni == 42 && ip.src == $UNDER_B && icmp.type == 0 && ip.dst == $IP_A" 2>/dev/null | wc -l)
	n_kbad=$(tshark -r "$TMP/kernel.pcapng" -d "udp.port==$P_K,vxlan" \
		-Y '_ws.malformed || _ws.expert.severity >= "warning"' 2>/dev/null | wc -l)
	check "tshark: the kernel's 6 echo replies are VXLAN VNI 42, nothing malformed" \
		test "$n_k" = 6 -a "$n_kbad" = 0
else
	skip "tshark decodes the kernel's VXLAN" "tshark is not installed or cannot capture"
fi

# Under SAN=1 builds: no process of any VM above reported a sanitizer error.
san=$(grep -lE 'runtime error:|AddressSanitizer|LeakSanitizer' "$TMP"/*.out 2>/dev/null)
check "no hypervisor or card reported a sanitizer error${san:+ (see ${san//$TMP\//})}" test -z "$san"
