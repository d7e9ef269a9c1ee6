#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every card and cv-storaged hardens itself before it reads untrusted input
# (tools/lib/harden.h, issue 11): no core dumps, not dumpable (so another
# process of the same uid cannot read its memory, where the volume's XTS key
# schedule lives), every capability dropped, no_new_privs.  Checked on the
# running processes: cv-ebs and cv-vpc of an instance description and the
# cv-storaged that serves its volume.  A control process of the same uid
# that did not harden itself shows the probe can fail.  Then the jail the
# cards enter once set up (tools/lib/jail.h): as root, ids and namespaces
# of their own on an empty root; as another user, a user namespace.  cv-hv's
# side runs in the nested-KVM test (group lifecycle), which has a KVM
# everywhere.
. "$(dirname "$0")/lib.sh"

what="process hardening"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	skip "$what" "needs root and setpriv for a reader without CAP_SYS_PTRACE"
	exit 0
fi
cards_alone_start "$what"
# The control: a process of the same uid, without capabilities like the
# cards (the kernel also refuses a reader fewer capabilities than its
# target), that did not make itself undumpable.
setpriv --inh-caps=-all --bounding-set=-all -- sleep 300 &
pids+=($!)
control=$!
# Until setpriv has become sleep, it is not the process the control is about.
for _ in $(seq 50); do [ "$(cat /proc/$control/comm 2>/dev/null)" = sleep ] && break; sleep 0.1; done

# pid_of NAME: the running NAME started for this test (not the timeout around it).
pid_of() {
	case $1 in
	cv-storaged) cat "$STORAGED_PID" ;;
	control) echo "$control" ;;
	*) pgrep -f "^$BUILD/$1 --instance $TMP/inst.dtb" | head -n1 ;;
	esac
}
field() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"; }
# A reader with root's uid and no capability at all: only what the
# same-uid rules allow.
reader() { setpriv --inh-caps=-all --bounding-set=-all -- "$@"; }
readable() { reader head -c 64 "/proc/$1/environ" >/dev/null 2>&1; }

pid=$(pid_of control)
check "control: a same-uid reader without capabilities reads a dumpable capless process's /proc/PID/environ" \
	readable "$pid"
for name in cv-ebs cv-vpc cv-storaged; do
	pid=$(pid_of $name)
	if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then
		not_ok "$what: $name is running"
		continue
	fi
	check "$name: no_new_privs (NoNewPrivs $(field "$pid" NoNewPrivs))" \
		test "$(field "$pid" NoNewPrivs)" = 1
	check "$name: no capability left, effective or bounding (CapEff $(field "$pid" CapEff), CapBnd $(field "$pid" CapBnd))" \
		test "$(field "$pid" CapEff)$(field "$pid" CapPrm)$(field "$pid" CapBnd)" = \
		"000000000000000000000000000000000000000000000000"
	check "$name: no core file (RLIMIT_CORE 0)" \
		grep -qE '^Max core file size +0 +0 ' "/proc/$pid/limits"
	check "$name: not dumpable: a same-uid reader without CAP_SYS_PTRACE cannot read its memory" \
		bash -c "! { $(declare -f reader readable); readable $pid; }"
done

# The jail (tools/lib/jail.h): each card as a uid of its own, in mount, IPC
# and UTS namespaces of its own (cv-vpc a network one too, cv-ebs the
# host's, to reach its storage node), on an empty root with only /proc.
ns() { readlink "/proc/$1/ns/$2"; }
ids() { awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u ":" g }' "/proc/$1/status"; }
ebs=$(pid_of cv-ebs) vpc=$(pid_of cv-vpc)
for name in cv-ebs cv-vpc; do
	pid=$(pid_of $name)
	# Its sockets exist before it is set up and jailed.
	for _ in $(seq 50); do [ "$(ids "$pid")" != 0:0 ] && break; sleep 0.1; done
	check "$name: runs as a uid and gid of the jail's, not root's ($(ids "$pid"))" \
		test "$(ids "$pid" | cut -d: -f1)" -ge 1879048192
	for n in mnt ipc uts; do
		check "$name: a namespace of its own: $n" test "$(ns "$pid" $n)" != "$(ns $$ $n)"
	done
	check "$name: its root holds /proc alone ($(ls -A "/proc/$pid/root/" | tr '\n' ' '))" \
		test "$(ls -A "/proc/$pid/root/")" = proc
	check "$name: its root is read-only" \
		grep -qE '^[^ ]+ / tmpfs ro,' "/proc/$pid/mounts"
