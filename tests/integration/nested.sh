#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cv-hv on a real KVM on every machine: QEMU's TCG emulates AMD-V (SVM with
# nested paging), so Debian's kernel booted under it as an "outer guest"
# loads kvm_amd, the upstream KVM of every AMD host, and cardvisor runs
# inside that guest as it would on hardware (docs/kvm-hosts.md).  The outer
# guest's initramfs (tests/nested/make-outer.sh) carries this build's
# binaries, ASan ones under `make asan`; tests/nested/scenarios.sh runs the
# VMs in there and sends back what each printed, and this script checks it:
#   testguest  the test guest with 1 and 2 vCPUs, NVMe through cv-ebs and
#              cv-storaged, DHCP/ping/metadata through cv-vpc
#   linux      Debian's kernel, 2 vCPUs, --nic and --volume: every /init
#              check of the boot test (PVH vmlinux), then a second boot on
#              the same volume (bzImage) that finds the file intact
#   lifecycle  pause/resume and a graceful `cardvisor stop` of a running Linux;
#              a detached test guest (run -d, logs, wait, rm); a boot volume;
#              the fleet on one host (etcd, the agent, run --fleet, timed),
#              then two agents and two guests pinging by etcd's mappings
#              (an etcd member killed mid-run), and a host lost under a VM
#              whose volume --force-detach gives a VM on the other host
#   reboot     reboot inside Linux (FADT reset register and i8042) ends the VM
#   cardkill   cv-ebs ended by its seccomp filter while Linux writes to its volume
# Intel VT-x cannot be had this way (TCG emulates SVM only).  Without
# qemu-system-x86_64, or where its TCG offers no SVM, every check is one
# SKIP line naming why.
#   NESTED_GROUPS   comma-separated groups to run (default: all)
#   NESTED_TIMEOUT  limit for the whole outer guest (default 1500 s)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../boot/lib.sh"
. "$(dirname "$0")/../nested/lib.sh"

NESTED_TIMEOUT=${NESTED_TIMEOUT:-1500}
groups=${NESTED_GROUPS:-testguest,linux,lifecycle,reboot,cardkill}
what="cv-hv on kvm_amd nested under QEMU TCG"
nested_prepare "$what"
nested_run "$what" "$TMP/outer.cpio" "$groups" "$NESTED_TIMEOUT" nested || exit 0

want() { [[ ",$groups," == *",$1,"* ]]; }

# --- the test guest -----------------------------------------------------------
if want testguest; then
	if ran tg1; then
		expect tg1 "test guest, 1 vCPU: cv-hv finds a hardware KVM and needs no quirk" \
			'vm: hardware KVM, quirks: none'
		expect tg1 "test guest, 1 vCPU: PVH boot with the command line" \
			'^cvguest: boot pvh magic=ok cmdline="hello world"'
		expect tg1 "test guest, 1 vCPU: LAPIC timer interrupts arrive" '^cvguest: lapic timer ok'
		expect tg1 "test guest, 1 vCPU: result pass" '^cvguest: result pass'
		expect_rc tg1 "test guest, 1 vCPU: powers off, exit status 0" 0
	fi
	if ran tg2; then
		expect tg2 "test guest, 2 vCPUs: the AP comes online" '^cvguest: smp 2/2 cpus online'
		expect tg2 "test guest, 2 vCPUs: result pass" '^cvguest: result pass'
		expect_rc tg2 "test guest, 2 vCPUs: exit status 0" 0
	fi
	if ran tgnvme; then
		expect tgnvme "test guest NVMe: the cv-ebs controller over vfio-user" \
			'nvme ctrl model="cardvisor Elastic Block Store"'
		expect tgnvme "test guest NVMe: shadow doorbells on" '^cvguest: nvme dbbuf on'
		expect tgnvme "test guest NVMe: every block written through NVMe/TCP reads back" \
			'^cvguest: nvme verify ok blocks=2048'
		expect_rc tgnvme "test guest NVMe: exit status 0" 0
	fi
	if ran tgrand; then
		expect tgrand "test guest NVMe: random I/O at QD 32 on 2 queues, reads verified" \
			'^cvguest: nvme-rand done ops=4000 .*verified=[1-9]'
		expect_rc tgrand "test guest NVMe random I/O: exit status 0" 0
	fi
	if ran tgnet; then
		expect tgnet "test guest network: DHCP lease from cv-vpc" \
			'^cvguest: net dhcp ip=10\.0\.1\.[0-9]+ gw=10\.0\.1\.1 .*mtu=1450'
		expect tgnet "test guest network: every gateway ping answered" \
			'^cvguest: net ping host=10\.0\.1\.1 size=56 sent=4 received=4 '
		expect tgnet "test guest network: instance id from the metadata service" \
			"^cvguest: net imds instance-id=$(grep -oP 'instance \Ki-[0-9a-f]+' "$TMP/tgnet.out" | head -n1)\$"
		expect_rc tgnet "test guest network: exit status 0" 0
	fi
	if ran tgvblk; then
		expect tgvblk "test guest virtio-blk: cv-hv's virtio-blk function, configuration from cv-ebs (64 MiB, 4 KiB blocks)" \
			'^cvguest: vblk device 00:[0-9a-f]+\.0 capacity=131072 sectors blk_size=4096 '
		expect tgvblk "test guest virtio-blk: GET_ID answers the volume id" \
			"^cvguest: vblk serial \"$(grep -aoP 'volume \Kvol-[0-9a-f]+(?= \()' "$TMP/tgvblk.out" | head -n1 | tr -d -)\" status=0"
		expect tgvblk "test guest virtio-blk: 1024 blocks written through NVMe/TCP" '^cvguest: vblk write ok blocks=1024'
		expect tgvblk "test guest virtio-blk: FLUSH passes" '^cvguest: vblk flush ok status=0'
		expect tgvblk "test guest virtio-blk: every block reads back as written" '^cvguest: vblk read ok blocks=1024'
		expect tgvblk "test guest virtio-blk: a read past the capacity fails with IOERR" \
			'^cvguest: vblk past-end read status=1 ok'
		expect_rc tgvblk "test guest virtio-blk: exit status 0" 0
	fi
