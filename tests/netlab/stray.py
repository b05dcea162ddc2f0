#!/usr/bin/env python3
"""Sends stray traffic to host:port targets once: garbage, truncated and oversized frames,
a well-formed hello with a wrong secret, and an idle connection. Prints how many connections
were made. Never waits long: every socket has a short timeout."""
import os
import socket
import struct
import sys


def payloads():
    yield os.urandom(64)                                   # garbage
    yield struct.pack("<II", 1, 100) + b"abc"              # truncated hello frame
    yield struct.pack("<II", 1, 0xFFFFFFF0)                # huge length
    yield struct.pack("<II", 0xDEAD, 8) + b"\0" * 8        # unknown type
    hello = struct.pack("<II", 0x4D4F4F4C, 1) + os.urandom(16) + struct.pack("<iiiI", 0, 4, 1, 5) + b"stray"
    yield struct.pack("<II", 1, len(hello)) + hello        # hello with a wrong secret
    yield b""                                              # connect, say nothing, leave
    yield b"GET / HTTP/1.0\r\n\r\n"


def main():
    made = 0
    for target in sys.argv[1:]:
        host, port = target.rsplit(":", 1)
        for data in payloads():
            try:
                with socket.create_connection((host, int(port)), timeout=0.3) as s:
                    made += 1
                    if data:
                        s.sendall(data)
                    try:
                        s.recv(64)
                    except OSError:
                        pass
            except OSError:
                pass
    print(f"stray connections {made}")


main()
