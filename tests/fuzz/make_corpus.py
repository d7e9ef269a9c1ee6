#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of the fuzz harnesses: tests/fuzz/corpus/NAME/.

Each seed is a scenario the unit tests drive (tests/unit/test_*.c), encoded
in the input format the harness's header comment describes, so fuzzing
starts from inputs that reach deep code instead of from nothing.  The
corpora are committed; run this again after changing a harness's format:

    python3 tests/fuzz/make_corpus.py [OUTDIR]
"""
import base64
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def u8(v):
    return struct.pack("<B", v & 0xff)


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


# ---------------------------------------------------------------- virtq

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
VQ_R0, VQ_R1, VQ_R2 = 0x1000, 0x1200, (1 << 64) - 256


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def virtq_seed(log2num, descs, heads, ops=b"", event_idx=True, indirect=True,
               inflight=None, recover=False, last_avail=0, used_idx=0):
    num = 1 << log2num
    cfg = log2num | (0x10 if event_idx else 0) | (0x20 if indirect else 0)
    cfg |= (0x40 if inflight is not None else 0) | (0x80 if recover else 0)
    table = b"".join(descs.get(i, desc(0, 0)) for i in range(num))
    ring = [0] * num
    for k, h in enumerate(heads):
        ring[(last_avail + k) % num] = h
    avail = u16(0) + u16(last_avail + len(heads)) + b"".join(u16(h) for h in ring) + u16(0)
    used = u16(0) + u16(used_idx) + bytes(8 * num) + u16(0)
    out = u8(cfg) + u16(last_avail) + table + avail + used
    if inflight is not None:
        out += inflight
    return out + ops


# ops: 0 pop, 1 publish, 2 unpop, 3 avail, 4 desc, 5 notify, 6 copy, 7 poke
def vq_pop(hold=0):
    return u8(0) + u8(hold)


def vq_poke(region, off, data):
    return u8(7) + u8(region) + u16(off) + u8(len(data)) + data


def corpus_virtq():
    # test_good_chain: two readable descriptors, one writable.
    write("virtq", "good-chain", virtq_seed(4, {
        3: desc(VQ_R0, 7, F_NEXT, 9), 9: desc(VQ_R0 + 0x40, 6, F_NEXT, 1),
        1: desc(VQ_R0 + 0x80, 100, F_WRITE)}, [3],
        vq_pop() + u8(6) + u16(5) + u16(4) + u8(1) + vq_pop()))
    # A buffer across regions 0 and 1, and one at the top of the space.
    write("virtq", "across-regions", virtq_seed(2, {
        0: desc(VQ_R0 + 500, 40, F_NEXT, 1), 1: desc(VQ_R2 + 200, 56, F_WRITE),
        2: desc(VQ_R2 + 200, 100)}, [0, 2]))
    # test_loop_dropped, then a good chain: the queue goes on.
    write("virtq", "loop", virtq_seed(3, {
        0: desc(VQ_R0, 8, F_NEXT, 1), 1: desc(VQ_R0, 8, F_NEXT, 0), 7: desc(VQ_R0, 64)},
        [0, 7]))
    # Indirect table in region 0 (test_indirect), then a bad one nested.
    table = desc(VQ_R0 + 0x100, 16) + desc(VQ_R0 + 0x120, 32, F_WRITE | F_NEXT, 2) + \
        desc(VQ_R1, 8, F_WRITE)
    write("virtq", "indirect", virtq_seed(3, {
        2: desc(VQ_R0, len(table), F_INDIRECT), 4: desc(VQ_R0 + 0x40, 16, F_INDIRECT)}, [2, 4],
        vq_poke(0, 0, table) + vq_poke(0, 0x40, desc(VQ_R0, 16, F_INDIRECT)) +
        vq_pop(1) + vq_pop() + u8(1) + u8(0) + u32(8)))
    # Readable after writable, head out of range, avail.idx running away.
    write("virtq", "bad-order", virtq_seed(2, {
        0: desc(VQ_R0, 8, F_WRITE | F_NEXT, 1), 1: desc(VQ_R0, 8)}, [0, 9],
        vq_pop() + u8(3) + u8(7) + u16(0x4000)))
    # Hold two, unpop one, notify with EVENT_IDX.
    write("virtq", "unpop", virtq_seed(3, {
        i: desc(VQ_R0 + 0x20 * i, 16, F_WRITE) for i in range(8)}, [1, 2, 3],
        vq_pop(1) + vq_pop(1) + u8(2) + u8(1) + vq_pop(1) + u8(1) + u8(0) + u32(4) +
        u8(5) + u8(2) + u16(1) + u8(5) + u8(0) + u16(0)))
    # Inflight recovery: heads 1 and 5 taken and not completed, counters
    # out of order, a half-cleared last batch (used_idx behind).
    num = 8
    region = u64(0) + u16(1) + u16(num) + u16(5) + u16(0)
    states = {1: (1, 0, 7), 5: (1, 1, 3), 2: (1, 0, 9)}
    for i in range(num):
        infl, nxt, ctr = states.get(i, (0, 0, 0))
        region += u8(infl) + bytes(5) + u16(nxt) + u64(ctr)
    write("virtq", "inflight-recover", virtq_seed(3, {
        i: desc(VQ_R0 + 0x20 * i, 16, F_WRITE) for i in range(8)}, [], inflight=region,
        recover=True, used_idx=1))
    # A new (version 0) inflight region: tracking from the first pop.
    write("virtq", "inflight-new", virtq_seed(2, {
        0: desc(VQ_R0, 16, F_WRITE), 1: desc(VQ_R0 + 16, 16)}, [0, 1],
        vq_pop(1) + vq_pop() + u8(1) + u8(0) + u32(16), inflight=bytes(16 + 16 * 4)))


# ---------------------------------------------------------------- vblk

def vblk_seed(segs_out, segs_in, blocks=1024, max_data=64 * 4096):
    """Segments are bytes, or an int: that many zero bytes."""
    out = u64(blocks) + u32(max_data) + u8(len(segs_out)) + u8(len(segs_in))
    for s in segs_out + segs_in:
        if isinstance(s, int):
            out += u16(s - 1) + u16(0)
        else:
            out += u16(len(s) - 1) + u16(len(s)) + s
    return out


def blk_hdr(t, sector=0):
    return u32(t) + u32(0) + u64(sector)


def corpus_vblk():
    status = [b"\xff"]
    write("vblk", "read", vblk_seed([blk_hdr(0, 8)], [4096, b"\xff"]))
    write("vblk", "read-split", vblk_seed([blk_hdr(0, 16)], [1000, 3097]))
    write("vblk", "write", vblk_seed([blk_hdr(1, 8), 4096], status))
    write("vblk", "write-unaligned", vblk_seed([blk_hdr(1, 1), 512], status))
    write("vblk", "flush", vblk_seed([blk_hdr(4)], status))
    write("vblk", "get-id", vblk_seed([blk_hdr(8)], [20, b"\xff"]))
    seg = lambda sector, n, flags=0: u64(sector) + u32(n) + u32(flags)
    write("vblk", "discard", vblk_seed([blk_hdr(11) + seg(0, 8) + seg(64, 16)], status))
    write("vblk", "write-zeroes", vblk_seed([blk_hdr(13), seg(8, 8, 1)], status))
    write("vblk", "unsupp", vblk_seed([blk_hdr(14)], status))
    write("vblk", "past-end", vblk_seed([blk_hdr(0, 1024 * 8)], [4096, b"\xff"]))


# ---------------------------------------------------------------- vhost-user

VU = {"GET_FEATURES": 1, "SET_FEATURES": 2, "SET_OWNER": 3, "RESET_OWNER": 4,
      "SET_MEM_TABLE": 5, "SET_VRING_NUM": 8, "SET_VRING_ADDR": 9, "SET_VRING_BASE": 10,
      "GET_VRING_BASE": 11, "SET_VRING_KICK": 12, "SET_VRING_CALL": 13, "SET_VRING_ERR": 14,
      "GET_PROTOCOL_FEATURES": 15, "SET_PROTOCOL_FEATURES": 16, "GET_QUEUE_NUM": 17,
      "SET_VRING_ENABLE": 18, "GET_CONFIG": 24, "SET_CONFIG": 25, "GET_INFLIGHT_FD": 31,
      "SET_INFLIGHT_FD": 32, "RESET_DEVICE": 34}
NEED_REPLY = 8
FD_RAM, FD_EVENT, FD_INFLIGHT, FD_NULL, FD_UNSEALED = 1, 0x10, 0x20, 0x40, 0x80
RAM_GPA, UADDR = 0x100000, 0x7f0000000000
VU_FEATURES = (1 << 32) | (1 << 28) | (1 << 29) | (1 << 30)
VU_PROTOCOL = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 12) | (1 << 13)


def vu_msg(req, payload=b"", fds=0, flags=NEED_REPLY):
    m = u32(VU[req]) + u32(1 | flags) + u32(len(payload)) + payload
    return u8(0) + u8(fds) + u16(len(m)) + m


def vu_poke(off, data, inflight=False):
    return u8(2) + u8(1 if inflight else 0) + u16(off) + u8(len(data)) + data


def vring(index, num):
    return u32(index) + u32(num)


def vu_start(q=0, num=8, inflight=True):
    """test_vblk's fe_connect_inflight: negotiation, memory, one ring."""
    s = vu_msg("GET_FEATURES", flags=0) + vu_msg("GET_PROTOCOL_FEATURES", flags=0)
    s += vu_msg("SET_PROTOCOL_FEATURES", u64(VU_PROTOCOL), flags=0)
    s += vu_msg("SET_OWNER") + vu_msg("SET_FEATURES", u64(VU_FEATURES))
    if inflight:
        stride = (16 + 16 * num + 63) & ~63
        s += vu_msg("GET_INFLIGHT_FD", u64(0) + u64(0) + u16(1) + u16(num) + bytes(4), flags=0)
        s += vu_msg("SET_INFLIGHT_FD", u64(stride) + u64(0) + u16(1) + u16(num) + bytes(4),
                    fds=FD_INFLIGHT)
    region = u64(RAM_GPA) + u64(0x10000) + u64(UADDR) + u64(0)
    s += vu_msg("SET_MEM_TABLE", u32(1) + u32(0) + region, fds=FD_RAM)
    s += vu_msg("SET_VRING_NUM", vring(q, num)) + vu_msg("SET_VRING_BASE", vring(q, 0))
    base = 0x4000 * q
    s += vu_msg("SET_VRING_ADDR", u32(q) + u32(0) + u64(UADDR + base) +
                u64(UADDR + base + 0x2000) + u64(UADDR + base + 0x1000) + u64(0))
    s += vu_msg("SET_VRING_CALL", u64(q), fds=FD_EVENT)
    s += vu_msg("SET_VRING_ERR", u64(q), fds=FD_EVENT)
    return s