fi

# --- Debian's kernel with its cards -------------------------------------------
# linux_boot_checks NAME KERNEL DISK-CHECKS...: a stock boot's own checks.
linux_checks() {
	local name=$1 how=$2 vol ip iid
	expect "$name" "$how: cv-hv on a hardware KVM, no quirks" 'vm: hardware KVM, quirks: none'
	expect "$name" "$how: Linux user space runs (/init)" '^cvboot: init reached'
	expect "$name" "$how: /init sees 2 CPUs" '^cvboot: cpus=2'
	vol=$(grep -aoP 'volume \Kvol-[0-9a-f]+(?= \()' "$TMP/$name.out" | head -n1)
	ip=$(grep -aoP 'nic eni-[0-9a-f]+ \(\K[0-9.]+(?= in )' "$TMP/$name.out" | head -n1)
	iid=$(grep -aoP 'instance \Ki-[0-9a-f]+(?= started)' "$TMP/$name.out" | head -n1)
	cvboot_net_checks "$name" "$ip" 10.0.1.1 "$iid"
	expect "$name" "$how: the volume is served by Linux's own nvme driver" \
		'nvme nvme0: [0-9]+/0/0 default/read/poll queues'
	cvboot_check "$name" disk "$how: the guest finds its volume as nvme0n1, serial ${vol/-/}" \
		"^nvme0n1 [0-9]+ MiB serial=${vol/-/}\$"
	expect_rc "$name" "$how: powers off, exit status 0" 0
	expect "$name" "$how: cv-hv saw the ACPI power-off" 'guest powered off \(ACPI S5\)'
	check "$how: the cards logged no error (Linux's controller shutdown flushed)" \
		bash -c "! grep -aE '(cv-ebs|cv-vpc): error: ' '$TMP/$name.out'"
}
if want linux; then
	if ran pvh; then
		linux_checks pvh "stock kernel (PVH vmlinux)"
		for c in mkfs write readback; do
			cvboot_check pvh "$c" "stock kernel (PVH vmlinux): $c on the cv-ebs volume" \
				"$([ $c = readback ] && echo "sha256=$(cvboot_sha256)\$" || echo .)"
		done
	fi
	if ran bz; then
		linux_checks bz "stock kernel (bzImage), second boot"
		cvboot_check bz persisted \
			"second boot, new VM and cards, same volume: the file the first boot wrote is intact" \
			"sha256=$(cvboot_sha256)\$"
	fi
	if ran vda; then
		vol=$(grep -aoP 'volume \Kvol-[0-9a-f]+(?= \()' "$TMP/vda.out" | head -n1)
		expect vda "virtio-blk face: cv-hv plugged a virtio-blk function for cv-ebs" \
			'virtio-blk@[0-9a-f:.]+: back-end .*, 2 queues'
		cvboot_check vda disk "virtio-blk face: Linux's virtio_blk finds the volume as vda, serial ${vol/-/}" \
			"^vda [0-9]+ MiB serial=${vol/-/}\$"
		cvboot_check vda persisted \
			"virtio-blk face, third boot, same volume: the file the NVMe boots wrote is intact" \
			"sha256=$(cvboot_sha256)\$"
		expect_rc vda "virtio-blk face: powers off, exit status 0" 0
	fi
