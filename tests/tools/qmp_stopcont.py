# SPDX-License-Identifier: Apache-2.0
"""Stops and continues a QEMU VM over QMP while the guest works.

usage: qmp_stopcont.py QMP-SOCKET CONSOLE-FILE ROUNDS CYCLES START END [QOM-PATH]

For each round r (1..ROUNDS) it waits for the guest's console (CONSOLE-FILE,
which QEMU writes) to show a line matching START (a regex; "{r}" stands for
the round), then sends CYCLES pairs of QMP "stop" and "cont", 50 to 100 ms
apart, and waits for a line matching END.  One line per round:

    stopcont: round R cycles=N seconds=S overlapped=yes|no

"overlapped=no" when the END line came before the last "cont": the loop
did not cover the whole cycle count while the guest worked, and the test
proves less than it says.  A round whose END line does not come within
120 s of its last cycle is a hang: the script prints "stopcont: round R
hung", then what QEMU knows of the device's rings (x-query-virtio-status
and x-query-virtio-vhost-queue-status for QOM-PATH, the virtio device
under the proxy, e.g. /machine/peripheral/vblk0/virtio-backend; never
x-query-virtio-queue-status, which in QEMU 7.2 stops a vhost ring and can
itself hang the guest), and exits 1.
"""

import json
import random
import re
import socket
import sys
import time

HANG_SECONDS = 120


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(300):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("no QMP socket at " + path)
        self.file = self.sock.makefile("rw")
        self.read()  # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("QEMU closed its QMP socket")
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.file.write(json.dumps(msg) + "\n")
        self.file.flush()
        while True:
            reply = self.read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise RuntimeError("%s: %s" % (name, reply["error"].get("desc")))
            return reply.get("return")


def console_has(path, regex):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return re.search(regex, text, re.M) is not None


def wait_for(path, regex, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if console_has(path, regex):
            return True
        time.sleep(0.05)
    return False


def xp_u16(qmp, addr, count):
    """Guest-physical 16-bit words through the monitor's xp (read-only)."""
    out = qmp.cmd("human-monitor-command", **{"command-line": "xp /%dhx %#x" % (count, addr)})
    return [int(w, 16) for w in re.findall(r"0x[0-9a-f]+", out.split(":", 1)[1])]


def ring_indices(qmp, ring):
    """avail.flags/idx, used_event, used.flags/idx and avail_event (§2.7)."""
    num, avail, used = ring["num"], ring["avail-phys"], ring["used-phys"]
    a_flags, a_idx = xp_u16(qmp, avail, 2)
    u_flags, u_idx = xp_u16(qmp, used, 2)
    return ("avail.idx=%d avail.flags=%d used_event=%d used.idx=%d used.flags=%d "
            "avail_event=%d" % (a_idx, a_flags, xp_u16(qmp, avail + 4 + 2 * num, 1)[0],
                                u_idx, u_flags, xp_u16(qmp, used + 4 + 8 * num, 1)[0]))


def dump_rings(qmp, qom):
    if not qom:
        return
    try:
        status = qmp.cmd("x-query-virtio-status", path=qom)
        print("# virtio status: " + json.dumps(
            {k: status.get(k) for k in ("status", "broken", "started", "vhost-started",
                                        "num-vqs", "isr")}))
        for q in range(status.get("num-vqs", 1)):
            ring = qmp.cmd("x-query-virtio-vhost-queue-status", path=qom, queue=q)
            print("# vhost queue %d: %s" % (q, ring_indices(qmp, ring)))
    except RuntimeError as e:
        print("# query failed: %s" % e)
    sys.stdout.flush()


def main():
    qmp_path, console, rounds, cycles, start, end = sys.argv[1:7]
    qom = sys.argv[7] if len(sys.argv) > 7 else ""
    qmp = Qmp(qmp_path)
    rng = random.Random(17)
    for r in range(1, int(rounds) + 1):
        if not wait_for(console, start.replace("{r}", str(r)), 600):
            print("stopcont: round %d never started" % r)
            return 1
        t0 = time.monotonic()
        for _ in range(int(cycles)):
            qmp.cmd("stop")
            time.sleep(rng.uniform(0.05, 0.1))
            qmp.cmd("cont")
            time.sleep(rng.uniform(0.05, 0.1))
        spent = time.monotonic() - t0
        overlapped = not console_has(console, end.replace("{r}", str(r)))
        if not wait_for(console, end.replace("{r}", str(r)), HANG_SECONDS):
            print("stopcont: round %d hung" % r)
            dump_rings(qmp, qom)
            return 1
        print("stopcont: round %d cycles=%s seconds=%.1f overlapped=%s" %
              (r, cycles, spent, "yes" if overlapped else "no"))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
