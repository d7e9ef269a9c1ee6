#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The front door: every mistyped command, option or value gets exit status
# 1, nothing on standard output and one line on standard error that names
# what is wrong, before anything is started (no run directory, no card,
# no cv-hv).  cli_errors.sh covers the mistakes only cv-hv can see (a
# kernel file that is not one, a command line too long for it).
. "$(dirname "$0")/lib.sh"

export CARDVISOR_STATE=$TMP/state
unset CARDVISOR_ETCD
ID=i-0123456789abcdef0
TG=$TESTGUEST
printf 'x\n' >"$TMP/file"

# mistake REGEX ARGS...: `cardvisor ARGS` is refused as described above,
# its one line matching REGEX.
mistake() {
	local re=$1 out err rc lines
	shift
	out=$(timeout 30 "$CARDVISOR" "$@" </dev/null 2>"$TMP/err")
	rc=$?
	err=$(cat "$TMP/err")
	lines=$(grep -c . "$TMP/err")
	if [ "$rc" = 1 ] && [ -z "$out" ] && [ "$lines" = 1 ] && grep -qE -- "$re" "$TMP/err"; then
		ok "cardvisor $*: refused in one line naming it"
	else
		not_ok "cardvisor $*: refused in one line naming it (exit $rc, $lines lines, want /$re/)"
		printf '%s\n' "$err" | head -n 5 | sed 's/^/#   stderr: /'
		[ -n "$out" ] && printf '%s\n' "$out" | head -n 3 | sed 's/^/#   stdout: /'
	fi
}

mistake 'unknown command "bogus"'                   bogus
mistake 'unknown command "--bogus"'                 --bogus
mistake 'cardvisor ps: unrecognized option .--bogus' ps --bogus
mistake 'cardvisor ps: unexpected argument "extra"' ps extra
mistake 'usage: cardvisor status ID'                status
mistake 'cardvisor status: unrecognized option'     status --bogus $ID
mistake '"notanid" is not an instance id'           status notanid
mistake 'not running'                               status $ID
mistake '--timeout -1: expected 0..86400'           stop --timeout -1 $ID
mistake '--timeout x: expected 0..86400'            stop --timeout x $ID
mistake 'cardvisor stop: unrecognized option .--bogus' stop --force --bogus $ID
mistake 'usage: cardvisor pause ID'                 pause
mistake 'usage: cardvisor resume ID'                resume a b
mistake 'usage: cardvisor console ID'               console
mistake '--action explode: expected terminate, stop or hibernate' interrupt $ID --action explode
mistake '--in soon: expected 0..86400'              interrupt $ID --in soon
mistake 'status: --force and --timeout go with stop, --fleet with stop and status' status --force $ID
mistake 'pause: --force and --timeout go with stop, --fleet with stop and status' pause --fleet $ID
mistake 'usage: cardvisor status --fleet ID'        status --etcd http://127.0.0.1:1 $ID
mistake 'force-detach go with --fleet'               run --force-detach --guest "$TG"
mistake 'fleet numbers attachments itself: no epoch=' run --fleet --etcd http://127.0.0.1:1 --guest "$TG" --volume id=v1,epoch=2
mistake 'usage: cardvisor rm --fleet \[--force\]'    rm --force $ID
mistake 'usage: cardvisor rm --fleet \[--force\]'    rm --fleet
mistake 'epoch=0: 1 or more'                        run --guest "$TG" --volume size=1G,epoch=0
mistake '--etcd and --force-detach go with --fleet' run --etcd http://127.0.0.1:1 --guest "$TG"
mistake 'no etcd: give --etcd URL'                  run --fleet --guest "$TG"
mistake '--etcd ftp://x: expected http://HOST:PORT' run --fleet --etcd ftp://x --guest "$TG"
mistake '--id i-xyz: expected i- and hex digits'     run --id i-xyz --guest "$TG"
mistake 'cardvisor ps: --etcd goes with --fleet'    ps --etcd http://127.0.0.1:1
mistake 'usage: cardvisor stop --fleet ID'          stop --fleet --force $ID
mistake 'usage: cardvisor host serve\|ls'           host
mistake 'host serve: --name "a/b": expected 1 to 63 letters' host serve --name a/b
mistake 'host serve: --ttl 1: expected 2..3600'     host serve --ttl 1
mistake 'host serve: unexpected argument "extra"'   host serve --name h extra
mistake 'host serve: no etcd: give --etcd'          host serve --name h
mistake 'host ls: unexpected argument "extra"'      host ls extra
mistake 'expected a command: create, list, import or export' volume
mistake 'unknown command "bogus" \(create, list, import, export\)' volume bogus
mistake 'usage: cardvisor volume create --size'     volume create
mistake "option '--size' requires an argument"      volume create --size
mistake '--size 12Q: expected a size'               volume create --size 12Q
mistake '--size 1000: expected a size.*multiple of 4096' volume create --size 1000
mistake '"bad/id" is not a volume id'               volume create --size 1G bad/id
mistake 'unexpected argument "extra"'               volume list extra
mistake 'usage: cardvisor volume import FILE'       volume import
mistake 'volume import: /nonexistent: No such file' volume import /nonexistent
mistake 'volume import: /tmp is not a file or a block device' volume import /tmp
mistake '--size 1000: expected a size.*multiple of 4096' volume import --size 1000 "$TMP/file"
mistake '"bad/id" is not a volume id'               volume import "$TMP/file" bad/id
mistake 'usage: cardvisor volume export ID FILE'    volume export vol-x
mistake 'no volume "vol-none"'                      volume export vol-none "$TMP/out"
mistake 'give exactly one of --kernel FILE or --guest FILE' run
mistake "cardvisor run: unrecognized option '--bogus'" run --bogus
mistake "option '--kernel' requires an argument"    run --kernel
mistake 'give exactly one of --kernel FILE or --guest FILE' run --guest "$TG" --kernel "$TG"
mistake '--vcpus 0: expected 1..255'                run --guest "$TG" --vcpus 0
mistake '--vcpus many: expected 1..255'             run --guest "$TG" --vcpus many
mistake '--vcpus 256: expected 1..255'              run --guest "$TG" --vcpus 256
mistake '--mem lots: expected a size'               run --guest "$TG" --mem lots
mistake '--mem 1K: need at least 64M'               run --guest "$TG" --mem 1K
mistake '--mem 65M: need at least 64M, in whole multiples of 2M' run --guest "$TG" --mem 65M
mistake '--volume size=1X: size=1X: expected a size' run --guest "$TG" --volume size=1X
mistake '--volume colour=red: unknown key "colour"' run --guest "$TG" --volume colour=red
mistake '--volume size=1G,boot=yes: boot=yes: boot takes no value' run --kernel "$TMP/file" --volume size=1G,boot=yes
mistake '--volume size=1G,face=scsi: face=scsi: nvme or virtio-blk' run --guest "$TG" --volume size=1G,face=scsi
mistake 'more than one --volume with boot'          run --kernel "$TMP/file" --volume size=1G,boot --volume size=1G,boot
mistake 'a boot volume goes with --kernel'          run --guest "$TG" --volume size=1G,boot
mistake '--cmdline names root= and a --volume has boot' run --kernel "$TMP/file" --cmdline root=/dev/vda --volume size=1G,boot
mistake '--nic subnet=300.0.0.0/24: subnet=300.0.0.0' run --guest "$TG" --nic subnet=300.0.0.0/24
mistake '--nic bogus=1: unknown key "bogus"'        run --guest "$TG" --nic bogus=1
mistake '--console tty:x: expected stdio, file:PATH, socket:PATH or none' run --guest "$TG" --console tty:x
mistake '--console file:: expected stdio'           run --guest "$TG" --console file:
mistake '--initrd goes with --kernel'               run --guest "$TG" --initrd "$TMP/file"
mistake '--kernel /nonexistent: No such file or directory' run --kernel /nonexistent
mistake '--guest /tmp: not a regular file'          run --guest /tmp
mistake '--initrd /nonexistent: No such file'       run --kernel "$TMP/file" --initrd /nonexistent
mistake 'give exactly one of'                       run --guest "$TG" extra
mistake '-d has no terminal for --console stdio'    run -d --guest "$TG" --console stdio
mistake '--json goes with -d'                       run --json --guest "$TG"
mistake 'usage: cardvisor logs'                     logs
mistake "cardvisor logs: invalid option -- 'x'"     logs -x $ID
mistake "no record of $ID"                          logs $ID
mistake '--timeout soon: expected 0..86400'         wait --timeout soon $ID
mistake 'usage: cardvisor rm ID'                    rm a b

