#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Print a port on 127.0.0.1 that nothing is bound to right now, for a
test's or a benchmark's own server (cv-storaged, a card's underlay, a
forwarder).  usage: free_port.py [tcp|udp]   (default tcp)"""
import socket
import sys

kind = sys.argv[1] if len(sys.argv) > 1 else "tcp"
if kind not in ("tcp", "udp") or len(sys.argv) > 2:
    sys.exit(__doc__.split("usage: ")[1])
with socket.socket(socket.AF_INET,
                   socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
