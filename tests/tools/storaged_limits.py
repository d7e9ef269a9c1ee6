#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""cv-storaged's limits, measured from outside: /proc/PID/status (VmRSS) for
memory and /proc/PID/stat (utime + stime, in clock ticks) for CPU, never
wall-clock speed.  Prints TAP lines.
usage: storaged_limits.py PORT PID {flood|fds N}
  flood  hosts that send capsules and never read the responses: the daemon's
         resident memory stays bounded
  fds N  N connections held at once (more than the daemon's descriptors or
         connection limit): the daemon stays idle, and serves a host once
         they are gone
Volume alpha (8 MiB) must exist in the daemon's --dir."""

import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvmf_host as nv  # noqa: E402
from tap import check, run  # noqa: E402

PORT, PID, PHASE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
MIB = 1 << 20
FLOOD_BYTES = 48 * MIB     # what an unbounded daemon turns into ~130 MiB of responses
RSS_GROWTH_MAX = 8 * MIB
STALL_S = 2                # no progress that long: the daemon stopped reading
IDLE_TICKS_MAX = 10        # CPU ticks in IDLE_S while connections are held
IDLE_S = 2


def vmrss():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % PID)


def cpu_ticks():
    with open("/proc/%d/stat" % PID) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)


def send_unread(sock, capsules):
    """Send capsules over and over, reading nothing, until FLOOD_BYTES are out
    or the daemon takes nothing for STALL_S.  Returns the bytes sent."""
    sock.setblocking(False)
    sent, off = 0, 0
    while sent < FLOOD_BYTES:
        _, w, _ = select.select([], [sock], [], STALL_S)
        if not w:
            break
        try:
            n = sock.send(capsules[off:off + 1024 * 1024])
        except BlockingIOError:
            continue
        sent += n
        off = (off + n) % len(capsules)
    return sent


def capsule_train(h, opc, nsid=0, sgl=(0, 0, nv.SGL_TRANSPORT), count=4096):
    """count command capsules with distinct CIDs, cycling: a whole number of
    capsules so the stream can wrap anywhere on a capsule boundary."""
    return b"".join(h.pdu(nv.CMD, nv.sqe(opc, cid, nsid, sgl=sgl)) for cid in range(count))


def flood():
    def one(what, setup):
        h = setup()
        train = capsule_train(h, *what)
        before = vmrss()
        sent = send_unread(h.sock, train)
        grown = vmrss() - before
        h.close()
        print("# sent %.1f MiB of capsules, daemon VmRSS grew %.1f MiB"
              % (sent / MIB, grown / MIB))
        assert sent > 0
        assert grown < RSS_GROWTH_MAX, "VmRSS grew %d bytes" % grown

    def before_connect():
        h = nv.Host(PORT)
        h.icreq()
        return h
    # Reads before any Connect: each one a Command Sequence Error response.
    run("a host that sends 72-byte capsules before Connect and reads nothing: "
        "the daemon's memory stays bounded",
        lambda: one((0x02, 1, (0, nv.BLOCK, nv.SGL_TRANSPORT)), before_connect))
    # Keep Alive on a ready admin queue: more commands than SQSIZE allows.
    run("a host that overruns its admin queue and reads nothing: "
        "the daemon's memory stays bounded",
        lambda: one((0x18,), lambda: nv.open_admin(PORT, "alpha")))

    def still_serving():
        a = nv.open_admin(PORT, "alpha")
        io = nv.open_io(PORT, "alpha", a.cntlid)
        d = os.urandom(nv.BLOCK)
        assert io.write(7, d) == 0 and io.read(7, 1) == (0, d)
        io.close()
        a.close()
    run("the daemon serves a new host after the floods", still_serving)


def fds(n):
    held = []

    def hold():
        for _ in range(n):
            # The kernel completes the handshake for the listen backlog
            # whether or not the daemon accepts: these connect either way.
            held.append(socket.create_connection(("127.0.0.1", PORT), timeout=10))
        time.sleep(0.5)   # let the daemon accept what it will
        t0 = cpu_ticks()
        time.sleep(IDLE_S)
        spent = cpu_ticks() - t0
        print("# %d connections held: %d CPU ticks in %d s" % (n, spent, IDLE_S))
        assert spent <= IDLE_TICKS_MAX, "%d ticks" % spent
    run("%d connections held: the daemon stays idle" % n, hold)

    def serve_again():
        for s in held:
            s.close()
        a = nv.open_admin(PORT, "alpha")
        io = nv.open_io(PORT, "alpha", a.cntlid)
        d = os.urandom(2 * nv.BLOCK)
        assert io.write(11, d) == 0 and io.read(11, 2) == (0, d)
        io.close()
        a.close()
    run("once they are gone, a host connects and does I/O", serve_again)


if PHASE == "flood":
    flood()
elif PHASE == "fds":
    fds(int(sys.argv[4]))
