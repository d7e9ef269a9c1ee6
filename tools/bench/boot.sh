#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hypervisor's boot figures (docs/benchmarks.md): how long from typing
# `cardvisor run` until the vCPUs run, the guest's first console line, its
# result and the process exit, for the test guest with an empty command
# line (PCI scan, LAPIC timer, power off), with and without an EBS volume;
# against QEMU booting the same guest the same way in the same run, and a
# no-op process as the floor.  Times are the median of BENCH_BOOT_RUNS
# (default 5); nothing is judged.
#
# usage: tools/bench/boot.sh [BUILD]
set -u

BUILD=${1:-${BUILD:-build}}
RUNS=${BENCH_BOOT_RUNS:-5}
TESTGUEST=$BUILD/guest/cv-testguest.elf

if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "hypervisor: not measured, /dev/kvm is not usable here"
	exit 0
fi

# shellcheck source=tools/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_env boot

"$BUILD/cardvisor" volume create --size 64M bootvol >/dev/null || exit 1

# QEMU runs this guest only with TCG on a software KVM (its KVM path stops
# at the guest's ldmxcsr, which cv-hv's emulate-mxcsr quirk handles).
qemu_accel=tcg
grep -qwE 'vmx|svm' /proc/cpuinfo && qemu_accel=kvm
qemu=()
if command -v qemu-system-x86_64 >/dev/null; then
	# shellcheck disable=SC2054  # the commas are QEMU's, inside one argument
	qemu=(qemu-system-x86_64 -accel "$qemu_accel" -M q35 -m 128 -nodefaults -display none
		-serial stdio -no-reboot -kernel "$TESTGUEST" -append ""
		-device isa-debug-exit,iobase=0x3c0,iosize=1)
fi

echo "hypervisor: the test guest, empty command line (PCI scan, LAPIC timer, power off),"
echo "1 vCPU, 128 MiB; ms from launch, median of $RUNS runs"
python3 - "$RUNS" "$BUILD/cardvisor" "$TESTGUEST" "$qemu_accel" "${qemu[@]}" <<'EOF'
import re, statistics, subprocess, sys, time

runs, cardvisor, guest, accel = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
qemu = sys.argv[5:]
# cv-hv logs "vm ID: N vCPU, ..." just before it starts the vCPU threads;
# its log stamps are CLOCK_MONOTONIC seconds, Python's time.monotonic().
VCPUS = re.compile(rb'^\[\s*([0-9]+\.[0-9]+)\] cv-hv: info: vm \S+: [0-9]+ vCPU')
FIRST = re.compile(rb'^cvguest: ')
RESULT = re.compile(rb'^cvguest: result ')

def launch(argv):
    """Milestones of one run in ms from the launch; None where not seen."""
    t = {}
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    for line in p.stdout:
        now = time.monotonic()
        m = VCPUS.match(line)
        if m and 'vcpus' not in t:
            t['vcpus'] = float(m.group(1))
        if FIRST.match(line) and 'first' not in t:
            t['first'] = now
        if RESULT.match(line) and 'result' not in t:
            t['result'] = now
            if not line.startswith(b'cvguest: result pass'):
                sys.exit('boot bench: %s: %s' % (argv[0], line.decode(errors='replace').strip()))
    p.wait()
    t['exit'] = time.monotonic()
    return {k: (v - t0) * 1e3 for k, v in t.items()}

def series(argv):
    launch(argv)  # warm-up: page cache, a storaged connection
    return [launch(argv) for _ in range(runs)]

def median(rs, key):
    v = [r[key] for r in rs if key in r]
    return statistics.median(v) if v else None

cv = [cardvisor, 'run', '--guest', guest, '--mem', '128M', '--cmdline', '']
rows = [('cardvisor run', series(cv)),
        ('cardvisor run, 1 EBS volume', series(cv + ['--volume', 'id=bootvol,queues=2']))]
if qemu:
    rows.append(('QEMU 7.2, -accel ' + accel, series(qemu)))
rows.append(('no-op process (/bin/true)', series(['/bin/true'])))

keys = ('vcpus', 'first', 'result', 'exit')
fmt = '%-30s %10s %11s %10s %10s'
print(fmt % ('', 'vCPUs run', 'first line', 'result', 'exit'))
for name, rs in rows:
    print(fmt % ((name,) + tuple('-' if median(rs, k) is None else '%.1f' % median(rs, k)
                                 for k in keys)))
if qemu:
    c, q = rows[0][1], rows[2][1]
    print(fmt % (('cardvisor / QEMU', '-') + tuple('%.2fx' % (median(c, k) / median(q, k))
                                                    for k in keys[1:])))
EOF
