#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Send one JSON-lines request to a control socket (cv-hv's, or a card's
<socket>.ctl: tools/lib/card_ctl.h) and print the reply line.
usage: ctl_call.py SOCKET [REQUEST]   (default {"cmd":"stats"})
Exit status 0 with a reply, 1 when the socket is gone or closed unanswered."""
import socket
import sys

if len(sys.argv) not in (2, 3):
    sys.exit(__doc__.split("usage: ")[1])
request = sys.argv[2] if len(sys.argv) == 3 else '{"cmd":"stats"}'
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sys.argv[1])
        s.sendall(request.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
except OSError as e:
    print(f"ctl_call: {sys.argv[1]}: {e}", file=sys.stderr)
    sys.exit(1)
if not reply:
    sys.exit(1)
sys.stdout.write(reply.decode())