def vu_chains(q=0):
    """Two chains on ring q: head 0 (completed at once), head 3 (held)."""
    base = 0x4000 * q
    d = desc(RAM_GPA + 0x8000, 64, F_NEXT, 1) + desc(RAM_GPA + 0x8100, 32, F_WRITE)
    s = vu_poke(base, d) + vu_poke(base + 3 * 16, desc(RAM_GPA + 0x8200, 128, F_WRITE))
    return s + vu_poke(base + 0x1000, u16(0) + u16(2) + u16(0) + u16(3))


def corpus_vhost_user():
    kick_enable = vu_msg("SET_VRING_KICK", u64(0), fds=FD_EVENT) + \
        vu_msg("SET_VRING_ENABLE", vring(0, 1))
    # A whole start, two chains, a kick, config space, a GET_VRING_BASE that
    # waits for the held chain, then a restart that resubmits nothing.
    s = vu_start() + vu_chains() + kick_enable + u8(1) + u8(2)
    s += vu_msg("GET_CONFIG", u32(0) + u32(8) + u32(0) + bytes(8), flags=0)
    s += vu_msg("SET_CONFIG", u32(0) + u32(4) + u32(0) + bytes(4))
    s += vu_msg("GET_VRING_BASE", vring(0, 0), flags=0) + u8(3) + u8(0)
    s += vu_msg("SET_VRING_KICK", u64(0), fds=FD_EVENT)
    write("vhost_user", "start-stop", s)
    # The back-end restarted with a chain in flight: the inflight buffer says
    # head 3 was taken (version 1, 8 entries), used.idx 0.
    region = u64(0) + u16(1) + u16(8) + u16(0) + u16(0)
    s = vu_start() + vu_chains() + vu_poke(16 + 3 * 16, u8(1) + bytes(7) + u64(1), True)
    s += vu_poke(0, region, True) + kick_enable
    write("vhost_user", "inflight-resubmit", s)
    # Malformed requests from test_vhost_user: a ring size that is not a
    # power of 2, overlapping regions, a kick that is not an eventfd, a
    # config window past 256 bytes, an inflight buffer that is not sealed,
    # then a reset.
    s = vu_start(inflight=False)
    s += vu_msg("SET_VRING_NUM", vring(1, 3))
    r = u64(RAM_GPA) + u64(0x8000) + u64(UADDR) + u64(0)
    s += vu_msg("SET_MEM_TABLE", u32(2) + u32(0) + r + r, fds=2 * FD_RAM)
    s += vu_msg("SET_VRING_KICK", u64(0), fds=FD_NULL)
    s += vu_msg("GET_CONFIG", u32(250) + u32(8) + u32(0) + bytes(8), flags=0)
    s += vu_msg("SET_INFLIGHT_FD", u64(192) + u64(0) + u16(1) + u16(8) + bytes(4), fds=FD_UNSEALED)
    s += vu_msg("GET_QUEUE_NUM", flags=0) + vu_msg("RESET_DEVICE")
    write("vhost_user", "malformed", s)
    # Two rings, the second's memory through a second region at an offset.
    s = vu_start(q=1, num=4, inflight=False)
    r2 = u64(0x40000000) + u64(0x4000) + u64(UADDR + 0x10000) + u64(0xc000)
    region = u64(RAM_GPA) + u64(0x10000) + u64(UADDR) + u64(0)
    s += vu_msg("SET_MEM_TABLE", u32(2) + u32(0) + region + r2, fds=2 * FD_RAM)
    s += vu_chains(1) + vu_msg("SET_VRING_KICK", u64(1), fds=FD_EVENT)
    s += vu_msg("SET_VRING_ENABLE", vring(1, 1)) + vu_msg("RESET_OWNER")
    write("vhost_user", "two-regions", s)


# ---------------------------------------------------------------- NVMe/TCP

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import nvmf_host as nt  # noqa: E402  (tests/tools: the PDU builder the tests use)


def tcp_host(hdgst=False, ddgst=False, cpda=0):
    """nvmf_host.Host's PDU builder without a socket."""
    h = object.__new__(nt.Host)
    h.hdgst, h.ddgst, h.cpda, h.cid = hdgst, ddgst, cpda, 0
    return h


def icreq(h, hpda=0):
    dgst = (1 if h.hdgst else 0) | (2 if h.ddgst else 0)
    return h.pdu(nt.ICREQ, struct.pack("<HBBI", 0, hpda, dgst, 0) + bytes(112))


def connect(h, qid=0, sqsize=31, cntlid=0xffff, volume="fuzz"):
    d = b"\x11" * 16 + struct.pack("<H", cntlid) + bytes(238)
    d += (nt.NQN_PREFIX + volume).encode().ljust(256, b"\0")
    d += nt.HOSTNQN.encode().ljust(256, b"\0") + bytes(256)
    f = (struct.pack("<B19x", 0x01), struct.pack("<HHHBxI12x", 0, qid, sqsize, 0, 0))
    cid = h.next_cid()
    if qid == 0:
        s = nt.sqe(0x7f, cid, sgl=(0, 1024, nt.SGL_INCAPSULE), fctype_bytes=f)
        return h.pdu(nt.CMD, s, d)
    # I/O queues: the data by R2T; the first free slot (TTAG 0) gets it.
    s = nt.sqe(0x7f, cid, sgl=(0, 1024, nt.SGL_TRANSPORT), fctype_bytes=f)
    return h.pdu(nt.CMD, s) + h2c(h, cid, 0, 0, d)


def h2c(h, cid, ttag, datao, data, last=True):
    psh = struct.pack("<HHII4x", cid, ttag, datao, len(data))
    return h.pdu(nt.H2C_DATA, psh, data, nt.F_LAST if last else 0)


def fabrics(h, fctype, spec):
    f = (struct.pack("<B19x", fctype), spec)
    return h.pdu(nt.CMD, nt.sqe(0x7f, h.next_cid(), fctype_bytes=f))