done
check "cv-ebs and cv-vpc run as two uids" test "$(ids "$ebs")" != "$(ids "$vpc")"
# cv-storaged, started by cardvisor for root's store: jailed as the store's
# ids (the range's last), which own the volume files, with its volume
# directory alone in its root, read-write, and a network namespace of its
# own (its listening socket is all it keeps).
sd=$(pid_of cv-storaged)
store_id=$((1879048192 + 65535))
check "cv-storaged: runs as the volume store's ids ($(ids "$sd"))" \
	test "$(ids "$sd")" = "$store_id:$store_id"
check "cv-storaged: the volume files are the store's ($(stat -c %u:%g "$CARDVISOR_STATE/volumes/$vol.vol"))" \
	test "$(stat -c %u:%g "$CARDVISOR_STATE/volumes/$vol.vol")" = "$store_id:$store_id"
for n in mnt ipc uts net; do
	check "cv-storaged: a namespace of its own: $n" test "$(ns "$sd" $n)" != "$(ns $$ $n)"
done
check "cv-storaged: its root holds /proc and the volume directory alone" \
	bash -c "[ \"\$(ls -A /proc/$sd/root/)\" = \"\$(printf 'proc\n%s' \"\$(echo '$CARDVISOR_STATE' | cut -d/ -f2)\")\" ] &&
		 [ -e '/proc/$sd/root$CARDVISOR_STATE/volumes/$vol.vol' ]"
check "cv-storaged: its volume directory is writable, its root read-only" \
	bash -c "grep -qE '^[^ ]+ $CARDVISOR_STATE/volumes [^ ]+ rw,' /proc/$sd/mounts &&
		 grep -qE '^[^ ]+ / tmpfs ro,' /proc/$sd/mounts"
check "cv-vpc: a network namespace of its own (its underlay socket is all it has)" \
	test "$(ns "$vpc" net)" != "$(ns $$ net)"
check "cv-ebs: the host's network namespace (it reconnects to its storage node)" \
	test "$(ns "$ebs" net)" = "$(ns $$ net)"
# as_uid_of PID CMD...: CMD as PID's uid and gid, without capabilities.
as_uid_of() {
	local id
	id=$(ids "$1")
	shift
	setpriv --reuid "${id%:*}" --regid "${id#*:}" --clear-groups --inh-caps=-all \
		--bounding-set=-all -- "$@"
}
check "control: root reads cv-ebs's memory map" bash -c "head -c 64 /proc/$ebs/maps >/dev/null"
check "cv-vpc's uid cannot read cv-ebs's memory (/proc/PID/mem), where its key schedule is" \
	bash -c "! { $(declare -f ids as_uid_of); as_uid_of $vpc head -c 1 /proc/$ebs/mem; } 2>/dev/null"
check "cv-ebs's uid cannot read the volume files" \
	bash -c "! { $(declare -f ids as_uid_of); as_uid_of $ebs head -c 1 '$CARDVISOR_STATE/volumes/$vol.vol'; } 2>/dev/null"
check "cv-vpc's uid cannot list the volume keys" \
	bash -c "! { $(declare -f ids as_uid_of); as_uid_of $vpc ls '$CARDVISOR_STATE/keys'; } 2>/dev/null"
# Not root: a jail in a user namespace that maps the user's own ids (no ids
# of its own).  A cv-vpc of uid 65534, its instance description and
# sockets in a directory of that user's.
user_dir=$(mktemp -d /tmp/cv-user.XXXXXX)
chown 65534:65534 "$user_dir"
"$BUILD/tests/tools/mkinstance" "$user_dir/inst.dtb" --kernel "$TESTGUEST" \
	--nic "$user_dir/vpc.sock,10.0.1.0/24,10.0.1.23,02:00:0a:00:01:17" >/dev/null 2>&1
