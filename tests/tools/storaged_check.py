#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Drives a running cv-storaged with tests/tools/nvmf_host.py and prints TAP
lines.  usage: storaged_check.py PORT DIR {wellformed|malformed|basic|drain PID}
Volumes alpha (8 MiB) and beta (8 MiB) must exist in DIR."""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvmf_host as nv  # noqa: E402
from tap import check, run  # noqa: E402

PORT, DIR, PHASE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
VOL_BLOCKS = 8 * 1024 * 1024 // nv.BLOCK


def pattern(seed, nblocks):
    out = bytearray()
    for i in range(nblocks):
        out += struct.pack("<QQ", seed, i) * (nv.BLOCK // 16)
    return bytes(out)


def file_bytes(vol, slba, nblocks):
    with open(os.path.join(DIR, vol + ".vol"), "rb") as f:
        f.seek(slba * nv.BLOCK)
        return f.read(nblocks * nv.BLOCK)


def pair(volume, **kw):
    a = nv.open_admin(PORT, volume, **kw)
    io = nv.open_io(PORT, volume, a.cntlid, **kw)
    return a, io


def wellformed(digests):
    tag = " (header and data digests)" if digests else ""
    kw = {"hdgst": digests, "ddgst": digests}
    a = nv.open_admin(PORT, "alpha", **kw)
    base = 1000 if digests else 0

    def admin():
        st, cap = a.prop_get(0x00, size8=True)
        assert st == 0 and cap & 0xffff == 127, hex(cap)
        st, vs = a.prop_get(0x08)
        assert st == 0 and vs == 0x10400, hex(vs)
        st, idc = a.identify(1)
        assert st == 0 and len(idc) == 4096
        assert idc[24:64].rstrip() == b"cardvisor Elastic Block Store"
        assert idc[768:768 + 40].rstrip(b"\0") == (nv.NQN_PREFIX + "alpha").encode()
        assert struct.unpack_from("<H", idc, 78)[0] == a.cntlid
        st, ns = a.identify(0, nsid=1)
        nsze, = struct.unpack_from("<Q", ns, 0)
        assert st == 0 and nsze == VOL_BLOCKS and ns[128 + 2] == 12, (nsze, ns[130])
        st, lst = a.identify(2)
        assert st == 0 and struct.unpack_from("<II", lst, 0) == (1, 0)
        st, desc = a.identify(3, nsid=1)
        assert st == 0 and desc[0] == 2 and desc[1] == 16
        assert a.identify(0, nsid=2)[0] == 0x00b   # Invalid Namespace
        st, dw0 = a.set_features(0x07, 3 | 3 << 16)
        assert st == 0 and dw0 == (3 | 3 << 16), hex(dw0)
        assert a.keep_alive() == 0
    run("admin queue: properties, Identify, Set Features, Keep Alive" + tag, admin)
    io = nv.open_io(PORT, "alpha", a.cntlid, **kw)

    def queues():
        h = nv.Host(PORT, **kw)
        h.icreq()
        assert h.connect("alpha", qid=5, cntlid=a.cntlid)[0] == nv.SC_CONNECT_INVALID_PARAM
        h.close()
        h = nv.Host(PORT, **kw)
        h.icreq()
        assert h.connect("alpha", qid=1, cntlid=a.cntlid)[0] == nv.SC_CONNECT_INVALID_PARAM
        h.close()
        assert a.set_features(0x07, 7 | 7 << 16)[0] == nv.SC_SEQ_ERROR
    run("I/O queue Connect beyond Number of Queues or twice: refused" + tag, queues)

    def incapsule():
        d = pattern(base + 1, 2)
        assert io.write(base + 0, d, in_capsule=True) == 0
        st, got = io.read(base + 0, 2)
        assert st == 0 and got == d
        assert file_bytes("alpha", base, 2) == d
    run("in-capsule write reads back" + tag, incapsule)

    def r2t():
        d = pattern(base + 2, 96)     # 384 KiB: three H2CData and three C2HData
        assert io.write(base + 10, d, in_capsule=False) == 0
        st, got = io.read(base + 10, 96)
        assert st == 0 and got == d
    run("R2T/H2CData write of 384 KiB reads back through C2HData" + tag, r2t)

    def fua():
        d = pattern(base + 3, 1)
        assert io.write(base + 200, d, fua=True) == 0
        assert io.flush() == 0
        assert file_bytes("alpha", base + 200, 1) == d
    run("FUA write and Flush complete" + tag, fua)

    def out_of_range():
        assert io.write(VOL_BLOCKS - 1, pattern(9, 2), in_capsule=True) == nv.SC_LBA_RANGE
        assert io.dnr[io.cid], "LBA Out of Range without Do Not Retry"
        assert io.write(VOL_BLOCKS - 1, pattern(9, 2), in_capsule=False) == nv.SC_LBA_RANGE
        assert io.read(VOL_BLOCKS, 1)[0] == nv.SC_LBA_RANGE
        assert io.read((1 << 64) - 1, 1)[0] == nv.SC_LBA_RANGE
        assert io.read(VOL_BLOCKS - 1, 1)[0] == 0
    run("I/O past the end of the volume: LBA Out of Range" + tag, out_of_range)

    def dealloc():
        d = pattern(base + 4, 8)
        assert io.write(base + 300, d) == 0
        assert io.deallocate([(base + 301, 2), (base + 305, 1)]) == 0
        st, got = io.read(base + 300, 8)
        z = bytes(nv.BLOCK)
        want = d[:4096] + z + z + d[3 * 4096:5 * 4096] + z + d[6 * 4096:]
        assert st == 0 and got == want
        assert io.write_zeroes(base + 300, 1) == 0
        assert io.write_zeroes(base + 306, 2, deac=True) == 0
        st, got = io.read(base + 300, 8)
        assert st == 0 and got == z * 3 + d[3 * 4096:5 * 4096] + z * 3
        assert io.deallocate([(VOL_BLOCKS - 1, 2)]) == nv.SC_LBA_RANGE
    run("Dataset Management deallocate and Write Zeroes read back zeros" + tag, dealloc)

    def dealloc_page():
        # Linux sends its ranges in a 4 KiB buffer, even one range (NVM
        # Command Set 1.0, Dataset Management: the data holds NR+1 ranges);
        # the rest is not ranges and must not be read as such.
        d = pattern(base + 5, 4)
        z = bytes(nv.BLOCK)
        for in_capsule in (True, False):
            assert io.write(base + 320, d) == 0
            buf = struct.pack("<IIQ", 0, 2, base + 321).ljust(4096, b"\xff")
            s = nv.sqe(0x09, io.next_cid(), 1, cdw10=0, cdw11=1 << 2)
            st = io.cmd(s, buf, in_capsule=in_capsule)[0]
            assert st == 0, (hex(st), in_capsule)
            st, got = io.read(base + 320, 4)
            assert st == 0 and got == d[:4096] + z + z + d[3 * 4096:], in_capsule
        # Two ranges (NR 1) in a 16-byte buffer: shorter than its ranges.
        s = nv.sqe(0x09, io.next_cid(), 1, cdw10=1, cdw11=1 << 2)
        assert io.cmd(s, buf[:16])[0] == 0x00f
    run("Dataset Management with one range in a 4 KiB buffer, as Linux sends it" + tag,
        dealloc_page)

    def pipelined():
        # 48 writes in flight at once, half in-capsule, half by R2T, then 48 reads.
        cmds, datas = {}, {}
        for i in range(48):
            d = pattern(base + 100 + i, 1 if i % 2 else 4)
            s = io.rw_sqe(0x01, base + 400 + 4 * i, len(d) // nv.BLOCK)
            cid = struct.unpack_from("<H", s, 2)[0]
            if i % 2:
                io.submit(s, d, in_capsule=True)
            else:
                io.submit(s)
            cmds[cid], datas[i] = d, d
        res = io.wait(cmds)
        assert all(r[0] == 0 for r in res.values()), res
        cmds, want = {}, {}
        for i in range(48):
            s = io.rw_sqe(0x02, base + 400 + 4 * i, len(datas[i]) // nv.BLOCK)
            cid = struct.unpack_from("<H", s, 2)[0]
            io.submit(s)
            cmds[cid], want[cid] = None, datas[i]
        res = io.wait(cmds)
        assert all(res[c][0] == 0 and res[c][3] == want[c] for c in cmds)
    run("48 commands in flight on one queue" + tag, pipelined)

    def errors():
        assert io.cmd(nv.sqe(0x7e, io.next_cid(), 1))[0] == nv.SC_INVALID_OPCODE
        s = io.rw_sqe(0x02, 0, 1, length=2 * nv.BLOCK)   # SGL longer than NLB
        assert io.cmd(s)[0] == 0x00f
    run("unknown opcode and a wrong SGL length get their status" + tag, errors)
    io.close()
    a.close()


def hpda():
    # The host asks for C2H data on 32-byte boundaries (HPDA 7, 0's based dwords).
    h = nv.Host(PORT, hdgst=True)
    h.icreq(hpda=7)
    assert h.connect("alpha")[0] == 0 and h.enable()
    s = nv.sqe(0x06, h.next_cid(), cdw10=1, sgl=(0, 4096, nv.SGL_TRANSPORT))
    h.submit(s)
    ptype, _, hdr, data = h.recv()
    assert ptype == nv.C2H_DATA and hdr[3] == 32 and len(data) == 4096, (ptype, hdr[3])
    assert h.recv()[0] == nv.RESP
    h.close()


def shutdown():
    # CC.SHN normal shutdown (Base 2.0, "Controller Properties"): the daemon
    # makes the volume durable and reports CSTS.SHST complete (10b), then
    # serves on (a new association to the same volume works).
    h = nv.Host(PORT)
    h.icreq()
    assert h.connect("alpha")[0] == 0 and h.enable()
    assert h.prop_set(0x14, 1 | 6 << 16 | 4 << 20 | 1 << 14) == 0
    st, csts = h.prop_get(0x1c)
    assert st == 0 and csts >> 2 & 3 == 2, hex(csts)
    h.close()
    h = nv.Host(PORT)
    h.icreq()
    assert h.connect("alpha")[0] == 0 and h.enable()
    h.close()


def keep_alive():
    # KATO 1 s and no Keep Alive: the controller goes, its queues are closed.
    h = nv.Host(PORT)
    h.icreq()
    assert h.connect("alpha", kato=1000)[0] == 0 and h.enable()
    io = nv.open_io(PORT, "alpha", h.cntlid)
    for conn in (h, io):
        conn.sock.settimeout(30)
        try:
            assert conn.sock.recv(1) == b""
        except ConnectionResetError:
            pass
        conn.close()


def refused():
    h = nv.Host(PORT)
    h.icreq()
    # Connect Invalid Parameters (NVMe over Fabrics 1.1, Connect Response):
    # DW0 bits 15:00 IPO, the byte offset of the field; bits 23:16 IATTR,
    # 1 when the field is in the Connect data, 0 when in the SQE.
    st, dw0 = h.connect("no-such-volume")
    assert st == nv.SC_CONNECT_INVALID_PARAM and dw0 == (1 << 16 | 256), (hex(st), hex(dw0))
    h.close()
    h = nv.Host(PORT)
    h.icreq()
    st, dw0 = h.connect("alpha", qid=1, cntlid=0x7777)
    assert st == nv.SC_CONNECT_INVALID_PARAM and dw0 == (1 << 16 | 16), (hex(st), hex(dw0))
    h.close()
    h = nv.Host(PORT)
    h.icreq()
    st, dw0 = h.connect("alpha", sqsize=0)
    assert st == nv.SC_CONNECT_INVALID_PARAM and dw0 == 44, (hex(st), hex(dw0))
    h.close()


def expect_term(h, fes):
    """The controller answers with C2HTermReq FES fes and closes."""
    try:
        while True:
            h.recv()
    except nv.Term as t:
        assert t.fes == fes, "FES %d, expected %d" % (t.fes, fes)
    try:
        h.sock.settimeout(5)
        assert h.sock.recv(1) == b"", "connection still open after C2HTermReq"
    except ConnectionResetError:
        pass
    h.close()


def malformed():
    # Connection B on another volume stays up through all of it.
    b_admin, b = pair("beta", hdgst=True, ddgst=True)
    idle = socket.create_connection(("127.0.0.1", PORT))   # never says a word
    good = pattern(77, 16)
    assert b.write(0, good) == 0

    def b_intact():
        st, got = b.read(0, 16)
        assert st == 0 and got == good, "vol-b data changed"
        assert b_admin.keep_alive() == 0

    def conn(**kw):
        h = nv.Host(PORT, **kw)
        h.icreq()
        return h

    def bad_plen():
        h = nv.Host(PORT)
        icreq = bytearray(h.pdu(nv.ICREQ, struct.pack("<HBBI", 0, 0, 0, 0) + bytes(112)))
        struct.pack_into("<I", icreq, 4, 100)
        h.raw(bytes(icreq))
        expect_term(h, 1)
    run("ICReq with a wrong PLEN: C2HTermReq, closed", bad_plen)
    run("the other volume's connection still works", b_intact)

    def unknown_type():
        h = conn()
        h.raw(struct.pack("<BBBBI", 0x0f, 0, 24, 0, 24) + bytes(16))
        expect_term(h, 1)
    run("unknown PDU type: C2HTermReq, closed", unknown_type)

    def huge_plen():
        h = conn()
        s = h.rw_sqe(0x02, 0, 1)
        p = bytearray(h.pdu(nv.CMD, s))
        p[3] = 72                                  # PDO: data would follow
        struct.pack_into("<I", p, 4, 0x7fffffff)
        h.raw(bytes(p))
        expect_term(h, 5)
    run("capsule with a PLEN over the in-capsule limit: C2HTermReq, closed", huge_plen)

    def bad_hdgst():
        h = conn(hdgst=True)
        s = h.rw_sqe(0x02, 0, 1)
        h.submit(s, bad_hdgst=True)
        expect_term(h, 3)
    run("bad header digest: C2HTermReq, closed", bad_hdgst)
    run("the other volume's connection still works", b_intact)

    def bad_ddgst():
        # A data digest error is not fatal (TCP transport 1.0): the command
        # completes with Transient Transport Error and the queue goes on.
        a, io = pair("alpha", hdgst=True, ddgst=True)
        before = file_bytes("alpha", 500, 1)
        s = io.rw_sqe(0x01, 500, 1)
        cid = struct.unpack_from("<H", s, 2)[0]
        io.submit(s, pattern(5, 1), in_capsule=True, bad_ddgst=True)
        assert io.wait({cid: None})[cid][0] == nv.SC_TRANSIENT
        assert not io.dnr[cid], "Transient Transport Error with Do Not Retry"
        s = io.rw_sqe(0x01, 500, 2)
        cid = struct.unpack_from("<H", s, 2)[0]
        io.submit(s)
        ptype, _, hdr, _ = io.recv()
        assert ptype == nv.R2T
        _, ttag, _, r2tl = struct.unpack_from("<HHII", hdr, 8)
        io.h2c(cid, ttag, 0, pattern(6, 2), True, bad_ddgst=True)
        assert io.wait({cid: None})[cid][0] == nv.SC_TRANSIENT
        assert file_bytes("alpha", 500, 1) == before, "a write with a bad digest landed"
        d = pattern(7, 1)
        assert io.write(500, d) == 0 and io.read(500, 1) == (0, d)
        io.close()
        a.close()
    run("bad data digest: Transient Transport Error, nothing written, queue goes on",
        bad_ddgst)

    def unknown_ttag():
        a, io = pair("alpha")
        io.h2c(1, 0x55, 0, pattern(1, 1), True)
        expect_term(io, 1)
        a.close()
    run("H2CData for an unknown TTAG: C2HTermReq, closed", unknown_ttag)

    def data_past_r2t():
        a, io = pair("alpha")
        s = io.rw_sqe(0x01, 0, 1)
        cid = struct.unpack_from("<H", s, 2)[0]
        io.submit(s)
        ptype, _, hdr, _ = io.recv()
        assert ptype == nv.R2T
        _, ttag, _, _ = struct.unpack_from("<HHII", hdr, 8)
        io.h2c(cid, ttag, 0, pattern(1, 2), True)
        expect_term(io, 4)
        a.close()
    run("H2CData past what the R2T asked for: C2HTermReq, closed", data_past_r2t)

    def before_connect():
        h = conn()
        st = h.cmd(h.rw_sqe(0x02, 0, 1))[0]
        assert st == nv.SC_SEQ_ERROR, hex(st)
        h.close()
    run("a command before Connect: Command Sequence Error", before_connect)

    def garbage():
        # Bytes whose PDU type the transport does not define: Invalid Header
        # Field.  (A defined type would be a PDU Sequence Error instead, so
        # the first byte is fixed; the rest is seeded for a reproducible run.)
        import random
        h = nv.Host(PORT)
        h.raw(b"\xff" + random.Random(4421).randbytes(4095))
        try:
            expect_term(h, 1)
        except (nv.Closed, ConnectionResetError):
            pass
    run("random bytes instead of an ICReq: refused", garbage)

    def capsule_first():
        # A well-formed command capsule before ICReq: PDU Sequence Error.
        h = nv.Host(PORT)
        h.raw(h.pdu(nv.CMD, nv.sqe(0x02, 1, 1)))
        try:
            expect_term(h, 2)
        except (nv.Closed, ConnectionResetError):
            pass
    run("a command capsule instead of an ICReq: PDU Sequence Error", capsule_first)

    def mutations():
        # Valid write capsules (with digests, in-capsule data) with 1 to 3
        # bytes of the header or SQE changed: whatever the daemon answers,
        # it must keep serving.  A fixed seed makes a failure reproducible.
        import random
        rnd = random.Random(4420)
        a = nv.open_admin(PORT, "alpha")
        for i in range(150):
            io = nv.open_io(PORT, "alpha", a.cntlid, hdgst=bool(i % 2), ddgst=bool(i % 2))
            s = io.rw_sqe(0x01, rnd.randrange(VOL_BLOCKS), 1)
            s = s[:24] + struct.pack("<QI3xB", 0, nv.BLOCK, nv.SGL_INCAPSULE) + s[40:]
            p = bytearray(io.pdu(nv.CMD, s, pattern(i, 1)))
            for _ in range(rnd.randint(1, 3)):
                p[rnd.randrange(80)] ^= 1 << rnd.randrange(8)
            io.raw(bytes(p))
            io.sock.shutdown(socket.SHUT_WR)
            io.sock.settimeout(10)
            try:
                while io.sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            io.close()
        assert a.keep_alive() == 0
        a.close()
    run("150 write capsules with random bit flips: the daemon keeps serving", mutations)

    def abrupt():
        # A write whose data never comes, then the socket goes away.
        a, io = pair("alpha")
        s = io.rw_sqe(0x01, 0, 64)
        io.submit(s)
        io.recv()
        io.sock.shutdown(socket.SHUT_RDWR)
        io.close()
        a.close()
    run("a host vanishing in the middle of a write", abrupt)

    def reads_in_flight():
        # 32 reads of 1 MiB queued, then the host is gone before any is sent.
        a, io = pair("alpha")
        for i in range(32):
            io.submit(io.rw_sqe(0x02, (i % 8) * 256, 256))
        io.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        io.close()
        a.close()
    run("a host resetting the connection with 32 MiB of reads in flight", reads_in_flight)
    run("the other volume's connection still works and its data is intact", b_intact)

    def new_conn():
        a, io = pair("alpha")
        d = pattern(8, 1)
        assert io.write(600, d) == 0 and io.read(600, 1) == (0, d)
        io.close()
        a.close()
    run("the daemon still accepts new connections", new_conn)

    def idle_closed():
        idle.settimeout(60)
        try:
            assert idle.recv(1) == b""
        except ConnectionResetError:
            pass
        idle.close()
    run("a connection that never sends ICReq is closed", idle_closed)
    b.close()
    b_admin.close()


def basic():
    a, io = pair("alpha")
    d = pattern(11, 3)
    assert io.write(20, d) == 0 and io.read(20, 3) == (0, d) and io.flush() == 0
    io.close()
    a.close()


def drain(pid):
    """SIGTERM with writes in flight: every write acknowledged is on disk."""
    a, io = pair("beta")
    cmds, datas = {}, {}
    for i in range(64):
        d = pattern(300 + i, 2)
        s = io.rw_sqe(0x01, 1000 + 2 * i, 2)
        cid = struct.unpack_from("<H", s, 2)[0]
        io.submit(s, d, in_capsule=True)
        cmds[cid], datas[cid] = d, (1000 + 2 * i, d)
    os.kill(pid, 15)
    acked = 0
    try:
        while True:
            ptype, _, hdr, _ = io.recv()
            assert ptype == nv.RESP
            _, _, _, _, cid, status = struct.unpack_from("<IIHHHH", hdr, 8)
            assert status >> 1 == 0, hex(status)
            slba, d = datas[cid]
            assert file_bytes("beta", slba, 2) == d
            acked += 1
    except (nv.Closed, ConnectionResetError):
        pass
    print("# %d of 64 writes acknowledged before the daemon closed the queue" % acked)


if PHASE == "wellformed":
    wellformed(False)
    wellformed(True)
    run("C2HData honours the host's PDU data alignment (HPDA)", hpda)
    run("Connect to a volume that does not exist or an unknown controller: refused",
        refused)
    run("a shutdown notification: SHST complete, the daemon serves on", shutdown)
elif PHASE == "malformed":
    malformed()
    run("keep alive timeout closes the controller's admin and I/O queues", keep_alive)
elif PHASE == "basic":
    run("write, read back and flush on a volume the page cache serves", basic)
elif PHASE == "drain":
    run("SIGTERM: every acknowledged write is on disk", lambda: drain(int(sys.argv[4])))