def prop_set(h, offset, value):
    return fabrics(h, 0x00, struct.pack("<B3xIQ8x", 0, offset, value))


def prop_get(h, offset, size8=False):
    return fabrics(h, 0x04, struct.pack("<B3xI16x", 1 if size8 else 0, offset))


def admin(h, opc, nsid=0, cdw10=0, cdw11=0, length=0):
    return h.pdu(nt.CMD, nt.sqe(opc, h.next_cid(), nsid, cdw10=cdw10, cdw11=cdw11,
                                sgl=(0, length, nt.SGL_TRANSPORT)))


def rw(h, opc, slba, nblocks, data=b"", in_capsule=True):
    cid = h.next_cid()
    sgl = (0, nblocks * 4096, nt.SGL_INCAPSULE if data and in_capsule else nt.SGL_TRANSPORT)
    s = nt.sqe(opc, cid, 1, cdw10=slba, cdw12=nblocks - 1, sgl=sgl)
    if data and in_capsule:
        return h.pdu(nt.CMD, s, data)
    return h.pdu(nt.CMD, s) + (h2c(h, cid, 0, 0, data) if data else b"")


def compact(pdus, fix):
    """PDUs laid end to end, the last one cut before its trailing zeros (and
    its data digest when the harness recomputes it), and the record flags
    asking the harness to pad it back (tests/fuzz/tcp_pdus.h)."""
    off = 0
    while off + 8 <= len(pdus):
        flags, plen = pdus[off + 1], struct.unpack_from("<I", pdus, off + 4)[0]
        if off + plen >= len(pdus):
            break
        off += plen
    end = len(pdus)
    if flags & nt.F_DDGST and fix:
        end -= 4
    elif flags & nt.F_DDGST:
        return pdus, 0
    cut = pdus[:end].rstrip(b"\0")
    cut = pdus[:max(len(cut), off + 8)]
    return (cut, 4) if len(cut) < len(pdus) else (pdus, 0)


def sd_rec(conn, data, fix=False):
    data, pad = compact(data, fix)
    return u8(conn | (2 if fix else 0) | pad) + u16(len(data)) + data


def storaged_setup(h0, h1):
    """test_storaged / storaged_check.py's admin(): a ready controller and
    one I/O queue, each command its own record so its slot is free again."""
    recs = [sd_rec(0, icreq(h0)), sd_rec(0, connect(h0)), sd_rec(0, prop_set(h0, 0x14, 1 | 6 << 16 | 4 << 20)),
            sd_rec(0, prop_get(h0, 0x1c)), sd_rec(0, prop_get(h0, 0, True))]
    recs += [sd_rec(1, icreq(h1)), sd_rec(1, connect(h1, qid=1, cntlid=1))]
    return b"".join(recs)


def corpus_storaged():
    h0, h1 = tcp_host(), tcp_host()
    s = storaged_setup(h0, h1)
    s += sd_rec(0, admin(h0, 0x06, cdw10=1, length=4096))           # Identify controller
    s += sd_rec(0, admin(h0, 0x06, nsid=1, cdw10=0, length=4096))   # Identify namespace
    s += sd_rec(0, admin(h0, 0x09, cdw10=7, cdw11=0x00030003))      # Number of Queues
    s += sd_rec(0, admin(h0, 0x0a, cdw10=6))                        # Get VWC
    s += sd_rec(0, admin(h0, 0x02, cdw10=(1023 << 16) | 2, length=4096))  # SMART log
    s += sd_rec(0, admin(h0, 0x18) + admin(h0, 0x0c))               # Keep Alive, AER
    write("storaged", "admin", s)
    h0, h1 = tcp_host(), tcp_host()
    s = storaged_setup(h0, h1)
    s += sd_rec(1, rw(h1, 0x01, 2, 1, bytes(4096)))                 # write in capsule
    s += sd_rec(1, rw(h1, 0x01, 8, 3, bytes(12288), in_capsule=False))  # by R2T
    s += sd_rec(1, rw(h1, 0x02, 0, 4))                               # read
    s += sd_rec(1, h1.pdu(nt.CMD, nt.sqe(0x00, h1.next_cid(), 1)))   # flush
    s += sd_rec(1, h1.pdu(nt.CMD, nt.sqe(0x08, h1.next_cid(), 1, cdw10=4, cdw12=3 | 1 << 25)))
    dsm = struct.pack("<IIQ", 0, 2, 10) + struct.pack("<IIQ", 0, 1, 100)
    s += sd_rec(1, h1.pdu(nt.CMD, nt.sqe(0x09, h1.next_cid(), 1, cdw10=1, cdw11=1 << 2,
                                         sgl=(0, len(dsm), nt.SGL_INCAPSULE)), dsm))
    s += sd_rec(1, rw(h1, 0x02, 255, 2))                             # past the end
    write("storaged", "io", s)
    # Header and data digests, data aligned at CPDA 0 and HPDA 3.
    h0, h1 = tcp_host(True, True), tcp_host(True, True)
    s = sd_rec(0, icreq(h0, hpda=3), True) + sd_rec(0, connect(h0), True)
    s += sd_rec(0, prop_set(h0, 0x14, 1 | 6 << 16 | 4 << 20), True)
    s += sd_rec(1, icreq(h1, hpda=3), True) + sd_rec(1, connect(h1, qid=1, cntlid=1), True)
    s += sd_rec(1, rw(h1, 0x01, 1, 1, bytes(4096)), True) + sd_rec(1, rw(h1, 0x02, 1, 1), True)
    write("storaged", "digests", s)
    # storaged_check.py's malformed(): a PDU before ICReq, an unknown type,
    # a huge PLEN, H2CData for no R2T, a command before Connect.
    h = tcp_host()
    s = sd_rec(0, admin(h, 0x06, cdw10=1, length=4096))
    s += sd_rec(1, icreq(h) + struct.pack("<BBBBI", 0x0f, 0, 24, 0, 24) + bytes(16))
    write("storaged", "malformed-seq", s)
    h = tcp_host()
    s = sd_rec(0, icreq(h) + admin(h, 0x06, cdw10=1, length=4096))
    s += sd_rec(1, icreq(h) + h2c(h, 1, 5, 0, b"x" * 64))
    write("storaged", "before-connect", s)
    # More commands (flushes) than the SQ holds (32 entries), never waiting.
    h0, h1 = tcp_host(), tcp_host()
    s = storaged_setup(h0, h1)
    s += sd_rec(1, b"".join(h1.pdu(nt.CMD, nt.sqe(0x00, h1.next_cid(), 1)) for _ in range(34)))
    write("storaged", "sq-overrun", s)


def tgt_resp(t, cid, dw0=0, dw1=0, status=0):
    return t.pdu(nt.RESP, struct.pack("<IIHHHH", dw0, dw1, 0, 0, cid, status << 1))


def tgt_c2h(t, cid, data, datao=0, success=False):
    flags = nt.F_LAST | (nt.F_SUCCESS if success else 0)
    return t.pdu(nt.C2H_DATA, struct.pack("<HHII4x", cid, 0, datao, len(data)), data, flags)


def tgt_icresp(t, maxh2c=131072):
    dgst = (1 if t.hdgst else 0) | (2 if t.ddgst else 0)
    return t.pdu(nt.ICRESP, struct.pack("<HBBI", 0, 0, dgst, maxh2c) + bytes(112))


def id_ctrl(mdts=5, ioccsz=516):
    d = bytearray(4096)
    d[77] = mdts
    struct.pack_into("<IIH", d, 1792, ioccsz, 1, 0)
    return bytes(d)


def id_ns(nsze=256, lbads=12):
    d = bytearray(4096)
    struct.pack_into("<QQQ", d, 0, nsze, nsze, 0)
    struct.pack_into("<HBB", d, 128, 0, lbads, 0)
    return bytes(d)


def nh_rec(conn, unit, fix=False):
    unit, pad = compact(unit, fix)
    return u8(conn | (2 if fix else 0) | pad) + u16(len(unit)) + unit


CAP = 127 | 1 << 16 | 0x1e << 24 | 1 << 37


def nvmf_admin_units(t, csts=1):
    """What cv-storaged answers to nvmf_ctrl_connect's admin queue."""
    nsl = bytearray(4096)
    struct.pack_into("<I", nsl, 0, 1)
    return [tgt_icresp(t), tgt_resp(t, 0, dw0=1), tgt_resp(t, 0, CAP & 0xffffffff, CAP >> 32),
            tgt_resp(t, 0), tgt_resp(t, 0, dw0=csts), tgt_c2h(t, 0, id_ctrl(), success=True),
            tgt_c2h(t, 0, bytes(nsl), success=True), tgt_c2h(t, 0, id_ns(), success=True),
            tgt_resp(t, 0)]


