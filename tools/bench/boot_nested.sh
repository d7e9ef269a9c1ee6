#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot times on a real KVM (docs/benchmarks.md, "Booting Linux"): cv-hv
# against QEMU with -accel kvm, -M microvm and -M q35, each with its own
# minimal devices, booting the same Debian kernel (bzImage) and busybox
# initramfs (its /init powers off at once), 2 vCPUs, 512 MiB.  All three
# run on kvm_amd inside the nested-KVM outer guest (tests/nested/), on every
# machine: under TCG absolute times mean nothing, the ratios do.  Each
# figure is the median of 3 runs, milestones in ms from the launch, taken
# inside the outer guest as each console line arrives.  Nothing is judged.
#
# usage: tools/bench/boot_nested.sh [BUILD]
set -u

BUILD=${1:-${BUILD:-build}}
BOOT_DIR=$BUILD/boot
here=$(dirname "$0")
top=$here/../..
# shellcheck source=tests/nested/lib.sh
. "$top/tests/nested/lib.sh"

if [ -z "$(nested_qemu)" ]; then
	echo "booting Linux: not measured, qemu-system-x86_64 is missing (make deps)"
	exit 0
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cv-bench-nested.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
# prepare COMMAND...: or say why nothing is measured.
prepare() {
	"$@" 2>"$TMP/err" && return 0
	echo "booting Linux: not measured, $(tail -n1 "$TMP/err")"
	exit 0
}
prepare "$top/tests/boot/fetch-kernel.sh" "$BOOT_DIR"
prepare env WITH_QEMU=1 "$top/tests/nested/make-outer.sh" "$BUILD" "$BOOT_DIR" "$TMP/outer.cpio"

nested_boot "$TMP/outer.cpio" bench 1200 "$TMP/console" "file:$TMP/data" >/dev/null 2>&1
if ! grep -aq '^cvnested: kvm ' "$TMP/data"; then
	echo "booting Linux: not measured, the outer guest has no KVM:" \
		"$(grep -a -m1 '^cvnested: nokvm' "$TMP/data" || tail -n 3 "$TMP/console")"
	exit 0
fi
python3 - "$TMP/data" <<'PY'
import re, statistics, sys

# One section per run: "cvnested: begin bench-VMM-N", lines "SECONDS text".
runs, name = {}, None
for raw in open(sys.argv[1], 'rb'):
    line = raw.decode(errors='replace').rstrip('\r\n')
    m = re.match(r'cvnested: begin bench-(\w+)-\d+$', line)
    if m:
        name, t = m.group(1), {}
        continue
    if line.startswith('cvnested: end ') and name:
        runs.setdefault(name, []).append(t)
        name = None
        continue
    m = re.match(r'([0-9]+\.[0-9]+) (.*)$', line)
    if not name or not m:
        continue
    s, text = float(m.group(1)), m.group(2).rstrip('\r')
    marks = [('launch', r'^cvbench: launch'),
             ('first', r'Linux version [0-9]'),
             ('init', r'Run /init as init process'),
             ('exit', r'^cvbench: exit 0$')]
    for key, rx in marks:
        if key not in t and re.search(rx, text):
            t[key] = s

COLS = [('first', 'first console line'), ('init', '/init'), ('exit', 'powered off, exited')]
def med(vmm, key):
    v = [1000 * (r[key] - r['launch']) for r in runs.get(vmm, []) if key in r and 'launch' in r]
    return statistics.median(v) if v else None

print("booting Linux on a real KVM: kvm_amd nested under QEMU TCG (absolute times")
print("mean nothing under TCG; the ratios do).  Debian's bzImage, busybox initramfs,")
print("2 vCPUs, 512 MiB; ms from launch, median of 3 runs")
print("%-22s %20s %12s %20s" % ('', *[c[1] for c in COLS]))
rows = [('cvhv', 'cv-hv'), ('microvm', 'QEMU -M microvm'), ('q35', 'QEMU -M q35')]
for key, label in rows:
    print("%-22s %20s %12s %20s" % (label, *[
        '%.0f' % med(key, c) if med(key, c) is not None else 'n/a' for c, _ in COLS]))
for key, label in rows[1:]:
    print("%-22s %20s %12s %20s" % ('cv-hv / ' + label.split()[-1], *[
        '%.2fx' % (med('cvhv', c) / med(key, c))
        if med('cvhv', c) and med(key, c) else 'n/a' for c, _ in COLS]))
PY