fi

# --- lifecycle of a Linux guest -------------------------------------------------
if want lifecycle; then
	if ran life; then
		check "Linux guest: cardvisor pause answers 'paused'" said life 'pause rc=0 .* paused'
		check "Linux guest: status of the paused VM says so, with each vCPU's RIP" \
			said life 'status rc=0 .*"state":"paused".*"vcpu_rip"'
		check "Linux guest: status of the paused VM in libvirt's words: paused, by the user" \
			said life 'status rc=0 .*"state_reason": *"requested".*"libvirt": *\{ *"state": *3, *"state_name": *"VIR_DOMAIN_PAUSED", *"reason": *1, *"reason_name": *"VIR_DOMAIN_PAUSED_USER"'
		check "Linux guest: status after resume: running, unpaused (libvirt's VIR_DOMAIN_RUNNING_UNPAUSED)" \
			said life 'status rc=0 .*"state": *"running", *"state_reason": *"resumed".*"libvirt": *\{ *"state": *1, *"state_name": *"VIR_DOMAIN_RUNNING", *"reason": *5,'
		check "Linux guest: no guest progress while paused" \
			bash -c "grep -qE '^cvnested: life: ticks while paused: before=([0-9]+) after=\\1\$' '$TMP/life.out'"
		check "Linux guest: it runs again after cardvisor resume" said life 'ticking again after resume'
		check "Linux guest: cardvisor stop (Ctrl+Alt+Del) answers 'stopped'" said life 'stop rc=0 .* stopped'
		expect life "Linux guest: the stop reached Linux's init, which shut down gracefully" \
			'^cvboot: ctrl-alt-del: shutting down'
		expect life "Linux guest: it powered off by itself, not forced" \
			'stopped \(guest powered off \(ACPI S5\)\), exit status 0'
		expect_rc life "Linux guest: cardvisor run exits 0 after the stop" 0
	fi
	if ran detach; then
		check "detached test guest: run -d exits 0 with the instance id" \
			said detach 'run -d rc=0 id=i-[0-9a-f]+$'
		check "detached test guest: cardvisor ps lists it running" said detach 'ps: i-[0-9a-f]+ running'
		check "detached test guest: cardvisor ps --json has it, running" \
			said detach 'ps --json: \[\{"id": *"i-[0-9a-f]+", *"state": *"running"'
		check "detached test guest: ps --json in libvirt's words too: running, booted" \
			said detach 'ps --json: .*"state_reason": *"booted".*"libvirt": *\{ *"state": *1, *"state_name": *"VIR_DOMAIN_RUNNING", *"reason": *1, *"reason_name": *"VIR_DOMAIN_RUNNING_BOOTED" *\}'
		check "cardvisor status has the counters of both cards (cv-ebs, cv-vpc), by query" \
			said detach 'status "cards":\[\{"ok":true,"card":"cv-ebs".*\{"ok":true,"card":"cv-vpc"'
		check "cv-hv hardened itself: no_new_privs, no core file (tools/lib/harden.h)" \
			said detach 'cv-hv NoNewPrivs=1 core=0$'
		for p in cv-hv cv-ebs cv-vpc; do
			check "$p runs under its seccomp allow-list (tools/lib/syscall_filter.h)" \
				said detach "$p Seccomp=2\$"
		done
		for p in cv-hv cv-ebs cv-vpc; do
			check "$p runs in its jail: a uid of the jail range, a mount namespace of its own (tools/lib/jail.h)" \
				said detach "$p jail uid=1879[0-9]{6} mnt=own\$"
		done
		check "detached test guest: wait --timeout 1 while it runs: exit status 124" \
			said detach 'wait --timeout 1 rc=124$'
		check "detached test guest: rm while it runs is refused" said detach 'rm while running rc=1$'
		check "detached test guest: wait after stop: the guest's exit status 0" said detach 'wait rc=0$'
		check "detached test guest: logs has its console to the end" \
			said detach 'console: cvguest: shutdown requested'
		check "detached test guest: logs --system has cv-hv's stop" \
			said detach 'system: .*stopped \(guest powered off'
		check "detached test guest: rm forgets it" said detach 'rm rc=0 record gone$'
		check "run -d --json prints the id and the record's directory" \
			said detach 'run -d --json rc=0 \{"id":"i-[0-9a-f]+","record":"/var/lib/cardvisor/instances/i-[0-9a-f]+"\}$'
		check "a detached guest that powers off at once: wait gives 0" said detach 'json wait rc=0$'
	fi
	if ran rootvol; then
		check "boot volume: volume import of an ext4 root file system (mke2fs -d) prints its id" \
			said rootvol 'import rc=0 id=vol-[0-9a-f]+$'
		check "boot volume: run -d --volume id=...,boot, then wait: the guest's exit status 0" \
			said rootvol 'boot 1: wait rc=0$'
		check "boot volume: Linux mounted the volume as / itself (no initramfs), read-write" \
			said rootvol 'boot 1: cvroot: / is /dev/root ext4 rw'
		check "boot volume: cardvisor put root=/dev/nvme0n1 rootwait rw devtmpfs.mount=1 on the command line" \
			said rootvol 'boot 1: cvroot: cmdline console=ttyS0 panic=-1 root=/dev/nvme0n1 rootwait rw devtmpfs.mount=1'
		# At least 2: a boot retried after a triple fault may have counted itself.
		check "boot volume: a second VM boots the same volume and finds what the first wrote" \
			said rootvol 'boot 2: cvroot: boots=([2-9]|[1-9][0-9])$'
	fi
	# The fleet scenario runs where make deps installed etcd (make-outer.sh copies it).
	if ! command -v etcd >/dev/null; then
		skip "the fleet on the outer guest's KVM" "etcd is not installed (make deps)"
	elif ran fleet; then
		check "fleet: the outer guest's agent registers its host with what it offers" \
			said fleet 'host ls: outer 0/2 0M/1024M 127\.0\.0\.1$'
		for n in 1 2 3; do
			check "fleet: run --fleet $n returns 0 once the host's agent started the test guest" \
				said fleet "fleet $n: rc=0 ms=[0-9]+\$"
			check "fleet: the same guest run -d directly, $n, returns 0" \
				said fleet "direct $n: rc=0 ms=[0-9]+\$"
		done
		check "fleet: each launch ran to its end on the host: ps --fleet says stopped, three times" \
			test "$(grep -cE '^cvnested: fleet: ps --fleet: i-[0-9a-f]+ outer stopped 1 64M' "$TMP/fleet.out")" = 3
		check "fleet: the host keeps its console under the fleet's id (cardvisor logs ID)" \
			said fleet 'logs 1: cvguest: '
		check "fleet: the capacity the launches took is back" said fleet 'host ls after: outer 0/2 0M/1024M 127\.0\.0\.1$'
		check "fleet: the agent ends on SIGTERM with status 0" said fleet 'agent exit rc=0$'
		# The VPC mapping service: two hosts' agents (h2 and outer), two
		# test guests of one subnet, B pinging A.
		check "fleet-vpc: two ENIs of one subnet are spread to the two hosts" \
			bash -c "grep -qE '^cvnested: fleet: vpc a: rc=0 i-[0-9a-f]+ h2 running ' '$TMP/fleet.out' &&
				 grep -qE '^cvnested: fleet: vpc b: rc=0 i-[0-9a-f]+ outer running ' '$TMP/fleet.out'"
		check "fleet-vpc: each running ENI's mapping is in etcd" said fleet 'mappings while both run: 2$'
		# vpc_num WHO COUNTER: a counter of the "vpc WHO:" line (0 if none).
		vpc_num() {
			local n
			n=$(sed -n "s/^cvnested: fleet: vpc $1:.* $2=\([0-9]*\).*/\1/p" "$TMP/fleet.out" | head -n1)
			echo "${n:-0}"
		}
		check "fleet-vpc: B's pings reach A on the other host over VXLAN, by etcd's mappings alone ($(grep -m1 -o 'vpc b-pinging:.*' "$TMP/fleet.out"))" \
			test "$(($(vpc_num b-pinging delivered) - $(vpc_num b-pinging answered)))" -ge 5 -a \
			"$(vpc_num b-pinging underlay_spoof)" = 0
		check "fleet-vpc: B's host reports its status checks passed (ps --fleet: 2/2)" \
			said fleet 'vpc b checks: i-[0-9a-f]+ outer running 1 64M 2/2 '
		check "fleet-vpc: cardvisor status on B's host shows both checks ok" \
			said fleet 'vpc b status checks: "checks":\{"system":\{"status":"ok"\},"instance":\{"status":"ok"\}\}'
		check "fleet-vpc: A's card took B's pings from the underlay" \
			said fleet 'vpc a-pinged: from_underlay=([5-9]|[1-9][0-9]+) '
		check "fleet-vpc: A stopped, its mapping leaves etcd" \
			said fleet 'vpc a stopped: i-[0-9a-f]+ h2 stopped .*; mappings: 1$'
		check "fleet-vpc: then B's card drops B's pings and counts them no_route ($(vpc_num b-pinging no_route) -> $(vpc_num b-alone no_route))" \
			test "$(vpc_num b-alone no_route)" -ge "$(($(vpc_num b-pinging no_route) + 3))"
		check "fleet-vpc: B stopped too, no mapping is left" \
			said fleet 'vpc b stopped: i-[0-9a-f]+ outer stopped .*; mappings: 0$'
		check "fleet-vpc: an etcd member killed mid-run, B's pings go on ($(vpc_num b-pinging from_underlay) -> $(vpc_num b-member-killed from_underlay) replies)" \
			test "$(vpc_num b-member-killed from_underlay)" -ge "$(($(vpc_num b-pinging from_underlay) + 5))"
		check "fleet: the killed member comes back" said fleet 'member m0 back: .*is healthy'
		# A host lost under a VM writing to a volume, which --force-detach
		# then gives a VM on the other host.
		check "fleet-volume: a VM on h2 writes to fleetvol through the fleet's attachment" \
			said fleet 'vol w1 writing: completed=[1-9][0-9]{2,} '
		check "fleet-volume: h2's agent killed, its VM is host-lost" \
			said fleet 'vol w1 host lost: i-[0-9a-f]+ h2 host-lost '
		check "fleet-volume: --force-detach places the volume's next VM on the other host" \
			said fleet 'vol w2: rc=0 i-[0-9a-f]+ outer (running|stopped) '
		check "fleet-volume: every block the new owner wrote reads back" \
			said fleet 'vol w2 ended: i-[0-9a-f]+ outer stopped .*cvguest: nvme verify ok blocks=2048'
		check "fleet-volume: the lost host's card, still alive, is refused: its guest's writes fail" \
			said fleet 'vol w1 refused: guest failures=[1-9][0-9]*; reconnect refused for good'
		check "fleet-volume: the volume keeps epoch 2, detached" said fleet 'vol after: \{"epoch":2\}$'
		# The figures docs/fleet.md reports: launch to running, in ms.
		echo "# fleet: through placement $(sed -n 's/^cvnested: fleet: fleet [0-9]: rc=0 ms=//p' "$TMP/fleet.out" | tr '\n' ' ')ms; direct run -d $(sed -n 's/^cvnested: fleet: direct [0-9]: rc=0 ms=//p' "$TMP/fleet.out" | tr '\n' ' ')ms"
	fi
