"""Peers that try to keep connections they do not use (issue 12, item 1),
and the address whelkd sees for an IPv4 client of a dual-stack listener.

The attacker here finishes a key exchange, stops reading, and sends
packets of an unknown message type, each answered with UNIMPLEMENTED,
until its socket is full: whelkd's reply can then never be written. It
must lose its slot within the -L bound (or, once the connection is over,
the linger), so that 64 of them cannot lock out a real ssh; and one
address may hold only PerSourceMaxStartups (10) unauthenticated
connections per worker."""

import ctypes
import subprocess
import hmac
import os
import re
import select
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import paramiko
import pytest

from conftest import USER, WHELKD

WORKER_MODES = [pytest.param(("-w", "1"), id="w1"),
                pytest.param((), id="default-workers")]


def workers_of(s, mode):
    """How many worker loops serve |s| (whelkd's default is one per
    core)."""
    if mode:
        return 1
    assert s.wait_log(" worker processes"), s.log()
    m = re.search(r"started (\d+) worker processes", s.log())
    return int(m.group(1)) if m else 1


class StuckClient:
    """Key exchange with paramiko (aes128-ctr, hmac-sha2-256); then
    paramiko's reader is stopped and a thread sends type-200 packets,
    sealed here with the transport's outbound keys (paramiko's own sender
    costs ~150 us a packet, too slow for 64 clients), for as long as the
    socket takes them: whelkd's replies fill our small receive buffer and
    its own allowance, its write stays pending, and it stops reading."""

    def __init__(self, port, src="127.0.0.1"):
        sock = socket.socket()
        # Small buffers on our side: the server's replies fill them fast.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.bind((src, 0))
        sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.src_port = sock.getsockname()[1]
        t = paramiko.Transport(sock)
        opts = t.get_security_options()
        opts.ciphers = ("aes128-ctr",)
        opts.digests = ("hmac-sha2-256",)
        keys = {}
        real = t.packetizer.set_outbound_cipher

        def keep(engine, bsize, mac_engine, mac_size, mac_key, *a, **k):
            keys.update(engine=engine, bsize=bsize, mac_engine=mac_engine,
                        mac_size=mac_size, mac_key=mac_key,
                        etm=k.get("etm", False))
            return real(engine, bsize, mac_engine, mac_size, mac_key, *a,
                        **k)

        t.packetizer.set_outbound_cipher = keep
        self.gate = threading.Event()
        t.start_client(timeout=20)
        self.transport = t

        def blocked(*a, **k):
            self.gate.wait()
            raise EOFError()

        # From its next read on, paramiko reads nothing more.
        t.packetizer.read_all = blocked
        assert not keys["etm"]
        self.keys = keys
        self.seq = t.packetizer._Packetizer__sequence_number_out
        self.sent = 0
        self.dropped = threading.Event()  # whelkd closed on us
        self.thread = threading.Thread(target=self._flood, daemon=True)
        self.thread.start()

    def _packets(self, count):
        k = self.keys
        payload = b"\xc8"  # message 200: unknown, answered UNIMPLEMENTED
        pad = 3 + k["bsize"] - ((len(payload) + 8) % k["bsize"])
        plain = struct.pack(">IB", len(payload) + pad + 1, pad) + payload \
            + b"\0" * pad
        out = []
        for _ in range(count):
            enc = k["engine"].update(plain)
            mac = hmac.new(k["mac_key"], struct.pack(">I", self.seq) + plain,
                           k["mac_engine"]).digest()[:k["mac_size"]]
            out.append(enc + mac)
            self.seq = (self.seq + 1) & 0xFFFFFFFF
        return b"".join(out)

    def _flood(self):
        self.sock.setblocking(False)
        pending = b""
        while not self.gate.is_set():
            if not pending:
                pending = self._packets(500)
                self.sent += 500
            _, w, x = select.select([], [self.sock], [self.sock], 0.2)
            if not w:
                continue
            try:
                n = self.sock.send(pending)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                break
            pending = pending[n:]
        self.dropped.set()

    def close(self):
        self.gate.set()
        self.thread.join(5)
        self.transport.close()
        self.sock.close()


