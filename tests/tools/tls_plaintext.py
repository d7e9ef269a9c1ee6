#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turn a capture of NVMe/TCP over TLS into a capture of plain NVMe/TCP.

    tls_plaintext.py IN.pcap KEYLOG PORT OUT.pcap

tshark decrypts every TCP stream of IN.pcap with the session secrets in
KEYLOG (NSS key log format, as SSLKEYLOGFILE writes it) and prints each
direction's plaintext (`-z follow,tls,raw`); text2pcap wraps it again in
TCP to port PORT, one connection per stream, so tshark's own nvme-tcp
dissector (which this Wireshark does not run under TLS) can check every
PDU and digest.  Wireshark does all the decryption: a stream it cannot
decrypt comes out empty, and the caller's PDU counts show it.
Prints the number of streams and of plaintext bytes.
"""
import os
import subprocess
import sys
import tempfile


def streams(pcap, port):
    out = subprocess.run(
        ["tshark", "-r", pcap, "-Y", f"tcp.port=={port} && tcp.flags.syn==1 && "
         "tcp.flags.ack==0", "-T", "fields", "-e", "tcp.stream"],
        capture_output=True, text=True, check=True).stdout
    return sorted({int(s) for s in out.split()})


def follow(pcap, keylog, port, stream):
    """[(to_server, bytes)] in order: lines starting with a tab are the client's."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-o", f"tls.keylog_file:{keylog}", "-d",
         f"tcp.port=={port},tls", "-q", "-z", f"follow,tls,raw,{stream}"],
        capture_output=True, text=True, check=True).stdout
    chunks, body = [], False
    for line in out.splitlines():
        if line.startswith("Node 1:"):
            body = True
            continue
        if not body or line.startswith("="):
            continue
        text = line.strip()
        if text:
            chunks.append((line.startswith("\t"), bytes.fromhex(text)))
    return chunks


def hexdump(chunks, f):
    for to_server, data in chunks:
        f.write("O\n" if to_server else "I\n")
        for off in range(0, len(data), 16):
            f.write("%06x %s\n" % (off, " ".join("%02x" % b for b in data[off:off + 16])))


def main():
    pcap, keylog, port, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    total, parts = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(streams(pcap, port)):
            chunks = follow(pcap, keylog, port, s)
            total += sum(len(d) for _, d in chunks)
            txt, part = os.path.join(tmp, f"{i}.txt"), os.path.join(tmp, f"{i}.pcap")
            with open(txt, "w") as f:
                hexdump(chunks, f)
            # -D: "O" lines go host -> target, "I" lines back; a port per stream.
            subprocess.run(["text2pcap", "-q", "-D", "-4", "10.0.0.1,10.0.0.2", "-T",
                            f"{40000 + i},{port}", txt, part], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            parts.append(part)
        if parts:
            subprocess.run(["mergecap", "-w", out] + parts, check=True)
    print(f"streams={len(parts)} bytes={total}")


if __name__ == "__main__":
    main()
