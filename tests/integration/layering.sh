#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The house rule of the tree (DEVELOPERS.md, docs/architecture.md): the
# hypervisor and the cards are separate programs that meet only in the
# shared base (tools/lib) and the guest ABI (guest-abi), so neither can
# reach into the other's memory model by accident.  Checked twice: on the
# sources (which rooms a file's #include lines name) and on the binaries
# (no program defines a function of a room it must not link).
. "$(dirname "$0")/lib.sh"

# includes ROOM ALLOWED...: every "..." include of the C files under ROOM
# names a path under one of the ALLOWED rooms; the offenders as
# "file: include" lines otherwise.
includes() {
	local room=$1 bad=
	shift
	local allowed
	allowed=$(printf '%s/|' "$@")
	bad=$(grep -rnoE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+"' \
		--include='*.c' --include='*.h' "$room" |
		grep -vE "\"(${allowed%|})" || true)
	if [ -z "$bad" ]; then
		ok "$room includes only ${*/%//}"
	else
		not_ok "$room includes only ${*/%//}"
		sed 's/^/#   /' <<<"$bad" | head -n 20
	fi
}

includes hv         hv tools/lib guest-abi
includes cards/lib  cards/lib tools/lib guest-abi
includes cards/ebs  cards/ebs cards/lib tools/lib guest-abi
includes cards/vpc  cards/vpc cards/lib tools/lib guest-abi
includes tools/lib  tools/lib guest-abi
includes tools/storaged tools/storaged tools/lib guest-abi
includes guest-abi  guest-abi

# defined LIB: the global functions and data an archive defines.
defined() { nm --defined-only -g "$1" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBR]/ { print $3 }' | sort -u; }

# links_none BINARY LIB...: BINARY defines nothing that one of LIB defines
# (static archives: a member is linked whole, so any of its symbols in
# BINARY means the member came along).
links_none() {
	local bin=$BUILD/$1 lib syms common
	shift
	if [ ! -x "$bin" ]; then
		not_ok "$(basename "$bin") is built ($bin is missing: make)"
		return
	fi
	for lib; do
		syms=$(defined "$BUILD/$lib")
		if [ -z "$syms" ]; then
			not_ok "$(basename "$bin") links no $lib: $BUILD/$lib has no symbols to compare"
			continue
		fi
		common=$(comm -12 <(echo "$syms") <(defined "$bin"))
		if [ -z "$common" ]; then
			ok "$(basename "$bin") links no code of $lib"
		else
			not_ok "$(basename "$bin") links no code of $lib"
			echo "#   shared symbols: $(echo "$common" | head -n 5 | tr '\n' ' ')"
		fi
	done
}

links_none cv-ebs     libhv.a libvpc.a
links_none cv-vpc     libhv.a libebs.a
links_none cv-storaged libhv.a libcards.a libebs.a
links_none cv-hv      libcards.a libebs.a libvpc.a
links_none cardvisor  libhv.a libcards.a libebs.a libvpc.a

# loads_no LIB BIN...: ldd finds no LIB in any BIN.
loads_no() {
	local lib=$1 bin deps
	shift
	for bin; do
		if [ ! -x "$BUILD/$bin" ]; then
			not_ok "$bin loads no $lib ($BUILD/$bin is missing: make)"
		elif deps=$(ldd "$BUILD/$bin" 2>&1) && ! grep -q "$lib" <<<"$deps"; then
			ok "$bin loads no $lib"
		else
			not_ok "$bin loads no $lib"
			grep "$lib\|not a dynamic" <<<"$deps" | sed 's/^/#   /'
		fi
	done
}
# libvirt is a build dependency only (tools/lib/domain_state.c reads its
# header for the state numbers): no program needs libvirt.so at run time.
loads_no libvirt cardvisor cv-hv cv-ebs cv-vpc cv-storaged
# Only cardvisor talks to etcd (docs/fleet.md): the jailed processes do not
# carry an HTTP client (programs link --as-needed).
loads_no libcurl cv-hv cv-ebs cv-vpc cv-storaged