fi
if want reboot; then
	if ran reboot; then
		expect reboot "reboot inside Linux (its default here: BIOS restart through the reset vector) ends the VM" \
			'guest reset through the ACPI reset register: reboot ends the VM'
		expect_rc reboot "reboot inside Linux: exit status 0" 0
	fi
	if ran rebootk; then
		expect rebootk "reboot inside Linux with reboot=k (the i8042 reset line) ends the VM" \
			'guest reset through the i8042: reboot ends the VM'
		expect_rc rebootk "reboot=k: exit status 0" 0
	fi
fi
if want cardkill; then
	if ran cardkill; then
		check "cv-ebs got the seccomp probe while Linux wrote to its volume, unanswered" \
			said cardkill 'seccomp probe to cv-ebs: ctl_call rc=1$'
		expect cardkill "the system call outside cv-ebs's allow-list ended it, its log naming the call" \
			'cv-ebs: error: seccomp: system call [0-9]+ outside its allow-list'
		expect cardkill "cardvisor reports the card's death by SIGSYS as a seccomp violation" \
			'cv-ebs .* died of signal Bad system call: a system call outside its seccomp allow-list'
		expect cardkill "cardvisor saw the card die and started it again" \
			'system check failed: restarting cv-ebs'
		expect cardkill "cv-hv reconnected to the new card and replayed its config space" \
			'vfio-user: .* card at .* is back: config replayed'
		expect cardkill "Linux's nvme driver reset the controller" 'nvme nvme0: .*reset'
		cvboot_check cardkill io "and every file Linux wrote reads back intact, no I/O error"
		expect_rc cardkill "Linux powers off normally after the card restart" 0
	fi
fi
