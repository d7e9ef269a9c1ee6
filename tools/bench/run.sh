#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: every benchmark of docs/benchmarks.md, each a ratio against a
# baseline measured in the same run on the same machine.  Nothing here
# passes or fails on a number: the exit status says only whether every
# benchmark ran.
#
# usage: tools/bench/run.sh [BUILD]
set -u

BUILD=${1:-build}
here=$(dirname "$0")

# The KVM backend: kvm_intel, kvm_amd, or a software one such as kvm_pvm.
kvm=$(find /sys/module -maxdepth 1 -name 'kvm_*' -printf '%f\n' 2>/dev/null | sort | paste -sd, -)
[ -c /dev/kvm ] || kvm=
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
virt=hardware
grep -qwE 'vmx|svm' /proc/cpuinfo || virt="software (no vmx/svm in /proc/cpuinfo)"

echo "cardvisor benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) CPUs ($cpu), $(uname -r), KVM: ${kvm:-none}, $virt"
echo

status=0
"$here/storage.sh" "$BUILD" || status=1
echo
"$here/nvmf_tls.sh" "$BUILD" || status=1
echo
"$here/boot.sh" "$BUILD" || status=1
echo
"$here/boot_nested.sh" "$BUILD" || status=1
echo
"$here/vblk_qemu.sh" "$BUILD" || status=1
# docs/benchmarks.md "Network": run once its script is in the tree.
if [ -x "$here/network.sh" ]; then
	echo
	"$here/network.sh" "$BUILD" || status=1
fi
exit "$status"