def nvmf_seed(cfg, io_units, admin_units=None, fix=False):
    t = tcp_host(bool(cfg & 1), bool(cfg & 2))
    admin = admin_units if admin_units is not None else nvmf_admin_units(t)
    out = u8(cfg) + b"".join(nh_rec(0, x, fix) for x in admin)
    units = [tgt_icresp(t), tgt_resp(t, 0)] + [x(t) for x in io_units]
    return out + b"".join(nh_rec(1, x, fix) for x in units)


def corpus_nvmf_host():
    write("nvmf_host", "setup", nvmf_seed(0, []))
    # test_nvmf_host's RAM disk: a read (data, then its response), a write
    # through one R2T (16 KiB is over the 8 KiB in-capsule limit), a flush.
    rwf = [lambda t: tgt_c2h(t, 0, bytes(8192), success=True),
           lambda t: t.pdu(nt.R2T, struct.pack("<HHII4x", 1, 0, 0, 16384)),
           lambda t: tgt_resp(t, 2), lambda t: tgt_resp(t, 1)]
    write("nvmf_host", "read-write-flush", nvmf_seed(0x1c, rwf))
    write("nvmf_host", "digests", nvmf_seed(0x1f, rwf, fix=True))
    write("nvmf_host", "zeroes-dsm", nvmf_seed(0x60, [lambda t: tgt_resp(t, 0),
                                                      lambda t: tgt_resp(t, 1)]))
    # A fault test_nvmf_host's target injects: a response for a CID not
    # outstanding (the others are a mutation away from it).
    write("nvmf_host", "forged-cid", nvmf_seed(0x04, [lambda t: tgt_resp(t, 7)]))
    # A controller that reports a fatal status while enabling.
    t = tcp_host()
    write("nvmf_host", "csts-cfs", nvmf_seed(0, [], nvmf_admin_units(t, csts=2)))


def tcp_codec_seed(role_ctrl, ic_done, hdr, hdgst=False, ddgst=False, fix=False, hpda=0,
                   cpda=0, maxh2c=131072, icdata=8192, c2h=1 << 20, builds=b""):
    f = (1 if role_ctrl else 0) | (2 if ic_done else 0) | (4 if hdgst else 0) | \
        (8 if ddgst else 0) | (0x10 if fix else 0)
    hdr = hdr[:152].ljust(152, b"\0")
    return u8(f) + u8(hpda) + u8(cpda) + u32(maxh2c) + u32(icdata) + u32(c2h) + hdr + builds


def tcp_build(which, length=0, cid=1, ttag=0, off=0, extra=b""):
    return u8(which) + u16(length) + u16(cid) + u16(ttag) + u32(off) + extra


def corpus_nvme_tcp():
    every = tcp_build(0) + tcp_build(1) + tcp_build(2, 512, extra=bytes(64)) + \
        tcp_build(3, extra=bytes(16)) + tcp_build(4, 4096, ttag=3) + \
        tcp_build(5, 8192, extra=u8(4)) + tcp_build(6, 16384) + \
        tcp_build(7, extra=u8(24) + bytes(24)) + tcp_build(8, extra=u8(200) + bytes(200)) + \
        tcp_build(9, 1000)
    h = tcp_host()
    write("nvme_tcp", "icreq", tcp_codec_seed(True, False, icreq(h), builds=every))
    h = tcp_host(True, True)
    write("nvme_tcp", "capsule-digests", tcp_codec_seed(
        True, True, admin(h, 0x06, cdw10=1, length=4096), True, True, True, builds=every))
    h = tcp_host(cpda=3)
    write("nvme_tcp", "c2h-hpda", tcp_codec_seed(False, True, tgt_c2h(h, 1, bytes(64)), hpda=3,
                                                 builds=every))
    write("nvme_tcp", "term", tcp_codec_seed(False, True, struct.pack("<BBBBI", 3, 0, 24, 0, 40) +
                                             struct.pack("<HI", 1, 8) + bytes(26)))


# ---------------------------------------------------------------- NVMe PRP/SGL

PSDT_SGL = 1 << 6


def nvme_sqe(opc=0, flags=0, cid=0, nsid=1, prp1=0, prp2=0, sgl=None, cdw10=0, cdw11=0,
             cdw12=0, cdw13=0):
    dptr = struct.pack("<QQ", prp1, prp2) if sgl is None else sgl
    return struct.pack("<BBHIIIQ", opc, flags, cid, nsid, 0, 0, 0) + dptr + \
        struct.pack("<6I", cdw10, cdw11, cdw12, cdw13, 0, 0)


def sgl_desc(addr, length, type_):
    return struct.pack("<QI3xB", addr, length, type_ << 4)


def prp_seed(sqe, length, sgl_ok=True, room=64, pokes=()):
    out = sqe + u8((1 if sgl_ok else 0) | (room - 1) << 1) + u32(length)
    for region, off, data in pokes:
        out += u8(region) + u32(off) + u16(len(data)) + data
    return out


def corpus_nvme_prp():
    # test_nvme_ctrl's test_prp: one page, two pages, a list, a list that
    # chains (its pointer near the end of a page), an unaligned PRP1.
    write("nvme_prp", "prp1", prp_seed(nvme_sqe(prp1=0x1000), 4096))
    write("nvme_prp", "prp2", prp_seed(nvme_sqe(prp1=0x1200, prp2=0x3000), 8192))
    entries = b"".join(u64(0x10000 + 0x1000 * i) for i in range(4))
    write("nvme_prp", "prp-list", prp_seed(nvme_sqe(prp1=0x2000, prp2=0x8000), 5 * 4096,
                                           pokes=[(0, 0x8000, entries)]))
    chain = u64(0x11000) + u64(0x9000)
    write("nvme_prp", "prp-chain", prp_seed(nvme_sqe(prp1=0x2000, prp2=0x8ff0), 4 * 4096,
                                            pokes=[(0, 0x8ff0, chain),
                                                   (0, 0x9000, u64(0x12000) + u64(0x13000))]))
    write("nvme_prp", "prp-across", prp_seed(nvme_sqe(prp1=0x3f000, prp2=0x40000), 8192))
    write("nvme_prp", "prp-bad-offset", prp_seed(nvme_sqe(prp1=0x1002), 512, room=1))
    # test_sgl: a data block, then a segment pointing to a last segment.
    write("nvme_prp", "sgl-block", prp_seed(nvme_sqe(flags=PSDT_SGL,
                                                     sgl=sgl_desc(0x4000, 6000, 0)), 6000))
    last = sgl_desc(0x20000, 4096, 0) + sgl_desc(0x3e000, 12288, 0)
    seg = sgl_desc(0x6000, 512, 0) + sgl_desc(0xa000, len(last), 3)
    write("nvme_prp", "sgl-segments", prp_seed(
        nvme_sqe(flags=PSDT_SGL, sgl=sgl_desc(0x9000, len(seg), 2)), 512 + 4096 + 12288,
        pokes=[(0, 0x9000, seg), (0, 0xa000, last)]))
    write("nvme_prp", "sgl-top", prp_seed(nvme_sqe(
        flags=PSDT_SGL, sgl=sgl_desc((1 << 64) - 4096, 8192, 0)), 8192))


# ---------------------------------------------------------------- NVMe controller

def nc_w32(off, v):
    return u8(0) + u16(off) + u32(v)


def nc_poke(off, data):
    return u8(2) + u32(off) + u16(len(data)) + data


def nc_enable(depth=8):
    return u8(3) + u8(depth - 2)


def nc_admin(sqe):
    return u8(4) + sqe


def nc_io(qid, sqe):
    return u8(5) + u8(qid - 1) + sqe


def nc_reap(qid, n=255):
    return u8(6) + u8(qid) + u8(n)


def nc_ioq(qid=1, size=16, sq=0x9000, cq=0x8000, vector=1):
    """test_nvme_ctrl's make_ioq: Create I/O CQ (interrupts on), then SQ."""
    return nc_admin(nvme_sqe(0x05, cdw10=(size - 1) << 16 | qid, cdw11=1 | 2 | vector << 16,
                             prp1=cq)) + nc_reap(0) + \
        nc_admin(nvme_sqe(0x01, cdw10=(size - 1) << 16 | qid, cdw11=qid << 16 | 1, prp1=sq)) + \
        nc_reap(0)


