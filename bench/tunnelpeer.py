#!/usr/bin/python3
"""The bulk local ends of bench.py's tunnel figures, kept cheap so that the
server under test is what the figures measure. Runs as its own process,
outside every server's cgroup, so its CPU is never counted as a server's.
(The tunnel rate figure's ends, an echo server and the connecting client,
are bench/tunnelrate.c: per connection, Python cost more CPU than the
servers it measured.)

  tunnelpeer.py serve MIB
      Listens on 127.0.0.1 at two ports and prints them on one line:
      "SINK SOURCE". SINK reads each connection to EOF, then answers with
      the byte count (8 bytes, big-endian) and closes. SOURCE sends MIB MiB
      of zeros (sendfile from a sparse file) and closes. Runs until killed.
  tunnelpeer.py upload PORT MIB ZEROFILE
      Sends MIB MiB from ZEROFILE to PORT (sendfile), half-closes and waits
      for the sink's count; prints "SECONDS BYTES" (the count it got).
  tunnelpeer.py download PORT MIB
      Reads PORT to EOF; prints "SECONDS BYTES".
"""

import asyncio
import os
import socket
import struct
import sys
import tempfile
import time

CHUNK = 1 << 20


def recv_all_count(s, buf):
    n = 0
    view = memoryview(buf)
    while True:
        k = s.recv_into(view)
        if k == 0:
            return n
        n += k


async def serve(mib):
    loop = asyncio.get_running_loop()
    total = mib << 20
    fd, zeros = tempfile.mkstemp(prefix="tunnelpeer-")
    os.ftruncate(fd, total)
    os.close(fd)
    zfile = open(zeros, "rb")
    os.unlink(zeros)

    def listener():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1024)
        s.setblocking(False)
        return s

    async def accept_loop(ls, handler):
        while True:
            c, _ = await loop.sock_accept(ls)
            c.setblocking(False)
            loop.create_task(handler(c))

    async def sink(c):
        buf = bytearray(CHUNK)
        n = 0
        try:
            while True:
                k = await loop.sock_recv_into(c, buf)
                if k == 0:
                    break
                n += k
            await loop.sock_sendall(c, struct.pack(">Q", n))
        except OSError:
            pass
        finally:
            c.close()

    async def source(c):
        try:
            # Each connection its own file object: offsets are per file.
            with open(f"/proc/self/fd/{zfile.fileno()}", "rb") as f:
                await loop.sock_sendfile(c, f, 0, total)
        except OSError:
            pass
        finally:
            c.close()

    socks = [listener() for _ in range(2)]
    print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
    await asyncio.gather(accept_loop(socks[0], sink),
                         accept_loop(socks[1], source))


def upload(port, mib, zeros):
    total = mib << 20
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    with open(zeros, "rb") as f:
        off = 0
        while off < total:
            k = os.sendfile(s.fileno(), f.fileno(), off, total - off)
            if k == 0:
                break
            off += k
    s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < 8:
        b = s.recv(8 - len(got))
        if not b:
            break
        got += b
    wall = time.perf_counter() - t0
    s.close()
    n = struct.unpack(">Q", got)[0] if len(got) == 8 else 0
    print(f"{wall:.6f} {n}")


def download(port, mib):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    n = recv_all_count(s, bytearray(CHUNK))
    wall = time.perf_counter() - t0
    s.close()
    print(f"{wall:.6f} {n}")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "serve":
        asyncio.run(serve(int(args[0])))
    elif mode == "upload":
        upload(int(args[0]), int(args[1]), args[2])
    elif mode == "download":
        download(int(args[0]), int(args[1]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