def stuck_clients(port, sources):
    """Starts one StuckClient per source address, all at once. A refused
    one tries again for a few seconds (the fixture's probe connection may
    still hold a slot); those still refused then are left out."""
    def one(src):
        for _ in range(25):
            try:
                return StuckClient(port, src)
            except (paramiko.SSHException, EOFError, OSError):
                time.sleep(0.2)
        return None
    with ThreadPoolExecutor(len(sources)) as ex:
        return [c for c in ex.map(one, sources) if c]


def ssh_until_in(s, keys, deadline_s):
    """Logs in with OpenSSH's ssh from 127.0.0.1, retrying: a slot held by
    a stuck client is freed only when its bound expires, and until then
    whelkd drops a new connection at once. Returns (seconds, attempts)."""
    t0 = time.time()
    attempts = 0
    while True:
        attempts += 1
        r = s.ssh(keys["ed25519"], command="echo in", timeout=30)
        if r.returncode == 0 and r.stdout == "in\n":
            return time.time() - t0, attempts
        assert time.time() - t0 < deadline_s, (r.stderr, s.log()[-3000:])
        time.sleep(0.2)


def wait_dropped(s, clients, pattern, deadline_s=60):
    """Every client's connection ended with a line matching |pattern|
    (formatted with its port) in whelkd's log."""
    t0 = time.time()
    for c in clients:
        want = re.compile(pattern.format(port=c.src_port))
        while not want.search(s.log()):
            assert time.time() - t0 < deadline_s, s.log()[-3000:]
            time.sleep(0.1)


STALLED = (r"Timeout before authentication for 127\.0\.0\.\d+ port {port}: "
           r"no output taken for 2 seconds")
LINGERED = (r"Closing connection to 127\.0\.0\.\d+ port {port}: its last "
            r"output was not taken within 3 seconds")


def lock_out_then_log_in(s, keys, count, min_stuck, dropped, deadline_s):
    """|count| stuck clients from 127.0.0.2 on take the slots; ssh from
    127.0.0.1 must still get in, and each of them be dropped with a line
    matching |dropped|."""
    clients = stuck_clients(s.port,
                            [f"127.0.0.{2 + i}" for i in range(count)])
    try:
        assert len(clients) >= min_stuck, (len(clients), s.log()[-3000:])
        took, attempts = ssh_until_in(s, keys, deadline_s)
        print(f"ssh in after {took:.1f} s, {attempts} attempts, "
              f"{len(clients)} stuck clients")
        wait_dropped(s, clients, dropped, deadline_s)
        for c in clients:
            assert c.dropped.wait(10)
    finally:
        for c in clients:
            c.close()


@pytest.mark.parametrize("workers", WORKER_MODES)
def test_stuck_client_loses_its_slot(whelkd, keys, workers):
    """One slot per worker (-m 1), each taken by a stuck client: it is
    dropped once -L (2 s here) passes without its output moving, and ssh
    gets in."""
    s = whelkd("-m", "1", "-L", "2", *workers)
    n = workers_of(s, workers)
    lock_out_then_log_in(s, keys, n, n, STALLED, 60)


@pytest.mark.parametrize("workers", WORKER_MODES)
def test_grace_ends_a_stuck_connection(whelkd, keys, workers):
    """The login grace time (-g 3) fires into a connection whose output is
    stuck: its DISCONNECT cannot leave, and it is closed after the linger
    all the same (-L is kept out of the way at 600 s)."""
    s = whelkd("-m", "1", "-g", "3", "-L", "600", *workers)
    n = workers_of(s, workers)
    lock_out_then_log_in(s, keys, n, n, LINGERED, 60)
    assert s.log().count("Timeout before authentication for") >= n