NC_CFG = 4 | 3 << 3 | 1 << 5   # MDTS 5, 4 I/O queue pairs, 3 vectors


def corpus_nvme_ctrl():
    # test_identify and friends: Identify pages, log pages, features.
    s = u8(NC_CFG) + nc_enable()
    for sqe in (nvme_sqe(0x06, cdw10=1, prp1=0x3000), nvme_sqe(0x06, nsid=1, prp1=0x4000),
                nvme_sqe(0x06, cdw10=2, prp1=0x4000), nvme_sqe(0x06, nsid=1, cdw10=3, prp1=0x4000),
                nvme_sqe(0x02, cdw10=(1023 << 16) | 2, prp1=0x5000),
                nvme_sqe(0x02, cdw10=(15 << 16) | 1, prp1=0x5000),
                nvme_sqe(0x09, cdw10=7, cdw11=0x30003), nvme_sqe(0x0a, cdw10=7),
                nvme_sqe(0x09, cdw10=8, cdw11=0x0a04), nvme_sqe(0x0c)):
        s += nc_admin(sqe) + nc_reap(0)
    write("nvme_ctrl", "admin", s)
    # test_prp / test_sgl / test_io_checks: reads and writes by PRP list and
    # SGL, flush, write zeroes, deallocate, then the queues deleted.
    s = u8(NC_CFG) + nc_enable() + nc_ioq()
    s += nc_io(1, nvme_sqe(0x01, cdw12=1, prp1=0x10000, prp2=0x11000))
    s += nc_poke(0x30000, b"".join(u64(0x20000 + 0x1000 * i) for i in range(3)))
    s += nc_io(1, nvme_sqe(0x02, cdw10=8, cdw12=3, prp1=0x12000, prp2=0x30000))
    s += nc_io(1, nvme_sqe(0x02, flags=PSDT_SGL, cdw12=1, sgl=sgl_desc(0x40000, 8192, 0)))
    s += nc_io(1, nvme_sqe(0x00)) + nc_io(1, nvme_sqe(0x08, cdw10=100, cdw12=7))
    s += nc_poke(0x31000, struct.pack("<IIQ", 0, 8, 16))
    s += nc_io(1, nvme_sqe(0x09, cdw10=0, cdw11=1 << 2, prp1=0x31000))
    s += nc_io(1, nvme_sqe(0x02, cdw10=1020, cdw12=7, prp1=0x10000))   # past the end
    s += nc_reap(1) + u8(9)
    s += nc_admin(nvme_sqe(0x00, cdw10=1)) + nc_admin(nvme_sqe(0x04, cdw10=1)) + nc_reap(0)
    write("nvme_ctrl", "io", s)
    # test_delete_sq_waits / test_reset_drains: I/O held by the backend
    # while its SQ is deleted and the controller reset, then completed.
    s = u8(NC_CFG | 0x80) + nc_enable() + nc_ioq()
    s += nc_io(1, nvme_sqe(0x01, cdw12=0, prp1=0x10000)) + nc_io(1, nvme_sqe(0x02, prp1=0x11000))
    s += nc_admin(nvme_sqe(0x00, cdw10=1)) + nc_reap(0)
    s += u8(8) + u8(0) + u16(0) + nc_reap(0) + nc_w32(0x14, 0) + u8(8) + u8(0) + u16(0x4005)
    write("nvme_ctrl", "held", s)
    # Doorbell Buffer Config, a shadow tail and a kick for it (the card's
    # ioeventfd path), then a normal shutdown.
    s = u8(NC_CFG) + nc_enable() + nc_ioq()
    s += nc_admin(nvme_sqe(0x7c, prp1=0x6000, prp2=0x7000)) + nc_reap(0)
    s += nc_poke(0x9000, nvme_sqe(0x00)) + nc_poke(0x6000 + 8, u32(1)) + u8(7) + u16(2)
    s += nc_reap(1) + nc_w32(0x14, 1 | 6 << 16 | 4 << 20 | 1 << 14)
    write("nvme_ctrl", "dbbuf", s)
    # A controller replacing a dead one (CSTS.CFS), kicked admin doorbell.
    write("nvme_ctrl", "state-lost", u8(NC_CFG | 0x40) + nc_enable() + u8(7) + u16(0) +
          u8(1) + u16(0x1c) + u64(0) + u8(4))


# ---------------------------------------------------------------- VPC services

GUEST_MAC = bytes([0x0e, 0x12, 0x34, 0x56, 0x78, 0x9a])
ROUTER_MAC = bytes([0x0e, 0xfe, 0xed, 0xfa, 0xce, 0x01])
BCAST_MAC = b"\xff" * 6


def ip4(a, b, c, d):
    return bytes([a, b, c, d])