# helps ARGS... -- WORDS...: `cardvisor ARGS --help` exits 0, prints a
# synopsis on stdout naming each of WORDS, and nothing on stderr.
helps() {
	local args=() out rc missing=
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	out=$("$CARDVISOR" "${args[@]}" --help 2>"$TMP/err")
	rc=$?
	for w; do grep -qe "$w" <<<"$out" || missing="$missing $w"; done
	if [ "$rc" = 0 ] && [ ! -s "$TMP/err" ] && [[ $out == usage:* ]] && [ -z "$missing" ]; then
		ok "cardvisor ${args[*]} --help: its synopsis, with every option"
	else
		not_ok "cardvisor ${args[*]} --help: its synopsis, with every option (exit $rc, missing:${missing:- none})"
		head -n 3 "$TMP/err" | sed 's/^/#   stderr: /'
	fi
}
helps run -- --kernel --guest --initrd --cmdline --vcpus --mem --console --quirks --type \
	--volume --nic --vfio-user --verbose --seccomp --detach --json face=virtio-blk ',boot' \
	--id --fleet --etcd
helps ps -- --json --fleet --etcd
helps status -- 'status ID'
helps stop -- --force --timeout --fleet
helps pause -- 'pause ID'
helps resume -- 'resume ID'
helps console -- 'console ID'
helps interrupt -- --action --in --cancel
helps volume -- 'volume create' 'volume list' 'volume import' 'volume export'
helps volume create -- --size --dir
helps volume list -- --json
helps volume import -- --size
helps volume export -- 'volume export ID FILE'
helps logs -- --follow --system
helps wait -- --timeout
helps rm -- 'rm ID' --fleet --force
helps host -- 'host serve' 'host ls' --name --vcpus --mem --underlay --ttl --etcd --json
helps host serve -- --name --ttl
helps host ls -- --json

check "no mistake left a run directory behind" bash -c "! ls '$CARDVISOR_RUNDIR' 2>/dev/null | grep -q ."
check "no mistake started a cv-storaged or made a volume" \
	bash -c "! ls '$CARDVISOR_STATE/volumes' 2>/dev/null | grep -q ."
