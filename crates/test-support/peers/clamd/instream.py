#!/usr/bin/env python3
"""Talk to clamd (stdlib only). Usage:
  instream.py PORT ping          -> prints PONG
  instream.py PORT scan [FILE]   -> prints the reply, e.g. "stream: OK" (FILE or stdin)
Replies to z-commands end with NUL. Over StreamMaxLength clamd answers
"INSTREAM size limit exceeded. ERROR" and closes: later writes fail (EPIPE),
but the reply can still be read."""
import socket, struct, sys


def reply(s):
    out = b""
    while not out.endswith(b"\0"):
        b = s.recv(4096)
        if not b:
            break
        out += b
    return out.rstrip(b"\0").decode()


def main(port, cmd, path=None):
    s = socket.create_connection(("127.0.0.1", int(port)), 10)
    if cmd == "ping":
        s.sendall(b"zPING\0")
        return reply(s)
    data = open(path, "rb").read() if path else sys.stdin.buffer.read()
    s.sendall(b"zINSTREAM\0")
    try:
        for i in range(0, len(data), 256 * 1024):
            piece = data[i:i + 256 * 1024]
            s.sendall(struct.pack(">I", len(piece)) + piece)
        s.sendall(struct.pack(">I", 0))
    except OSError:
        pass  # clamd closed early (size limit): its reply is still readable
    return reply(s)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    print(main(*sys.argv[1:4]))
