#!/usr/bin/env python3
"""Sends stray traffic to host:port targets, all at once: garbage, truncated and oversized
frames, an unknown frame type, a well-formed hello with a wrong secret, an HTTP request and an
idle connection. Prints how many connections were accepted. Bounded: every socket has a short
timeout, so one call ends within about half a second."""
import os
import socket
import struct
import sys
import threading


def payloads():
    yield os.urandom(64)                                   # garbage
    yield struct.pack("<II", 1, 100) + b"abc"              # truncated hello frame
    yield struct.pack("<II", 1, 0xFFFFFFF0)                # huge length
    yield struct.pack("<II", 0xDEAD, 8) + b"\0" * 8        # unknown type
    hello = struct.pack("<II", 0x4D4F4F4C, 1) + os.urandom(16) + struct.pack("<iiiI", 0, 4, 1, 5) + b"stray"
    yield struct.pack("<II", 1, len(hello)) + hello        # hello with a wrong secret
    yield b""                                              # connect, say nothing
    yield b"GET / HTTP/1.0\r\n\r\n"


made = 0
lock = threading.Lock()


def hit(host, port, data):
    global made
    try:
        with socket.create_connection((host, port), timeout=0.2) as s:
            with lock:
                made += 1
            if data:
                s.sendall(data)
            try:
                s.recv(64)  # wait a little for the peer to answer or drop us
            except OSError:
                pass
    except OSError:
        pass


threads = []
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    for data in payloads():
        t = threading.Thread(target=hit, args=(host, int(port), data))
        t.start()
        threads.append(t)
for t in threads:
    t.join()
print(f"stray connections {made}")