chmod 0644 "$user_dir/inst.dtb"
as_user() { setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"; }
# Not through as_user: a function in the background is a subshell, whose
# pid a kill would end while its child ran on.
setpriv --reuid 65534 --regid 65534 --clear-groups -- timeout --kill-after=5 60 \
	"$BUILD/cv-vpc" --instance "$user_dir/inst.dtb" --nic eni-0 --jail >"$user_dir/vpc.log" 2>&1 &
user_job=$!
for _ in $(seq 100); do grep -q "jail: " "$user_dir/vpc.log" && break; sleep 0.1; done
upid=$(pgrep -f "^$BUILD/cv-vpc --instance $user_dir/inst.dtb" | head -n1)
check "not root: cv-vpc --jail says it keeps its user's ids, in a user namespace" \
	grep -q "cv-vpc: info: jail: uid 65534 gid 65534 (not root: no ids of its own), own user, mount, IPC, UTS and network namespaces, an empty read-only root" \
	"$user_dir/vpc.log"
for n in user mnt net; do
	check "not root: cv-vpc has a namespace of its own: $n" \
		test -n "$upid" -a "$(ns "$upid" $n)" != "$(ns $$ $n)"
done
check "not root: cv-vpc's root holds /proc alone, read-only" \
	bash -c "[ \"\$(ls -A /proc/$upid/root/)\" = proc ] && grep -qE '^[^ ]+ / tmpfs ro,' /proc/$upid/mounts"
check "not root: cv-vpc has no capability, in its namespace or out (CapEff $(field "$upid" CapEff))" \
	test "$(field "$upid" CapEff)$(field "$upid" CapBnd)" = 00000000000000000000000000000000
r=$("$BUILD/tests/tools/ctl_call" "$user_dir/vpc.sock.ctl" 2>/dev/null)
json_check "not root: the jailed cv-vpc serves (its counters by query)" "$r" "r['ok']"
kill "$user_job" 2>/dev/null
wait "$user_job" 2>/dev/null
refused_ids() { # --jail=UID:GID from a user who cannot switch to them
	as_user "$BUILD/cv-vpc" --instance "$user_dir/inst.dtb" --nic eni-0 \
		--jail=1879048192:1879048192 >"$user_dir/ids.log" 2>&1
	[ $? = 1 ] && grep -q "cv-vpc: error: jail: --jail=1879048192:1879048192 needs root to switch to those ids (running as uid 65534)" \
		"$user_dir/ids.log"
}
check "not root: --jail=UID:GID is refused with one line" refused_ids
rm -rf "$user_dir"
check "cv-ebs's /proc shows processes of its own uid only, and nothing else" \
	grep -qE '^proc /proc proc .*hidepid=invisible,subset=pid' "/proc/$ebs/mounts"

check "the cards are still at work: cv-ebs connected to cv-storaged" \
	grep -q "nvmf .*cntlid" "$TMP/cv-ebs.log"

# The volume key (cards/ebs/main.c, read_key): a file of this uid or root,
# mode 0600, not reached through a symlink; else a card refuses to start,
# naming the key, before it connects anywhere.
key=$CARDVISOR_STATE/keys/$vol.key
key_refused() { # REGEX: a second cv-ebs for the volume exits 1 with a line matching it
	timeout 30 "$BUILD/cv-ebs" --instance "$TMP/inst.dtb" --volume "$vol" >"$TMP/key.log" 2>&1
	[ $? = 1 ] && grep -qE "cv-ebs: error: volume key $key: $1" "$TMP/key.log"
}
if [ -f "$key" ]; then
	chown 65534 "$key"
	# A card without capabilities cannot even open it (EACCES); with them
	# the owner check would refuse it.
	check "a volume key owned by another user is refused" \
		key_refused "(Permission denied|want a file of uid .* it is a file of uid 65534)"
	chown 0 "$key"
	chmod 0640 "$key"
	check "a volume key others may read is refused" key_refused "want .* mode 640"
	chmod 0600 "$key"
	mv "$key" "$TMP/key.real" && ln -s "$TMP/key.real" "$key"
	check "a volume key reached through a symlink is refused" key_refused "Too many levels of symbolic links"
	rm "$key" && mv "$TMP/key.real" "$key"
	check "with the key put back, the running cv-ebs is unharmed and still connected" \
		bash -c "kill -0 $(pid_of cv-ebs) && grep -q 'nvmf .*cntlid' '$TMP/cv-ebs.log'"
else
	not_ok "the volume key is at $key"
fi
