#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small NVMe/TCP host (NVMe/TCP transport 1.0, NVMe Base 2.0 Fabrics) in
plain sockets and struct, to drive cv-storaged in tests where the kernel's
nvme-tcp is not available.  It speaks ICReq, Connect, Property Get/Set,
Identify, Read/Write (in-capsule and R2T/H2CData), C2HData, header and data
digests, and can send raw bytes to test how the target handles bad PDUs."""

import socket
import struct

ICREQ, ICRESP, H2C_TERM, C2H_TERM, CMD, RESP, H2C_DATA, C2H_DATA, R2T = 0, 1, 2, 3, 4, 5, 6, 7, 9
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 1, 2, 4, 8
HLEN = {ICREQ: 128, ICRESP: 128, H2C_TERM: 24, C2H_TERM: 24, CMD: 72, RESP: 24,
        H2C_DATA: 24, C2H_DATA: 24, R2T: 24}

SGL_INCAPSULE = 0x01   # Data Block, Offset subtype
SGL_TRANSPORT = 0x5a   # Transport SGL Data Block, transport specific subtype
NQN_PREFIX = "nqn.2026-11.io.cardvisor:"
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001"
BLOCK = 4096

# Status codes, (SCT << 8) | SC.
SC_SUCCESS, SC_INVALID_OPCODE, SC_INVALID_FIELD = 0x000, 0x001, 0x002
SC_SEQ_ERROR, SC_TRANSIENT, SC_LBA_RANGE = 0x00c, 0x022, 0x080
SC_CONNECT_INVALID_PARAM = 0x182


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc = _T[(crc ^ b) & 0xff] ^ (crc >> 8)
    return crc ^ 0xffffffff


class Closed(Exception):
    pass


class Term(Exception):
    """The controller sent a C2HTermReq."""

    def __init__(self, fes, fei):
        super().__init__("C2HTermReq FES %d FEI %d" % (fes, fei))
        self.fes, self.fei = fes, fei


def sqe(opc, cid=0, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0,
        sgl=(0, 0, SGL_TRANSPORT), fctype_bytes=None):
    """A 64-byte submission queue entry; PSDT 01b (SGL) as Linux sends."""
    addr, length, sgl_id = sgl
    dptr = struct.pack("<QI3xB", addr, length, sgl_id)
    head = struct.pack("<BBHIIIQ", opc, 0x40, cid, nsid, 0, 0, 0)
    tail = struct.pack("<6I", cdw10, cdw11, cdw12, cdw13, cdw14, cdw15)
    s = head + dptr + tail
    if fctype_bytes is not None:   # Fabrics: bytes 4..23 and 40..63 are its own
        s = s[:4] + fctype_bytes[0] + s[24:40] + fctype_bytes[1]
    assert len(s) == 64
    return s


class Host:
    def __init__(self, port, addr="127.0.0.1", hdgst=False, ddgst=False, timeout=10):
        self.sock = socket.create_connection((addr, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hdgst, self.ddgst = hdgst, ddgst
        self.cid = 0
        self.maxh2cdata = 0
        self.cpda = 0
        self.qid = None
        self.cntlid = None
        self.dnr = {}         # cid -> Do Not Retry of its last response

    def close(self):
        self.sock.close()

    # ---- PDUs ----
    def raw(self, data):
        self.sock.sendall(data)

    def pdu(self, ptype, psh, data=b"", flags=0, hdgst=None, ddgst=None,
            bad_hdgst=False, bad_ddgst=False):
        """Build a PDU: CH + PSH, header digest, padding to CPDA, data, data digest."""
        hlen = HLEN[ptype]
        hd = self.hdgst if hdgst is None else hdgst
        dd = (self.ddgst if ddgst is None else ddgst) and len(data) > 0
        if ptype in (ICREQ, ICRESP, H2C_TERM, C2H_TERM):
            hd = dd = False
        hdr_len = hlen + (4 if hd else 0)
        pdo = 0
        if data:
            align = (self.cpda + 1) * 4
            pdo = (hdr_len + align - 1) // align * align
        flags |= (F_HDGST if hd else 0) | (F_DDGST if dd else 0)
        plen = (pdo if data else hdr_len) + len(data) + (4 if dd else 0)
        h = struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen) + psh
        assert len(h) == hlen, (ptype, len(h))
        if hd:
            h += struct.pack("<I", crc32c(h) ^ (1 if bad_hdgst else 0))
        if data:
            h += b"\0" * (pdo - len(h))
            h += data
            if dd:
                h += struct.pack("<I", crc32c(data) ^ (1 if bad_ddgst else 0))
        return h

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Closed("connection closed by the controller")
            buf += chunk
        return buf

    def recv(self):
        """One PDU: (type, flags, header bytes incl. CH, data), digests checked."""
        ch = self._recv_exact(8)
        ptype, flags, hlen, pdo, plen = struct.unpack("<BBBBI", ch)
        rest = self._recv_exact(plen - 8)
        pdu = ch + rest
        hdr = pdu[:hlen]
        if ptype == C2H_TERM:
            fes, fei = struct.unpack_from("<HI", pdu, 8)
            raise Term(fes, fei)
        off = hlen
        if flags & F_HDGST:
            (d,) = struct.unpack_from("<I", pdu, hlen)
            assert d == crc32c(hdr), "bad header digest from the controller"
            off += 4
        data = b""
        if pdo:
            end = plen - (4 if flags & F_DDGST else 0)
            data = pdu[pdo:end]
            if flags & F_DDGST:
                (d,) = struct.unpack_from("<I", pdu, end)
                assert d == crc32c(data), "bad data digest from the controller"
        return ptype, flags, hdr, data

    # ---- Connection ----
    def icreq(self, hpda=0):
        dgst = (1 if self.hdgst else 0) | (2 if self.ddgst else 0)
        psh = struct.pack("<HBBI", 0, hpda, dgst, 0) + b"\0" * 112
        self.raw(self.pdu(ICREQ, psh))
        ptype, _, hdr, _ = self.recv()
        assert ptype == ICRESP, ptype
        pfv, cpda, dgst_ok, maxh2c = struct.unpack_from("<HBBI", hdr, 8)
        assert dgst_ok == dgst, (dgst_ok, dgst)
        self.cpda, self.maxh2cdata = cpda, maxh2c
        return maxh2c

    def next_cid(self):
        self.cid = (self.cid + 1) & 0xffff
        return self.cid

    def submit(self, s, data=b"", in_capsule=True, flags=0, bad_ddgst=False, bad_hdgst=False):
        """Send one command capsule (data in it when in_capsule)."""
        if data and in_capsule:
            s = s[:24] + struct.pack("<QI3xB", 0, len(data), SGL_INCAPSULE) + s[40:]
            return self.raw(self.pdu(CMD, s, data, flags, bad_ddgst=bad_ddgst,
                                     bad_hdgst=bad_hdgst))
        self.raw(self.pdu(CMD, s, flags=flags, bad_hdgst=bad_hdgst))

    def h2c(self, cccid, ttag, datao, data, last, bad_ddgst=False):
        psh = struct.pack("<HHII4x", cccid, ttag, datao, len(data))
        self.raw(self.pdu(H2C_DATA, psh, data, F_LAST if last else 0, bad_ddgst=bad_ddgst))

    def wait(self, cmds):
        """Serve R2Ts and collect C2HData until every cid in cmds (cid ->
        H2C payload or None) has a response.  Returns cid -> (status, dw0, dw1, data)."""
        out, rdata = {}, {}
        while len(out) < len(cmds):
            ptype, flags, hdr, data = self.recv()
            if ptype == R2T:
                cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", hdr, 8)
                payload = cmds[cccid]
                assert payload is not None and r2to + r2tl <= len(payload)
                off = r2to
                while off < r2to + r2tl:
                    n = min(self.maxh2cdata, r2to + r2tl - off)
                    self.h2c(cccid, ttag, off, payload[off:off + n], off + n == r2to + r2tl)
                    off += n
            elif ptype == C2H_DATA:
                cccid, _, datao, datal = struct.unpack_from("<HHII", hdr, 8)
                assert datal == len(data)
                buf = rdata.setdefault(cccid, bytearray())
                assert datao == len(buf), "C2HData out of order"
                buf += data
            elif ptype == RESP:
                dw0, dw1, sqhd, sqid, cid, status = struct.unpack_from("<IIHHHH", hdr, 8)
                out[cid] = ((status >> 1) & 0x7ff, dw0, dw1, bytes(rdata.pop(cid, b"")))
                self.dnr[cid] = bool(status & 0x8000)
            else:
                raise AssertionError("unexpected PDU type %d" % ptype)
        return out

    def cmd(self, s, data=b"", in_capsule=None):
        """Run one command; data is write payload. Returns (status, dw0, dw1, read data)."""
        cid = struct.unpack_from("<H", s, 2)[0]
        if in_capsule is None:
            in_capsule = len(data) <= 8192
        if data and not in_capsule:
            s = s[:24] + struct.pack("<QI3xB", 0, len(data), SGL_TRANSPORT) + s[40:]
        self.submit(s, data, in_capsule)
        return self.wait({cid: data or None})[cid]

    # ---- Fabrics and admin ----
    def connect(self, volume, qid=0, sqsize=31, cntlid=0xffff, kato=None, subnqn=None,
                hostid=b"\x11" * 16):
        cid = self.next_cid()
        # cv-storaged requires keep alive on the admin queue; these tests
        # end well within a minute.
        if kato is None:
            kato = 0 if qid else 60000
        subnqn = subnqn if subnqn is not None else NQN_PREFIX + volume
        d = hostid + struct.pack("<H", cntlid) + b"\0" * 238
        d += subnqn.encode().ljust(256, b"\0") + HOSTNQN.encode().ljust(256, b"\0")
        d += b"\0" * 256
        f = (struct.pack("<B19x", 0x01), struct.pack("<HHHBxI12x", 0, qid, sqsize, 0, kato))
        s = sqe(0x7f, cid, sgl=(0, 1024, SGL_TRANSPORT), fctype_bytes=f)
        st, dw0, dw1, _ = self.cmd(s, d, in_capsule=(qid == 0))
        if st == 0:
            self.qid, self.cntlid = qid, dw0 & 0xffff
        return st, dw0

    def prop_get(self, offset, size8=False):
        cid = self.next_cid()
        f = (struct.pack("<B19x", 0x04), struct.pack("<B3xI16x", 1 if size8 else 0, offset))
        st, dw0, dw1, _ = self.cmd(sqe(0x7f, cid, sgl=(0, 0, SGL_TRANSPORT), fctype_bytes=f))
        return st, dw0 | dw1 << 32

    def prop_set(self, offset, value):
        cid = self.next_cid()
        f = (struct.pack("<B19x", 0x00), struct.pack("<B3xIQ8x", 0, offset, value))
        return self.cmd(sqe(0x7f, cid, sgl=(0, 0, SGL_TRANSPORT), fctype_bytes=f))[0]

    def enable(self):
        # CC: EN, IOSQES 6, IOCQES 4.
        assert self.prop_set(0x14, 1 | 6 << 16 | 4 << 20) == 0
        st, csts = self.prop_get(0x1c)
        return st == 0 and csts & 1

    def identify(self, cns, nsid=0):
        cid = self.next_cid()
        st, _, _, data = self.cmd(sqe(0x06, cid, nsid, cdw10=cns, sgl=(0, 4096, SGL_TRANSPORT)))
        return st, data

    def set_features(self, fid, cdw11):
        cid = self.next_cid()
        st, dw0, _, _ = self.cmd(sqe(0x09, cid, cdw10=fid, cdw11=cdw11, sgl=(0, 0, SGL_TRANSPORT)))
        return st, dw0

    def keep_alive(self):
        return self.cmd(sqe(0x18, self.next_cid(), sgl=(0, 0, SGL_TRANSPORT)))[0]

    # ---- NVM ----
    def rw_sqe(self, opc, slba, nblocks, fua=False, length=None):
        cid = self.next_cid()
        n = nblocks * BLOCK if length is None else length
        return sqe(opc, cid, 1, cdw10=slba & 0xffffffff, cdw11=slba >> 32,
                   cdw12=(nblocks - 1) | (1 << 30 if fua else 0), sgl=(0, n, SGL_TRANSPORT))

    def write(self, slba, data, fua=False, in_capsule=None):
        return self.cmd(self.rw_sqe(0x01, slba, len(data) // BLOCK, fua), data, in_capsule)[0]

    def read(self, slba, nblocks):
        st, _, _, data = self.cmd(self.rw_sqe(0x02, slba, nblocks))
        return st, data

    def flush(self):
        return self.cmd(sqe(0x00, self.next_cid(), 1, sgl=(0, 0, SGL_TRANSPORT)))[0]

    def write_zeroes(self, slba, nblocks, deac=False):
        cid = self.next_cid()
        s = sqe(0x08, cid, 1, cdw10=slba & 0xffffffff, cdw11=slba >> 32,
                cdw12=(nblocks - 1) | (1 << 25 if deac else 0), sgl=(0, 0, SGL_TRANSPORT))
        return self.cmd(s)[0]

    def deallocate(self, ranges):
        cid = self.next_cid()
        data = b"".join(struct.pack("<IIQ", 0, n, slba) for slba, n in ranges)
        s = sqe(0x09, cid, 1, cdw10=len(ranges) - 1, cdw11=1 << 2,
                sgl=(0, len(data), SGL_TRANSPORT))
        return self.cmd(s, data)[0]


def open_admin(port, volume, **kw):
    """ICReq, admin Connect, CC.EN: a ready controller."""
    h = Host(port, **kw)
    h.icreq()
    st, _ = h.connect(volume)
    assert st == 0, "admin connect: status 0x%x" % st
    assert h.enable()
    return h


def open_io(port, volume, cntlid, qid=1, sqsize=63, **kw):
    h = Host(port, **kw)
    h.icreq()
    st, _ = h.connect(volume, qid=qid, sqsize=sqsize, cntlid=cntlid)
    assert st == 0, "I/O connect: status 0x%x" % st
    return h