@pytest.mark.parametrize("workers", WORKER_MODES)
def test_64_stuck_clients_do_not_lock_out_ssh(whelkd, keys, workers):
    """64 stuck clients from 127.0.0.2 .. 127.0.0.65 take every
    unauthenticated slot (-m 64 of one worker, or -m 64/N of each of N
    workers); a real ssh from 127.0.0.1 still logs in, and every one of
    them is dropped."""
    if workers:
        s = whelkd("-m", "64", "-L", "2", *workers)
    else:
        n = min(os.cpu_count() or 1, 64)  # whelkd's default -w
        s = whelkd("-m", str(max(1, 64 // n)), "-L", "2")
        assert workers_of(s, workers) == n
    # Unbalanced hand-offs can leave a client refused through all its
    # retries; nearly all 64 must be stuck at once all the same.
    lock_out_then_log_in(s, keys, 64, 60, STALLED, 90)


def hold(port, src):
    """A TCP connection from |src| that sends nothing: b'SSH-2.0-...' when
    whelkd took it, b'' when it was dropped at once."""
    c = socket.socket()
    c.bind((src, 0))
    c.connect(("127.0.0.1", port))
    c.settimeout(10)
    try:
        first = c.recv(8)
    except ConnectionResetError:
        first = b""
    return c, first


@pytest.mark.parametrize("workers", WORKER_MODES)
def test_per_source_limit(whelkd, keys, workers):
    """Ten unauthenticated connections per address (per worker): the next
    one from 127.0.0.2 is dropped with sshd's log line, while 127.0.0.1
    still logs in."""
    s = whelkd(*workers)
    n = workers_of(s, workers)
    held, refused = [], 0
    try:
        for _ in range(10 * n + 2):
            c, first = hold(s.port, "127.0.0.2")
            held.append(c)
            if first == b"":
                refused += 1
            else:
                assert first == b"SSH-2.0-"
        assert refused == 2, s.log()[-3000:]
        assert re.search(r"drop connection #\d+ from \[127\.0\.0\.2\]:\d+ on "
                         rf"\[127\.0\.0\.1\]:{s.port} past "
                         r"PerSourceMaxStartups", s.log()), s.log()[-3000:]
        r = s.ssh(keys["ed25519"], command="echo in")
        assert r.stdout == "in\n", r.stderr
    finally:
        for c in held:
            c.close()


def test_max_startups_bounds(whelkd, keys):
    """MaxStartups 3:30:6 (sshd's random early drop), one worker: below
    start (3) every connection is taken; between start and full some may
    be dropped (not asserted: that is chance); once 6 are held every
    further one is dropped, with sshd's log line."""
    s = whelkd("-w", "1", "-o", "MaxStartups 3:30:6",
               "-o", "PerSourceMaxStartups none")
    # The fixture's own probe of the port must not count any more.
    assert s.wait_log("Connection closed by 127.0.0.1 port"), s.log()
    held = []
    try:
        for i in range(3):
            c, first = hold(s.port, f"127.0.0.{2 + i}")
            held.append(c)
            assert first == b"SSH-2.0-", (i, s.log()[-2000:])
        # From start to full, each try may be dropped; keep trying until
        # six are held (each try is taken with 24% chance at least).
        tries = 0
        while len(held) < 6:
            tries += 1
            assert tries < 400, s.log()[-3000:]
            c, first = hold(s.port, f"127.0.0.{2 + len(held)}")
            if first == b"":
                c.close()
            else:
                held.append(c)
        before = s.log().count("past MaxStartups")
        for i in range(5):
            c, first = hold(s.port, "127.0.0.20")
            c.close()
            assert first == b"", (i, s.log()[-2000:])
        assert s.wait_log("drop connection #6 from [127.0.0.20]:")
        assert re.search(r"drop connection #6 from \[127\.0\.0\.20\]:\d+ on "
                         rf"\[127\.0\.0\.1\]:{s.port} past MaxStartups",
                         s.log()), s.log()[-3000:]
        assert s.log().count("past MaxStartups") >= before + 5
        # sshd's line when dropping starts, once.
        assert s.log().count("beginning MaxStartups throttling") == 1, \
            s.log()[-3000:]
        # A slot freed is taken again.
        held.pop().close()
        deadline = time.time() + 10
        while True:
            c, first = hold(s.port, "127.0.0.21")
            if first == b"SSH-2.0-":
                held.append(c)
                break
            c.close()
            assert time.time() < deadline, s.log()[-3000:]
            time.sleep(0.1)
        # All gone: the next connection ends the throttling, as sshd logs.
        closed, n = s.log().count("Connection closed by"), len(held)
        for c in held:
            c.close()
        held = []
        assert wait_for_log_count(s, "Connection closed by", closed, n), \
            s.log()[-2000:]
        c, first = hold(s.port, "127.0.0.22")
        held.append(c)
        assert first == b"SSH-2.0-"
        assert s.wait_log("exited MaxStartups throttling after"), s.log()
        assert re.search(r"exited MaxStartups throttling after "
                         r"\d\d:\d\d:\d\d, \d+ connections dropped",
                         s.log()), s.log()[-2000:]
    finally:
        for c in held:
            c.close()


def wait_for_log_count(s, text, before, more, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if s.log().count(text) >= before + more:
            return True
        time.sleep(0.05)
    return False


def test_m_flag_is_max_startups(tmp_path):
    """-m N is "MaxStartups N" (a hard limit), and overrides the file."""
    cfg = tmp_path / "c.conf"
    cfg.write_text("MaxStartups 10:30:100\n")
    r = subprocess.run([WHELKD, "-m", "5", "-f", str(cfg), "-T"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "maxstartups 5:30:5\n" in r.stdout, r.stdout
    r = subprocess.run([WHELKD, "-f", str(cfg), "-T"],
                       capture_output=True, text=True, timeout=30)
    assert "maxstartups 10:30:100\n" in r.stdout, r.stdout
    r = subprocess.run([WHELKD, "-m", "0", "-T"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "MaxStartups" in r.stderr, r


@pytest.mark.parametrize("block,dropped", [("24", True), ("32", False)])
def test_per_source_net_block(whelkd, keys, block, dropped):
    """PerSourceMaxStartups 2 with PerSourceNetBlockSize 24: 127.0.1.2
    and 127.0.1.3 fill their /24, so 127.0.1.4 is dropped; with /32 each
    address has its own two. 127.0.0.1, another /24, logs in."""
    s = whelkd("-w", "1", "-o", "PerSourceMaxStartups 2",
               "-o", f"PerSourceNetBlockSize {block}")
    held = []
    try:
        for src in ("127.0.1.2", "127.0.1.3"):
            c, first = hold(s.port, src)
            held.append(c)
            assert first == b"SSH-2.0-", s.log()[-2000:]
        c, first = hold(s.port, "127.0.1.4")
        held.append(c)
        assert (first == b"") == dropped, s.log()[-2000:]
        found = re.search(r"drop connection #\d+ from \[127\.0\.1\.4\]:\d+ "
                          r"on \[127\.0\.0\.1\]:\d+ past "
                          r"PerSourceMaxStartups", s.log())
        assert bool(found) == dropped, s.log()[-2000:]
        r = s.ssh(keys["ed25519"], command="echo in")
        assert r.stdout == "in\n", r.stderr
    finally:
        for c in held:
            c.close()


# ------------------------------------------------------------------------
# TCP options, read from whelkd's own descriptor (pidfd_getfd, as root).

SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT = 18, 25
libc = ctypes.CDLL(None, use_errno=True)


def server_socket_of(server_pid, client_addr):
    """A duplicate of the socket whelkd (or one of its workers) holds for
    the client at |client_addr|."""
    pids = [server_pid] + [
        int(p) for p in open(f"/proc/{server_pid}/task/{server_pid}/children")
        .read().split()]
    for pid in pids:
        pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
        if pidfd < 0:
            continue
        try:
            for name in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{name}")
                except OSError:
                    continue
                if not target.startswith("socket:"):
                    continue
                fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
                if fd < 0:
                    continue
                s = socket.socket(fileno=fd)
                try:
                    if s.type == socket.SOCK_STREAM and \
                            s.getpeername()[:2] == client_addr:
                        return s
                except OSError:
                    pass
                s.close()
        finally:
            os.close(pidfd)
    raise AssertionError(f"no whelkd socket for {client_addr}")


def tcp_options(s):
    get = s.getsockopt
    return {
        "keepalive": get(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "idle": get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "intvl": get(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        "cnt": get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        "user_timeout": get(socket.IPPROTO_TCP, TCP_USER_TIMEOUT),
        "notsent_lowat": get(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT),
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="pidfd_getfd needs root")
@pytest.mark.parametrize("workers", WORKER_MODES)
def test_tcp_options(whelkd, keys, workers):
    """Keepalive and the user timeout on every connection, accepted by the
    worker itself or handed over by the parent; the output limit before
    authentication only."""
    s = whelkd(*workers)
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=10)
        mine = t.sock.getsockname()[:2]
        theirs = server_socket_of(s.proc.pid, mine)
        before = tcp_options(theirs)
        assert before == {"keepalive": 1, "idle": 60, "intvl": 15,
                          "cnt": 16, "user_timeout": 300000,
                          "notsent_lowat": 32768}, before
        t.auth_publickey(USER, paramiko.Ed25519Key.from_private_key_file(
            keys["ed25519"]))
        assert t.is_authenticated()
        after = tcp_options(theirs)
        assert after == dict(before, notsent_lowat=0), after
        theirs.close()
    finally:
        t.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="pidfd_getfd needs root")
def test_tcp_keepalive_no(whelkd, keys, tmp_path):
    """TCPKeepAlive no (from a file): no keepalive probes, as sshd; the
    user timeout that ends a peer leaving our data unacknowledged stays,
    and so does the output limit before authentication."""
    cfg = tmp_path / "ka.conf"
    cfg.write_text("TCPKeepAlive no\n")
    s = whelkd("-w", "1", "-f", str(cfg))
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=10)
        theirs = server_socket_of(s.proc.pid, t.sock.getsockname()[:2])
        opts = tcp_options(theirs)
        assert opts["keepalive"] == 0, opts
        assert opts["user_timeout"] == 300000, opts
        assert opts["notsent_lowat"] == 32768, opts
        theirs.close()
    finally:
        t.close()


# ------------------------------------------------------------------------
# IPv4 clients of a dual-stack listener.

def test_v4_mapped_address_normalised(whelkd, keys, tmp_path):
    """On [::]:PORT an IPv4 client arrives as ::ffff:127.0.0.1. It must be
    seen as 127.0.0.1: from="!127.0.0.1,*" refuses it, from="127.0.0.1"
    admits it, and logs and SSH_CONNECTION say 127.0.0.1."""
    ak = tmp_path / "ak_v4mapped"
    with open(keys["ed25519"] + ".pub") as a, open(keys["ecdsa"] + ".pub") as b:
        ak.write_text('from="!127.0.0.1,*" ' + a.read() +
                      'from="127.0.0.1" ' + b.read())
    s = whelkd(authorized_keys=str(ak), listen="[::]:{port}")
    r = s.ssh(keys["ed25519"], command="echo let-in")
    assert r.returncode == 255 and "let-in" not in r.stdout, r.stdout
    r = s.ssh(keys["ecdsa"], command="echo $SSH_CONNECTION")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"127\.0\.0\.1 \d+ 127\.0\.0\.1 {s.port}\n",
                        r.stdout), r.stdout
    log = s.log()
    assert "::ffff:" not in log, log
    assert re.search(rf"Connection from 127\.0\.0\.1 port \d+ on 127\.0\.0\.1 "
                     rf"port {s.port}", log), log
    assert re.search(r"Accepted publickey for \S+ from 127\.0\.0\.1 port",
                     log), log