ENI_IP, GATEWAY, IMDS_IP = ip4(10, 0, 1, 23), ip4(10, 0, 1, 1), ip4(169, 254, 169, 254)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def ipv4_frame(dst_mac, src, dst, proto, l4, src_mac=GUEST_MAC):
    """tests/unit/vpc_test_eni.h's guest_ipv4_frame()."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return dst_mac + src_mac + b"\x08\x00" + hdr + l4


def arp_frame(op, tpa, spa=ENI_IP, sha=GUEST_MAC, src_mac=GUEST_MAC, hlen=6):
    return BCAST_MAC + src_mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, hlen, 4, op) + \
        sha + spa + bytes(6) + tpa


def corpus_vpc_arp():
    # test_vpc_arp: the gateway, the metadata address, another subnet host;
    # a probe, a gratuitous announcement, a reply, a spoofed sender.
    seeds = {"gateway": arp_frame(1, GATEWAY), "imds": arp_frame(1, IMDS_IP),
             "neighbour": arp_frame(1, ip4(10, 0, 1, 99)), "probe": arp_frame(1, ENI_IP, bytes(4)),
             "gratuitous": arp_frame(1, ENI_IP), "reply": arp_frame(2, GATEWAY),
             "spoofed": arp_frame(1, GATEWAY, ip4(10, 0, 1, 50)),
             "bad-hlen": arp_frame(1, GATEWAY, hlen=8)}
    for name, frame in seeds.items():
        write("vpc_arp", name, u8(0) + u16(1514) + frame)
    write("vpc_arp", "other-eni", u8(1) + ip4(192, 168, 7, 9) + u8(4) + u16(900) + u16(64) +
          arp_frame(1, ip4(192, 168, 0, 1), ip4(192, 168, 7, 9)))


def dhcp_frame(msg_type, ciaddr=bytes(4), flags=0, opts=b"", src=bytes(4),
               dst=b"\xff" * 4, chaddr=GUEST_MAC, giaddr=bytes(4)):
    bootp = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, 0x1234abcd, 0, flags, ciaddr,
                        bytes(4), bytes(4), giaddr)
    bootp += chaddr.ljust(16, b"\0") + bytes(64 + 128) + struct.pack("!I", 0x63825363)
    bootp += bytes([53, 1, msg_type]) + opts + b"\xff"
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    return ipv4_frame(BCAST_MAC, src, dst, 17, udp)


def corpus_vpc_dhcp():
    req_ip = bytes([50, 4]) + ENI_IP
    server = bytes([54, 4]) + GATEWAY
    seeds = {"discover": dhcp_frame(1), "discover-broadcast": dhcp_frame(1, flags=0x8000),
             "request-selecting": dhcp_frame(3, opts=server + req_ip),
             "request-wrong-nak": dhcp_frame(3, opts=server + bytes([50, 4]) + ip4(10, 0, 1, 24)),
             "request-renewing": dhcp_frame(3, ciaddr=ENI_IP, src=ENI_IP, dst=GATEWAY),
             "inform": dhcp_frame(8, ciaddr=ENI_IP, src=ENI_IP),
             "release": dhcp_frame(7, ciaddr=ENI_IP), "relayed": dhcp_frame(1, giaddr=GATEWAY),
             "other-client": dhcp_frame(1, chaddr=b"\x02" * 6),
             "option-overrun": dhcp_frame(1, opts=bytes([12, 200, 65]))}
    for name, frame in seeds.items():
        write("vpc_dhcp", name, u8(0) + u8(1) + u16(1514) + frame)
    write("vpc_dhcp", "small-room", u8(2) + b"host-with-a-long-name".ljust(63, b"\0") +
          b"example.internal".ljust(63, b"\0") + u8(1) + u16(300) + dhcp_frame(1))


def imds_seg(port, flags, data=b"", seq=None, ack=None, win=65535, mss=None):
    """A structured segment of fuzz_vpc_imds: tracked seq/ack unless given."""
    ctl = port << 1 | (0x08 if seq is None else 0) | (0x10 if ack is None else 0) | \
        (0x20 if mss else 0)
    out = u8(ctl) + u8(flags) + u16(win) + (u16(mss) if mss else b"")
    out += (b"" if seq is None else u32(seq)) + (b"" if ack is None else u32(ack))
    return out + u16(len(data)) + data


SYN, FIN, RST, PSH, ACK = 2, 1, 4, 8, 16


def imds_session(request, port=0, mss=1460):
    return imds_seg(port, SYN, seq=1000, ack=0, mss=mss) + imds_seg(port, ACK) + \
        imds_seg(port, ACK | PSH, request) + imds_seg(port, ACK) + imds_seg(port, ACK | FIN) + \
        imds_seg(port, ACK)


def http(method, path, fields=b"Host: 169.254.169.254\r\n", version=b"1.1"):
    return method + b" " + path + b" HTTP/" + version + b"\r\n" + fields + b"\r\n"


def corpus_vpc_imds():
    head = u8(0) + u8(0) + u16(9014)
    write("vpc_imds", "get-instance-id", head + imds_session(
        http(b"GET", b"/latest/meta-data/instance-id")))
    write("vpc_imds", "tree-and-mac", head + imds_session(http(b"GET", b"/latest/meta-data/")) +
          imds_session(http(b"GET", b"/latest/meta-data/network/interfaces/macs/"
                            b"0e:12:34:56:78:9a/subnet-ipv4-cidr-block"), port=1))
    write("vpc_imds", "token", head + imds_session(http(
        b"PUT", b"/latest/api/token", b"Host: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n")) +
        imds_session(http(b"GET", b"/latest/meta-data/hostname",
                          b"Host: x\r\nX-aws-ec2-metadata-token: " + b"0" * 48 + b"\r\n"), port=1))
    write("vpc_imds", "bad-requests", u8(0) + u8(1) + u16(9014) +
          imds_session(b"GET /latest HTTP/1.0\r\n\r\n") +
          imds_session(b"BREW /pot HTTP/2.0\r\nHost: a\r\n\r\n", port=1) +
          imds_session(b"GET /x HTTP/1.1\r\nBad : field\r\n\r\n", port=2) +
          imds_session(http(b"HEAD", b"/latest/meta-data/local-ipv4"), port=3))
    # test_spot_instance_action: a termination scheduled (ENI byte: spot, terminate).
    write("vpc_imds", "spot", u8(4 | 3 << 3) + u8(0) + u16(9014) +
          imds_session(http(b"GET", b"/latest/meta-data/spot/instance-action")))
    # test_request_in_pieces_small_mss / window recovery / retransmitted SYN / resets.
    s = head + imds_seg(0, SYN, seq=5, ack=0, mss=64) + imds_seg(0, SYN, seq=5, ack=0)
    s += imds_seg(0, ACK, win=100) + imds_seg(0, ACK | PSH, b"GET /latest/meta-data/loc")
    s += imds_seg(0, ACK | PSH, b"al-hostname HTTP/1.1\r\nHost: a\r\n\r\n", win=100)
    s += imds_seg(0, ACK, win=100) + imds_seg(0, ACK, win=100, ack=5)
    s += imds_seg(1, ACK, seq=9, ack=9) + imds_seg(0, RST, seq=7, ack=0)
    s += u8(1 | 2) + u16(60) + ipv4_frame(ROUTER_MAC, ENI_IP, IMDS_IP, 6, bytes(40))[:60]
    write("vpc_imds", "pieces-and-resets", s)


def vxlan(vni, flags=0x08):
    return bytes([flags, 0, 0, 0]) + struct.pack("!I", vni << 8)


def geneve(vni, opts=b"", flags=0, proto=0x6558):
    return bytes([len(opts) // 4, flags]) + struct.pack("!H", proto) + struct.pack("!I", vni << 8) + opts


def corpus_vpc_encap():
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + bytes(18)
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    inner = ipv4_frame(ROUTER_MAC, ip4(10, 0, 2, 7), ENI_IP, 1, icmp)
    tcp = ipv4_frame(ROUTER_MAC, ip4(10, 0, 2, 7), ENI_IP, 6,
                     struct.pack("!HHIIBBHHH", 443, 50000, 1, 0, 0x50, SYN, 65535, 0, 0))
    seeds = {"vxlan": (0, vxlan(0x123456) + inner), "vxlan-tcp": (0, vxlan(42) + tcp),
             "vxlan-reserved": (0, vxlan(42, 0x0c) + inner),
             "geneve": (1, geneve(0x123456) + inner),
             "geneve-option": (1, geneve(7, struct.pack("!HBB", 0x0102, 0x01, 1) + bytes(4)) + tcp),
             "geneve-critical": (1, geneve(7, struct.pack("!HBB", 0x0102, 0x81, 0)) + inner),
             "geneve-oam": (1, geneve(7, flags=0x80) + inner),
             "geneve-ipv6": (1, geneve(7, proto=0x86dd) + inner), "truncated": (0, vxlan(1)[:6])}
    for name, (kind, dgram) in seeds.items():
        write("vpc_encap", name, u8(kind) + u32(0x654321) + dgram)


def corpus_vpc_offload():
    # test_vpc_offload: TSO over IPv4 and IPv6, NEEDS_CSUM for TCP and UDP,
    # no offload, and headers the card refuses.
    def gso_frame(v6, payload, flags=ACK | PSH):
        tcp = struct.pack("!HHIIBBHHH", 40000, 80, 0xfffff000, 1, 0x50, flags, 512, 0, 0)
        data = bytes((i * 7 + (i >> 8)) & 0xff for i in range(payload))
        if v6:
            ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp) + payload, 6, 64,
                             b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01",
                             b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02")
            return ROUTER_MAC + GUEST_MAC + b"\x86\xdd" + ip + tcp + data
        return ipv4_frame(ROUTER_MAC, ENI_IP, ip4(10, 0, 2, 7), 6, tcp + data)

    def hdr(flags, gso_type, gso_size, csum_start, csum_offset, hdr_len=0):
        return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)

    udp = ipv4_frame(ROUTER_MAC, ENI_IP, ip4(10, 0, 2, 7), 17,
                     struct.pack("!HHHH", 12345, 53, 108, 0) + bytes(100))
    v4, v6 = gso_frame(False, 3000), gso_frame(True, 2500, ACK | FIN)
    seeds = {"tso4": (0x0f, hdr(1, 1, 1000, 34, 16, 54), v4),
             "tso6": (0x0f, hdr(1, 4, 1000, 54, 16, 74), v6),
             "tso4-one": (0x03, hdr(1, 1, 1460, 34, 16), gso_frame(False, 999, ACK | FIN)),
             "csum-tcp": (0x01, hdr(1, 0, 0, 34, 16), gso_frame(False, 500)),
             "csum-udp": (0x01, hdr(1, 0, 0, 34, 6), udp),
             "plain": (0x00, hdr(0, 0, 0, 0, 0), udp),
             "unnegotiated": (0x01, hdr(1, 1, 1000, 34, 16), v4),
             "ecn": (0x0f, hdr(1, 0x81, 1000, 34, 16), v4),
             "gso-size-tiny": (0x0f, hdr(1, 1, 2, 34, 16), v4)}
    for name, (how, h, frame) in seeds.items():
        write("vpc_offload", name, u8(how) + h + frame)


# ---------------------------------------------------------------- VPC files

def corpus_vpc_sg():
    frame = ipv4_frame(ROUTER_MAC, ip4(10, 0, 2, 7), ENI_IP, 6,
                       struct.pack("!HHIIBBHHH", 40000, 22, 1, 0, 0x50, SYN, 65535, 0, 0))
    # test_vpc_sg: rules of every kind, comments, blanks, CRLF, and errors.
    texts = {"web": "# web server\n\ningress tcp 80 0.0.0.0/0   # http\n"
                    "\t ingress  tcp\t443  0.0.0.0/0\r\negress all 0.0.0.0/0",
             "kinds": "ingress tcp 22 10.0.0.0/8\ningress udp 5000-5100 192.168.0.0/16\n"
                      "ingress icmp 8 0.0.0.0/0\ningress icmp 3:4 10.0.0.0/8\n"
                      "egress all 10.1.2.3\negress tcp all 0.0.0.0/0\n",
             "bad-range": "ingress tcp 100-50 0.0.0.0/0",
             "host-bits": "ingress tcp 22 10.0.0.1/8",
             "too-many-fields": "egress all 0.0.0.0/0\na b c d e f g h i"}
    for name, text in texts.items():
        write("vpc_sg", name, u8(len(frame)) + frame + text.encode())


def corpus_vpc_mapping():
    # test_vpc_mapping's table and its errors.
    texts = {"table": "# vni private     underlay\n42 10.0.1.5  192.168.0.2\n"
                      "42 10.0.1.6  192.168.0.3:5000 vxlan\n\n"
                      "7  10.0.1.5  192.168.0.4 geneve   # same address, other VPC\n"
                      "16777215 10.0.0.1 192.168.0.5:7000 geneve\n",
             "duplicate": "42 10.0.0.1 1.2.3.4\n\n42 10.0.0.1 5.6.7.8",
             "bad-port": "42 10.0.0.1 1.2.3.4:65536",
             "bad-encap": "42 10.0.0.1 1.2.3.4 gre",
             # Enough entries to grow the hash table twice, in two VNIs
             # (removals then shift entries back across whole clusters).
             "grow": "".join("%d 10.0.%d.%d 192.168.0.%d%s\n" % (
                 i % 2, i // 256, i % 256, i % 250 + 1, " geneve" if i % 3 else "")
                 for i in range(40))}
    for name, text in texts.items():
        write("vpc_mapping", name, text.encode())


# ---------------------------------------------------------------- instance FDT

def fdt(tree):
    """A flattened device tree blob (devicetree spec v0.4, version 17) of
    tree: {"name": ..., "props": [(name, bytes)], "children": [tree]}."""
    strings, offs = b"", {}
    struct_ = b""

    def pad(b):
        return b + bytes(-len(b) % 4)

    def node(t):
        nonlocal strings, struct_
        struct_ += u32be(1) + pad(t["name"].encode() + b"\0")
        for name, value in t.get("props", []):
            if name not in offs:
                offs[name] = len(strings)
                strings += name.encode() + b"\0"
            struct_ += u32be(3) + u32be(len(value)) + u32be(offs[name]) + pad(value)
        for c in t.get("children", []):
            node(c)
        struct_ += u32be(2)

    node(tree)
    struct_ += u32be(9)
    off_rsv = 40
    off_struct = off_rsv + 16
    off_strings = off_struct + len(struct_)
    total = off_strings + len(strings)
    hdr = b"".join(u32be(v) for v in (0xd00dfeed, total, off_struct, off_strings, off_rsv,
                                      17, 16, 0, len(strings), len(struct_)))
    return hdr + bytes(16) + struct_ + strings


def u32be(v):
    return struct.pack(">I", v & 0xffffffff)


def fstr(v):
    return v.encode() + b"\0"


def corpus_instance():
    boot = {"name": "boot", "props": [("kernel", fstr("/boot/vmlinuz")),
                                      ("initrd", fstr("/boot/initrd.img")),
                                      ("cmdline", fstr("console=ttyS0 quiet")), ("linux", b"")]}
    root = [("compatible", fstr("cardvisor,instance-v1")),
            ("instance-id", fstr("i-0123456789abcdef0")), ("instance-type", fstr("cv.small")),
            ("vcpus", u32be(2)), ("memory", struct.pack(">Q", 3 << 30)),
            ("quirks", fstr("auto,-inject-int3"))]
    write("instance", "minimal", fdt({"name": "", "props": root, "children": [boot]}))
    volume = {"name": "volume@0", "props": [
        ("volume-id", fstr("vol-0123")), ("target", fstr("127.0.0.1:4420")),
        ("subnqn", fstr("nqn.2026-11.io.cardvisor:vol-0123")), ("key-file", fstr("/run/k")),
        ("socket", fstr("/run/v.sock")), ("face", fstr("vhost-user-blk")),
        ("queues", u32be(2)), ("iops", struct.pack(">Q", 3000)), ("hold-ms", struct.pack(">Q", 5))]}
    nic = {"name": "nic@0", "props": [
        ("eni-id", fstr("eni-0a1b")), ("socket", fstr("/run/n.sock")),
        ("subnet", fstr("10.0.1.0/24")), ("ipv4", fstr("10.0.1.23")),
        ("underlay", fstr("127.0.0.1:4789")), ("encap", fstr("vxlan")),
        ("mapping-file", fstr("/etc/map")), ("mac", GUEST_MAC), ("vni", u32be(42)),
        ("pci-slot", u32be(3)), ("conntrack", u32be(4096))]}
    vfio = {"name": "device@4", "props": [("socket", fstr("/run/d.sock")), ("pci-slot", u32be(4))]}
    write("instance", "full", fdt({"name": "", "props": root, "children": [
        boot, {"name": "vfio-user", "children": [vfio]},
        {"name": "volumes", "children": [volume]}, {"name": "nics", "children": [nic]}]}))


# ---------------------------------------------------------------- kernel loaders

MIB = 1 << 20


def elf_pvh(paddr=MIB, filesz=0x100, memsz=0x3000, entry=MIB + 0x10, note_desc=4,
            note_align=4, machine=62, type_=2, elf_class=2):
    """test_loader's build_elf(): ELF header, PT_LOAD and PT_NOTE, a GNU note
    to step over, the Xen PVH entry note, then the segment's bytes (zeros)."""
    text_off, note_off = 0x200, 0x100
    a = note_align
    notes = struct.pack("<III", 4, 3, 3) + b"GNU\0"
    notes = notes.ljust((len(notes) + a - 1) // a * a, b"\0") + b"abc"
    notes = notes.ljust((len(notes) + a - 1) // a * a, b"\0")
    if note_desc:
        xen = struct.pack("<III", 4, note_desc, 18) + b"Xen\0"
        xen = xen.ljust((len(xen) + a - 1) // a * a, b"\0")
        notes += xen + struct.pack("<Q", entry)[:note_desc]
    ident = b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9)
    eh = ident + struct.pack("<HHIQQQIHHHHHH", type_, machine, 1, 0xffffffff81000000, 64, 0,
                             0, 64, 56, 2, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, text_off, 0xffffffff81000000, paddr, filesz, memsz,
                     0x1000)
    ph += struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(notes), 0, note_align)
    f = bytearray(text_off + filesz)
    f[0:len(eh)] = eh
    f[64:64 + len(ph)] = ph
    f[note_off:note_off + len(notes)] = notes
    return bytes(f)


def bzimage(version=0x020f, xloadflags=3, setup_sects=1, kernel_size=0x100, relocatable=1,
            pref_address=16 * MIB, init_size=0x200000, cmdline_size=2047):
    """test_boot_params's bz_file(): boot sector, setup header (boot.rst),
    setup_sects more sectors, then the protected-mode kernel (zeros here)."""
    setup = (setup_sects + 1) * 512
    f = bytearray(setup + kernel_size)
    struct.pack_into("<BHIHHHH", f, 0x1f1, setup_sects, 0, kernel_size // 16, 0, 0, 0, 0xaa55)
    struct.pack_into("<H4sH", f, 0x200, 0xeb | (0x26c - 0x202) << 8, b"HdrS", version)
    struct.pack_into("<B", f, 0x211, 1)                  # LOADED_HIGH
    struct.pack_into("<I", f, 0x214, 0x100000)           # code32_start
    struct.pack_into("<IIBBHI", f, 0x22c, 0x7fffffff, 0x200000, relocatable, 21, xloadflags,
                     cmdline_size)
    struct.pack_into("<QI", f, 0x258, pref_address, init_size)
    return bytes(f)


def loader_seed(image, initrd=0, cmdline=b"console=ttyS0"):
    """The image's trailing zeros are left to the harness's padding."""
    return u8(1 if initrd else 0) + u16(initrd) + u8(len(cmdline)) + cmdline + \
        u32(len(image)) + image.rstrip(b"\0")


def corpus_loader():
    write("loader", "pvh", loader_seed(elf_pvh()))
    write("loader", "pvh-initrd-note8", loader_seed(elf_pvh(note_desc=8, note_align=8), 4096))
    write("loader", "pvh-outside-ram", loader_seed(elf_pvh(paddr=64 * MIB - 0x1000)))
    write("loader", "pvh-no-note", loader_seed(elf_pvh(note_desc=0)))
    write("loader", "bzimage", loader_seed(bzimage(), 8192))
    write("loader", "bzimage-fixed", loader_seed(bzimage(relocatable=0, pref_address=0x10000)))
    write("loader", "bzimage-old", loader_seed(bzimage(version=0x020b)))
    write("loader", "bzimage-long-cmdline", loader_seed(bzimage(cmdline_size=8),
                                                        cmdline=b"x" * 200))


# ---------------------------------------------------------------- vfio-user

VFU = {"VERSION": 1, "DMA_MAP": 2, "DMA_UNMAP": 3, "GET_INFO": 4, "GET_REGION_INFO": 5,
       "GET_REGION_IO_FDS": 6, "GET_IRQ_INFO": 7, "SET_IRQS": 8, "REGION_READ": 9,
       "REGION_WRITE": 10, "RESET": 13}
MSIX = 4          # VFIO_PCI_MSIX_IRQ_INDEX
BAR0, CONFIG = 0, 7
IRQ_DATA_NONE, IRQ_DATA_BOOL, IRQ_DATA_EVENTFD, IRQ_TRIGGER = 1, 2, 4, 32


def vfu_msg(cmd, payload=b"", fds=0, msg_id=0, flags=0):
    m = struct.pack("<HHIII", msg_id, VFU[cmd], 16 + len(payload), flags, 0) + payload
    return u8(fds) + u16(len(m)) + m


def vfu_version(json=b'{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576}}'):
    return vfu_msg("VERSION", struct.pack("<HH", 0, 0) + json + b"\0")


def corpus_vfio_server():
    # test_vfio_server: negotiation, DMA, regions, ioeventfds, IRQs, reset.
    s = vfu_version()
    s += vfu_msg("DMA_MAP", struct.pack("<IIQQQ", 32, 3, 0, 0x100000, 0x10000), fds=1, msg_id=1)
    s += vfu_msg("GET_INFO", struct.pack("<IIII", 16, 0, 0, 0), msg_id=2)
    s += vfu_msg("GET_REGION_INFO", struct.pack("<IIIIQQ", 32, 0, CONFIG, 0, 0, 0), msg_id=3)
    s += vfu_msg("GET_REGION_IO_FDS", struct.pack("<IIII", 4096, 0, BAR0, 0), msg_id=4)
    s += vfu_msg("GET_IRQ_INFO", struct.pack("<IIII", 16, 0, MSIX, 0), msg_id=5)
    s += vfu_msg("SET_IRQS", struct.pack("<IIIII", 20, IRQ_DATA_EVENTFD | IRQ_TRIGGER, MSIX, 1, 2),
                 fds=2 | 1 << 3, msg_id=6)
    s += vfu_msg("REGION_READ", struct.pack("<QII", 0, CONFIG, 64), msg_id=7)
    s += vfu_msg("REGION_WRITE", struct.pack("<QII", 0, BAR0, 8) + u64(0x100100), msg_id=8)
    s += vfu_msg("REGION_WRITE", struct.pack("<QII", 8, BAR0, 4) + u32(1), msg_id=9)
    s += vfu_msg("SET_IRQS", struct.pack("<IIIII", 22, IRQ_DATA_BOOL | IRQ_TRIGGER, MSIX, 1, 2) +
                 b"\x01\x01", msg_id=10)
    s += vfu_msg("SET_IRQS", struct.pack("<IIIII", 20, IRQ_DATA_NONE | IRQ_TRIGGER, MSIX, 0, 1),
                 msg_id=13)
    s += vfu_msg("DMA_UNMAP", struct.pack("<IIQQ", 24, 0, 0x100000, 0x10000), msg_id=11)
    s += vfu_msg("RESET", msg_id=12)
    write("vfio_server", "session", s)
    # What the server refuses: anything before VERSION, a DMA_MAP without its fd, a
    # region access past the end, a SET_IRQS with /dev/null.
    write("vfio_server", "before-version", vfu_msg("GET_INFO", struct.pack("<IIII", 16, 0, 0, 0)))
    s = vfu_version() + vfu_msg("DMA_MAP", struct.pack("<IIQQQ", 32, 3, 0, 0x100000, 0x10000))
    s += vfu_msg("REGION_READ", struct.pack("<QII", 4090, CONFIG, 64))
    s += vfu_msg("SET_IRQS", struct.pack("<IIIII", 20, IRQ_DATA_EVENTFD | IRQ_TRIGGER, MSIX, 0, 1),
                 fds=4)
    s += vfu_msg("REGION_WRITE", struct.pack("<QII", 0, BAR0, 8) + u64(0x100100), flags=0x10)
    write("vfio_server", "refused", s)
    write("vfio_server", "bad-version", vfu_version(b'{"capabilities":[1,2]}'))


def corpus_nvme_tls():
    # test_nvme_tls's identities and the keys nvme-cli's gen-tls-key wrote.
    host = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001"
    sub = "nqn.2026-11.io.cardvisor:vol-1"
    write("nvme_tls", "identity", b"\x00" + f"NVMe0R01 {host} {sub}".encode())
    write("nvme_tls", "identity-sha384", b"\x00" + f"NVMe0R02 {host} {sub}".encode())
    write("nvme_tls", "identity-version1", b"\x00" + f"NVMe1R01 {host} {sub} digest".encode())
    write("nvme_tls", "key-sha256",
          b"\x01NVMeTLSkey-1:01:EvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo:")
    write("nvme_tls", "key-sha384",
          b"\x01NVMeTLSkey-1:02:ZZ5RGJDhVe7qGK14RlPWesUrUdRR16mzpOv92gQWyB7+C2vSTOtkS9yhQQyn"
          b"bSfLJoynkw==:")
    write("nvme_tls", "key-bad-crc",
          b"\x01NVMeTLSkey-1:01:FvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo:")


def corpus_etcd_watch():
    # What etcd 3.4's gateway streams on /v3/watch (one JSON object a line);
    # the first byte is the harness's chunk size.
    h = ('"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
         '"revision":"9","raft_term":"2"}')

    def b64(s):
        return base64.b64encode(s).decode()

    def put(key, rev, value=b"", lease=""):
        kv = (f'"key":"{b64(key)}","create_revision":"{rev}","mod_revision":"{rev}",'
              f'"version":"1","value":"{b64(value)}"')
        return '{"kv":{' + kv + (f',"lease":"{lease}"' if lease else "") + '}}'

    def delete(key, rev):
        return '{"type":"DELETE","kv":{"key":"' + b64(key) + f'","mod_revision":"{rev}"' + '}}'

    def msg(body):
        return ('{"result":{' + h + "," + body + "}}\n").encode()

    created = msg('"created":true')
    write("etcd_watch", "events", b"\x00" + created +
          msg('"events":[' + put(b"/k/a", 6, b"v1") + "," + delete(b"/k/b", 7) + "]"))
    write("etcd_watch", "chunked", b"\x07" + created +
          msg('"events":[' + put(b"/k/a", 8, b"\x00\x01\x02\xff", "2324035879921996808") + "]") +
          msg('"events":[' + put(b"/k/c", 9) + "]"))
    write("etcd_watch", "compacted", b"\x00" + msg('"compact_revision":"12","canceled":true'))
    write("etcd_watch", "canceled",
          b"\x00" + msg('"canceled":true,"cancel_reason":"etcdserver: no leader"'))
    write("etcd_watch", "stream-error",
          b'\x00{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",'
          b'"http_status":"Service Unavailable"}}\n')
    write("etcd_watch", "old-event", b"\x00" + msg('"events":[' + put(b"/k/a", 3) + "]"))


CORPORA = [corpus_virtq, corpus_vblk, corpus_vhost_user, corpus_storaged, corpus_nvmf_host,
           corpus_nvme_tcp, corpus_nvme_prp, corpus_nvme_ctrl, corpus_vpc_arp, corpus_vpc_dhcp, corpus_vpc_imds,
           corpus_vpc_encap, corpus_vpc_offload, corpus_vpc_sg, corpus_vpc_mapping,
           corpus_instance, corpus_loader, corpus_vfio_server, corpus_nvme_tls,
           corpus_etcd_watch]

if __name__ == "__main__":
    for make in CORPORA:
        make()
