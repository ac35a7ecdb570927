"""TCP forwarding (issue 16) with OpenSSH's ssh: direct-tcpip (-L, -D,
-W, -J) byte-exact both ways, many connections through one tunnel, a
closed target refused while the session lives on, and bounded memory
when the target stops reading."""

import hashlib
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port

MiB = 1 << 20


def stop_proc(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Target:
    """A TCP server on 127.0.0.1 in a thread: per connection it sends
    |send| bytes (a deterministic stream), reads everything until EOF
    (after |hold| is set, if given) and records the digest and count."""

    def __init__(self, send=0, hold=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.send = send
        self.hold = hold
        self.results = []
        self.lock = threading.Lock()
        self.threads = []
        self.accepting = threading.Thread(target=self.accept, daemon=True)
        self.accepting.start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self.serve, args=(conn,),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def serve(self, conn):
        with conn:
            sender = None
            if self.send:
                sender = threading.Thread(target=send_stream,
                                          args=(conn, self.send), daemon=True)
                sender.start()
            if self.hold is not None:
                self.hold.wait(300)
            got = recv_digest(conn)
            if sender:
                sender.join(300)
            with self.lock:
                self.results.append(got)

    def close(self):
        self.sock.close()


def stream_bytes(total):
    """A deterministic, incompressible-enough stream of |total| bytes."""
    block = hashlib.sha256(b"whelk").digest() * 2048  # 64 KiB
    left = total
    while left:
        chunk = block[:min(left, len(block))]
        yield chunk
        left -= len(chunk)


def digest_of(total):
    h = hashlib.sha256()
    for c in stream_bytes(total):
        h.update(c)
    return h.hexdigest()


def send_stream(conn, total):
    try:
        for c in stream_bytes(total):
            conn.sendall(c)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def recv_chunks(sock, size=1 << 16):
    """Yields what |sock| receives until EOF. The caller's timeout on
    |sock| still applies: a peer that neither sends nor closes raises."""
    while True:
        b = sock.recv(size)
        if not b:
            return
        yield b


def recv_all(sock, limit):
    """The bytes |sock| receives until EOF. More than |limit| fails the
    test at once: a server that keeps sending cannot fill our memory."""
    got = bytearray()
    # Never ask for more than one byte past the limit.
    for b in recv_chunks(sock, min(1 << 16, limit + 1)):
        got += b
        assert len(got) <= limit, f"more than {limit} bytes before EOF"
    return bytes(got)


def recv_digest(sock):
    """Reads |sock| to EOF keeping only a count and a SHA-256 (the long
    streams need no bound); returns (count, hex digest)."""
    h = hashlib.sha256()
    n = 0
    for b in recv_chunks(sock):
        h.update(b)
        n += len(b)
    return n, h.hexdigest()


def tunnel(server, keys, *opts):
    """ssh -N with |opts| in the background; waits until it has logged
    in (the forward's listener answers)."""
    args = server.ssh_args(keys["ed25519"], "-N",
                           "-o", "ExitOnForwardFailure=yes", *opts)
    return subprocess.Popen(args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the forward never listened")


def exchange(port, send, expect_recv):
    """Connects to |port|, sends |send| bytes and half-closes, reads to
    EOF; returns (bytes received, their digest)."""
    s = socket.create_connection(("127.0.0.1", port), 30)
    s.settimeout(300)
    sender = threading.Thread(target=send_stream, args=(s, send),
                              daemon=True)
    sender.start()
    got = recv_digest(s)
    sender.join(300)
    s.close()
    return got


@pytest.fixture
def target_factory():
    made = []

    def make(**kw):
        t = Target(**kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        stop_proc(p)


def test_local_forward_64mib_each_way(whelkd, keys, target_factory, procs):
    s = whelkd("-w", "1")
    t = target_factory(send=64 * MiB)
    lport = free_port()
    p = tunnel(s, keys, "-L", f"127.0.0.1:{lport}:127.0.0.1:{t.port}")
    procs.append(p)
    wait_port(lport, p)
    # wait_port's probe connection counts as one (empty) exchange.
    n, d = exchange(lport, 64 * MiB, 64 * MiB)
    assert (n, d) == (64 * MiB, digest_of(64 * MiB))
    deadline = time.time() + 60
    while time.time() < deadline:
        with t.lock:
            if (64 * MiB, digest_of(64 * MiB)) in t.results:
                break
        time.sleep(0.2)
    with t.lock:
        assert (64 * MiB, digest_of(64 * MiB)) in t.results


def test_twenty_concurrent_connections(whelkd, keys, target_factory, procs):
    s = whelkd("-w", "1")
    size = 2 * MiB
    t = target_factory(send=size)
    lport = free_port()
    p = tunnel(s, keys, "-L", f"127.0.0.1:{lport}:127.0.0.1:{t.port}")
    procs.append(p)
    wait_port(lport, p)
    out = [None] * 20

    def one(i):
        out[i] = exchange(lport, size, size)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    want = (size, digest_of(size))
    assert out == [want] * 20
    deadline = time.time() + 60
    while time.time() < deadline:
        with t.lock:
            if t.results.count(want) == 20:
                break
        time.sleep(0.2)
    with t.lock:
        assert t.results.count(want) == 20


def test_closed_port_is_an_open_failure_session_lives(whelkd, keys):
    s = whelkd("-w", "1")
    closed = free_port()
    # -W: stdio forwarding to a port nobody listens on.
    r = s.ssh(keys["ed25519"], "-W", f"127.0.0.1:{closed}", timeout=60)
    assert r.returncode != 0
    assert "stdio forwarding failed" in r.stderr, r.stderr
    assert s.wait_log(f"connect_to 127.0.0.1 port {closed}: failed")
    # One connection: a -L to the closed port, then a command on it.
    lport = free_port()
    args = s.ssh_args(keys["ed25519"], "-L",
                      f"127.0.0.1:{lport}:127.0.0.1:{closed}")
    shell = subprocess.Popen(args + ["read x; echo alive-$x"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        c = None
        while time.time() < deadline:
            try:
                c = socket.create_connection(("127.0.0.1", lport), 0.5)
                break
            except OSError:
                time.sleep(0.1)
        assert c is not None
        c.settimeout(30)
        assert c.recv(10) == b""  # the open failed: ssh closes it
        c.close()
        out, err = shell.communicate("ok\n", timeout=60)
        assert shell.returncode == 0, err
        assert out.strip() == "alive-ok"
        assert s.log().count(f"connect_to 127.0.0.1 port {closed}: "
                             "failed") == 2
    finally:
        stop_proc(shell)


def test_dynamic_forward_socks_with_curl(whelkd, keys, tmp_path, procs):
    s = whelkd("-w", "1")
    (tmp_path / "www").mkdir()
    body = os.urandom(3 * MiB)
    (tmp_path / "www" / "blob").write_bytes(body)
    hport = free_port()
    http = subprocess.Popen(
        ["/usr/bin/python3", "-m", "http.server", "-b", "127.0.0.1",
         str(hport), "-d", str(tmp_path / "www")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(http)
    dport = free_port()
    p = tunnel(s, keys, "-D", f"127.0.0.1:{dport}")
    procs.append(p)
    wait_port(dport, p)
    wait_port(hport, http)
    # "localhost" is resolved by whelkd (--socks5-hostname); it may name
    # ::1 first, where nothing listens: the next address is tried.
    for host in ("127.0.0.1", "localhost"):
        r = subprocess.run(
            ["curl", "-sS", "--max-time", "60", "--socks5-hostname",
             f"127.0.0.1:{dport}", f"http://{host}:{hport}/blob"],
            capture_output=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert r.stdout == body


JUMP_USER = "wka_ft_jump"


def jump_config(tmp_path, keys):
    """-J starts a second ssh that reads only -F's file: the test options
    go there."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        "Host *\n  BatchMode yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  IdentitiesOnly yes\n"
        f"  IdentityFile {keys['ed25519']}\n  LogLevel ERROR\n"
        "  ConnectTimeout 10\n")
    return str(cfg)


def test_proxyjump_through_whelkd_to_itself_and_to_sshd(whelkd, keys,
                                                       tmp_path):
    from accounts import made_user, sshd
    from conftest import USER
    s = whelkd("-w", "1")
    cfg = jump_config(tmp_path, keys)
    jump = f"{USER}@127.0.0.1:{s.port}"
    # "localhost", not 127.0.0.1: ssh refuses a jump to the jump's own
    # name and port as a loop.
    r = subprocess.run(["ssh", "-F", cfg, "-J", jump, "-p", str(s.port),
                        f"{USER}@localhost", "echo via-whelkd"],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "via-whelkd"
    with made_user(JUMP_USER, keys["ed25519"] + ".pub"), \
            sshd(tmp_path, keys) as d:
        r = subprocess.run(["ssh", "-F", cfg, "-J", jump, "-p", str(d.port),
                            f"{JUMP_USER}@127.0.0.1", "id -un"],
                           capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr + d.log()
        assert r.stdout.strip() == JUMP_USER


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_stalled_target_bounds_memory(whelkd, keys, target_factory, procs):
    s = whelkd("-w", "1")
    hold = threading.Event()
    t = target_factory(hold=hold)
    lport = free_port()
    p = tunnel(s, keys, "-L", f"127.0.0.1:{lport}:127.0.0.1:{t.port}")
    procs.append(p)
    wait_port(lport, p)
    total = 200 * 1000 * 1000
    base = vmrss_kib(s.proc.pid)
    c = socket.create_connection(("127.0.0.1", lport), 30)
    sent = [0]

    def push():
        try:
            for chunk in stream_bytes(total):
                c.sendall(chunk)
                sent[0] += len(chunk)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    try:
        # Until the push stalls (nothing moves for 3 s): whelkd holds at
        # most its windows' worth.
        peak = base
        last, still = -1, time.time()
        deadline = time.time() + 120
        while time.time() < deadline and time.time() - still < 3:
            peak = max(peak, vmrss_kib(s.proc.pid))
            if sent[0] != last:
                last, still = sent[0], time.time()
            time.sleep(0.1)
        peak = max(peak, vmrss_kib(s.proc.pid))
        assert sent[0] < total, "the push never stalled"
        assert peak - base < 16 * 1024, (base, peak, sent[0])
    finally:
        hold.set()
    pusher.join(300)
    c.settimeout(300)
    assert c.recv(1) == b""  # the target closes after EOF
    c.close()
    want = (total, digest_of(total))
    deadline = time.time() + 120
    while time.time() < deadline:
        with t.lock:
            if want in t.results:
                break
        time.sleep(0.2)
    with t.lock:
        assert want in t.results, t.results


def test_remote_forward_64mib_each_way(whelkd, keys, target_factory, procs):
    s = whelkd("-w", "1")
    t = target_factory(send=64 * MiB)
    rport = free_port()
    p = tunnel(s, keys, "-R", f"127.0.0.1:{rport}:127.0.0.1:{t.port}")
    procs.append(p)
    wait_port(rport, p)
    want = (64 * MiB, digest_of(64 * MiB))
    assert exchange(rport, 64 * MiB, 64 * MiB) == want
    deadline = time.time() + 60
    while time.time() < deadline:
        with t.lock:
            if want in t.results:
                break
        time.sleep(0.2)
    with t.lock:
        assert want in t.results


def test_remote_forward_port_zero(whelkd, keys, target_factory):
    import re
    s = whelkd("-w", "1")
    t = target_factory(send=1000)
    args = s.ssh_args(keys["ed25519"], "-o", "LogLevel=INFO", "-N", "-R",
                      f"0:127.0.0.1:{t.port}")
    # ssh_args' LogLevel=ERROR comes first and wins: drop it so ssh
    # prints "Allocated port N".
    i = args.index("LogLevel=ERROR")
    del args[i - 1:i + 1]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        seen = ""
        m = None
        while m is None:
            line = p.stderr.readline()
            assert line, seen  # ssh ended without printing the port
            seen += line
            m = re.search(r"Allocated port (\d+)", line)
        port = int(m.group(1))
        assert port != 0
        assert exchange(port, 500, 1000) == (1000, digest_of(1000))
    finally:
        stop_proc(p)


def test_remote_forward_cancel_through_controlmaster(whelkd, keys,
                                                     target_factory,
                                                     tmp_path, procs):
    s = whelkd("-w", "1")
    t = target_factory(send=10)
    ctl = str(tmp_path / "ctl")
    master = subprocess.Popen(
        s.ssh_args(keys["ed25519"], "-N", "-M", "-S", ctl),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    procs.append(master)
    deadline = time.time() + 30
    while not os.path.exists(ctl):
        assert master.poll() is None and time.time() < deadline
        time.sleep(0.1)
    rport = free_port()
    spec = f"127.0.0.1:{rport}:127.0.0.1:{t.port}"
    base = ["ssh", "-S", ctl, "-o", "LogLevel=ERROR"]
    r = subprocess.run(base + ["-O", "forward", "-R", spec, "x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert exchange(rport, 5, 10) == (10, digest_of(10))
    r = subprocess.run(base + ["-O", "cancel", "-R", spec, "x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", rport), 1).close()
        except ConnectionRefusedError:
            break
        time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", rport), 1)
    subprocess.run(base + ["-O", "exit", "x"], capture_output=True,
                   timeout=60)


def test_remote_forward_listener_closes_with_connection(whelkd, keys,
                                                        target_factory):
    s = whelkd("-w", "1")
    t = target_factory(send=10)
    rport = free_port()
    p = tunnel(s, keys, "-R", f"127.0.0.1:{rport}:127.0.0.1:{t.port}")
    try:
        wait_port(rport, p)
    finally:
        stop_proc(p)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", rport), 1).close()
        except ConnectionRefusedError:
            break
        time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", rport), 1)


# ---- policy: keywords and key options, each allowing and refusing ----

def w_works(s, keys, port, host="127.0.0.1"):
    """ssh -W to |host|:|port| (a Target sending 1000 bytes): did the
    bytes come?"""
    r = s.ssh(keys["ed25519"], "-W", f"{host}:{port}", input=b"",
              timeout=60, text=False)
    return r.returncode == 0 and r.stdout == b"".join(stream_bytes(1000))


def r_works(s, keys, rport, tport, bind="127.0.0.1", connect="127.0.0.1"):
    """ssh -R |bind|:|rport| to a Target on |tport|: did ssh get it, and
    do bytes come through |connect|:|rport|?"""
    p = tunnel(s, keys, "-R", f"{bind}:{rport}:127.0.0.1:{tport}")
    try:
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            try:
                c = socket.create_connection((connect, rport), 0.5)
            except OSError:
                time.sleep(0.1)
                continue
            c.settimeout(30)
            got = recv_all(c, 1000)
            c.close()
            return got == b"".join(stream_bytes(1000))
        return False
    finally:
        stop_proc(p)


@pytest.mark.parametrize("value,local,remote", [
    ("yes", True, True), ("all", True, True), ("no", False, False),
    ("local", True, False), ("remote", False, True)])
def test_allow_tcp_forwarding(whelkd, keys, target_factory, value, local,
                              remote):
    s = whelkd("-w", "1", "-o", f"AllowTcpForwarding={value}")
    t = target_factory(send=1000)
    assert w_works(s, keys, t.port) is local
    assert r_works(s, keys, free_port(), t.port) is remote
    if not local:
        assert "denied (AllowTcpForwarding)" in s.log()
    if not remote:
        assert "refused (AllowTcpForwarding)" in s.log()


def test_disable_forwarding(whelkd, keys, target_factory):
    s = whelkd("-w", "1", "-o", "DisableForwarding=yes")
    t = target_factory(send=1000)
    assert not w_works(s, keys, t.port)
    assert not r_works(s, keys, free_port(), t.port)
    s2 = whelkd("-w", "1", "-o", "DisableForwarding=no")
    assert w_works(s2, keys, t.port)


def test_permit_open(whelkd, keys, target_factory):
    t = target_factory(send=1000)
    other = target_factory(send=1000)
    s = whelkd("-w", "1", "-o", f"PermitOpen=127.0.0.1:{t.port}")
    assert w_works(s, keys, t.port)
    assert not w_works(s, keys, other.port)
    assert "denied (PermitOpen)" in s.log()
    s2 = whelkd("-w", "1", "-o", "PermitOpen=none")
    assert not w_works(s2, keys, t.port)


def test_permit_listen(whelkd, keys, target_factory):
    t = target_factory(send=1000)
    ok_port, bad_port = free_port(), free_port()
    s = whelkd("-w", "1", "-o", f"PermitListen={ok_port}")
    assert r_works(s, keys, ok_port, t.port)
    assert not r_works(s, keys, bad_port, t.port)
    assert "refused (PermitListen)" in s.log()


def test_gateway_ports(whelkd, keys, target_factory):
    t = target_factory(send=1000)
    # no: whatever the client asks, loopback (127.0.0.1) only.
    s = whelkd("-w", "1")
    assert r_works(s, keys, free_port(), t.port, bind="127.0.0.2",
                   connect="127.0.0.1")
    assert not r_works(s, keys, free_port(), t.port, bind="127.0.0.2",
                       connect="127.0.0.2")
    # yes: every address.
    s = whelkd("-w", "1", "-o", "GatewayPorts=yes")
    assert r_works(s, keys, free_port(), t.port, connect="127.0.0.3")
    # clientspecified: the client's address, and only it.
    s = whelkd("-w", "1", "-o", "GatewayPorts=clientspecified")
    assert r_works(s, keys, free_port(), t.port, bind="127.0.0.2",
                   connect="127.0.0.2")
    assert not r_works(s, keys, free_port(), t.port, bind="127.0.0.2",
                       connect="127.0.0.1")


def keyfile(tmp_path, keys, options):
    ak = tmp_path / f"ak-{abs(hash(options))}"
    with open(keys["ed25519"] + ".pub") as f:
        ak.write_text(f"{options} {f.read()}")
    return str(ak)


def test_key_options(whelkd, keys, target_factory, tmp_path):
    t = target_factory(send=1000)
    other = target_factory(send=1000)
    s = whelkd("-w", "1", authorized_keys=keyfile(tmp_path, keys,
                                                  "no-port-forwarding"))
    assert not w_works(s, keys, t.port)
    assert not r_works(s, keys, free_port(), t.port)
    assert "denied (no-port-forwarding)" in s.log()
    s = whelkd("-w", "1", authorized_keys=keyfile(tmp_path, keys,
                                                  "restrict"))
    assert not w_works(s, keys, t.port)
    s = whelkd("-w", "1", authorized_keys=keyfile(
        tmp_path, keys, "restrict,port-forwarding"))
    assert w_works(s, keys, t.port)
    s = whelkd("-w", "1", authorized_keys=keyfile(
        tmp_path, keys, f'permitopen="127.0.0.1:{t.port}"'))
    assert w_works(s, keys, t.port)
    assert not w_works(s, keys, other.port)
    assert "denied (permitopen)" in s.log()
    ok_port, bad_port = free_port(), free_port()
    s = whelkd("-w", "1", authorized_keys=keyfile(
        tmp_path, keys, f'permitlisten="127.0.0.1:{ok_port}"'))
    assert r_works(s, keys, ok_port, t.port)
    assert not r_works(s, keys, bad_port, t.port)
    assert "refused (permitlisten)" in s.log()


def test_privileged_listen_port_only_for_root(whelkd, keys,
                                              target_factory):
    from accounts import made_user
    t = target_factory(send=1000)
    low = 1000 + free_port() % 23  # a port below 1024
    with made_user("wka_ft_np", keys["ed25519"] + ".pub") as pw:
        s = whelkd("-w", "1", authorized_keys=False)
        p = subprocess.run(
            s.ssh_args(keys["ed25519"], "-N", "-o",
                       "ExitOnForwardFailure=yes", "-R",
                       f"127.0.0.1:{low}:127.0.0.1:{t.port}",
                       user=pw.pw_name),
            capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert "privileged port refused" in s.log()
    # Root may: the same port, logged in as root.
    if os.geteuid() == 0:
        s = whelkd("-w", "1")
        assert r_works(s, keys, low, t.port)


# ---- Unix sockets: direct-streamlocal (ssh -L port:/path) ----

class UnixTarget:
    """A Unix-socket server at |path| that sends 1000 bytes per
    connection and closes."""

    def __init__(self, path, uid=None, mode=0o600):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        os.chmod(path, mode)
        if uid is not None:
            os.chown(path, uid, -1)
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.sendall(b"".join(stream_bytes(1000)))

    def close(self):
        self.sock.close()


def lforward_works(s, keys, user, spec, lport):
    p = subprocess.Popen(
        s.ssh_args(keys["ed25519"], "-N", "-L", spec, user=user),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_port(lport, p)
        c = socket.create_connection(("127.0.0.1", lport), 30)
        c.settimeout(30)
        got = recv_all(c, 1000)
        c.close()
        return got == b"".join(stream_bytes(1000))
    finally:
        stop_proc(p)


def test_direct_streamlocal_as_the_user(whelkd, keys, tmp_path):
    from accounts import made_user
    with made_user("wka_ft_sl", keys["ed25519"] + ".pub") as pw:
        # Not under tmp_path: pytest's root-only directory would hide
        # the sockets from the user.
        import pathlib
        import shutil
        import tempfile
        d = pathlib.Path(tempfile.mkdtemp(prefix="wka_ft_sl."))
        os.chmod(d, 0o755)
        mine = UnixTarget(str(d / "mine"), uid=pw.pw_uid)
        roots = UnixTarget(str(d / "roots"))  # 0600, root's
        try:
            s = whelkd("-w", "1", authorized_keys=False)
            lport = free_port()
            assert lforward_works(s, keys, pw.pw_name,
                                  f"127.0.0.1:{lport}:{d / 'mine'}", lport)
            # The user may not write root's socket: connect refused.
            lport = free_port()
            assert not lforward_works(s, keys, pw.pw_name,
                                      f"127.0.0.1:{lport}:{d / 'roots'}",
                                      lport)
            assert s.wait_log(f"connect_to {d / 'roots'}: failed")
            s2 = whelkd("-w", "1", "-o", "AllowStreamLocalForwarding=no",
                        authorized_keys=False)
            lport = free_port()
            assert not lforward_works(s2, keys, pw.pw_name,
                                      f"127.0.0.1:{lport}:{d / 'mine'}",
                                      lport)
            assert "(AllowStreamLocalForwarding)" in s2.log()
        finally:
            mine.close()
            roots.close()
            shutil.rmtree(d, ignore_errors=True)


def test_streamlocal_forward_as_the_user(whelkd, keys, target_factory):
    import pathlib
    import shutil
    import stat
    import tempfile
    from accounts import made_user
    t = target_factory(send=1000)
    d = pathlib.Path(tempfile.mkdtemp(prefix="wka_ft_slr."))
    try:
        os.chmod(d, 0o777 | stat.S_ISVTX)  # like /tmp
        closed = d / "rootonly"
        closed.mkdir(mode=0o700)
        with made_user("wka_ft_slr", keys["ed25519"] + ".pub") as pw:
            s = whelkd("-w", "1", authorized_keys=False)
            path = d / "fwd.sock"
            p = subprocess.Popen(
                s.ssh_args(keys["ed25519"], "-N", "-o",
                           "ExitOnForwardFailure=yes", "-R",
                           f"{path}:127.0.0.1:{t.port}", user=pw.pw_name),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            try:
                deadline = time.time() + 30
                while not path.exists():
                    assert p.poll() is None, p.stderr.read()
                    assert time.time() < deadline
                    time.sleep(0.1)
                st = path.stat()
                assert st.st_uid == pw.pw_uid  # bound as the user
                assert stat.S_IMODE(st.st_mode) == 0o600  # mask 0177
                c = socket.socket(socket.AF_UNIX)
                c.settimeout(30)
                c.connect(str(path))
                got = recv_all(c, 1000)
                c.close()
                assert got == b"".join(stream_bytes(1000))
            finally:
                stop_proc(p)
            # A directory the user cannot write: the bind fails.
            r = subprocess.run(
                s.ssh_args(keys["ed25519"], "-N", "-o",
                           "ExitOnForwardFailure=yes", "-R",
                           f"{closed / 'x.sock'}:127.0.0.1:{t.port}",
                           user=pw.pw_name),
                capture_output=True, text=True, timeout=60)
            assert r.returncode != 0
            assert not (closed / "x.sock").exists()
            assert "streamlocal-forward" in s.log()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_streamlocal_bind_mask_and_unlink(whelkd, keys, target_factory):
    import pathlib
    import shutil
    import stat
    import tempfile
    from accounts import made_user
    t = target_factory(send=1000)
    d = pathlib.Path(tempfile.mkdtemp(prefix="wka_ft_slm."))
    try:
        os.chmod(d, 0o777 | stat.S_ISVTX)
        with made_user("wka_ft_slm", keys["ed25519"] + ".pub") as pw:
            path = d / "s.sock"

            def forward(s):
                p = subprocess.Popen(
                    s.ssh_args(keys["ed25519"], "-N", "-o",
                               "ExitOnForwardFailure=yes", "-R",
                               f"{path}:127.0.0.1:{t.port}",
                               user=pw.pw_name),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                try:
                    deadline = time.time() + 30
                    while p.poll() is None and time.time() < deadline:
                        try:
                            c = socket.socket(socket.AF_UNIX)
                            c.connect(str(path))
                            c.close()
                            return stat.S_IMODE(path.stat().st_mode)
                        except OSError:
                            time.sleep(0.1)
                    return None
                finally:
                    stop_proc(p)

            s = whelkd("-w", "1", "-o", "StreamLocalBindMask=0111",
                       authorized_keys=False)
            assert forward(s) == 0o666
            # The socket file stays: without unlink the bind fails.
            assert path.exists()
            assert forward(s) is None
            s2 = whelkd("-w", "1", "-o", "StreamLocalBindUnlink=yes",
                        authorized_keys=False)
            assert forward(s2) == 0o600
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ssh_to(port, key, *opts, user):
    """ssh options for any server on 127.0.0.1:|port| (whelkd or sshd)."""
    return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-i", key,
            "-p", str(port), *opts, f"{user}@127.0.0.1"]


def unix_refused(path):
    """True once nothing accepts on the Unix socket |path|."""
    c = socket.socket(socket.AF_UNIX)
    try:
        c.settimeout(5)
        c.connect(str(path))
        return False
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    finally:
        c.close()


@pytest.mark.parametrize("server", ["whelkd", "sshd"])
def test_streamlocal_forward_cancel_through_controlmaster(server, whelkd, keys,
                                                         target_factory,
                                                         tmp_path, procs):
    """ssh -O cancel -R /path:... through a ControlMaster: the socket stops
    accepting at once while the connection lives on, and the file is
    left where it was, as sshd leaves it (it unlinks only before a bind,
    with StreamLocalBindUnlink): a new forward to the same path then
    fails without the keyword and works with it."""
    import contextlib
    import pathlib
    import shutil
    import stat
    import tempfile
    from accounts import made_user, sshd
    t = target_factory(send=100)
    d = pathlib.Path(tempfile.mkdtemp(prefix="wka_ft_slc."))
    try:
        os.chmod(d, 0o777 | stat.S_ISVTX)
        with made_user("wka_ft_slc", keys["ed25519"] + ".pub") as pw, \
                contextlib.ExitStack() as stack:
            if server == "whelkd":
                port = whelkd("-w", "1", "-o", "StreamLocalBindUnlink=no",
                              authorized_keys=False).port
                unlinking = whelkd("-w", "1", "-o",
                                   "StreamLocalBindUnlink=yes",
                                   authorized_keys=False).port
            else:
                port = stack.enter_context(sshd(tmp_path, keys)).port
                unlinking = stack.enter_context(
                    sshd(tmp_path, keys, "StreamLocalBindUnlink yes\n")).port
            path = d / "c.sock"
            spec = f"{path}:127.0.0.1:{t.port}"

            def master(p, name):
                ctl = str(tmp_path / name)
                m = subprocess.Popen(
                    ssh_to(p, keys["ed25519"], "-N", "-M", "-S", ctl,
                           user=pw.pw_name),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                procs.append(m)
                deadline = time.time() + 30
                while not os.path.exists(ctl):
                    assert m.poll() is None and time.time() < deadline
                    time.sleep(0.1)
                return ["ssh", "-S", ctl, "-o", "LogLevel=ERROR"]

            def mux(base, *args):
                return subprocess.run(base + list(args) + ["x"],
                                      capture_output=True, text=True,
                                      timeout=60)

            def fetch():
                c = socket.socket(socket.AF_UNIX)
                c.settimeout(30)
                c.connect(str(path))
                got = recv_all(c, 100)
                c.close()
                return got

            want = b"".join(stream_bytes(100))
            base = master(port, "ctl")
            r = mux(base, "-O", "forward", "-R", spec)
            assert r.returncode == 0, r.stderr
            assert fetch() == want
            r = mux(base, "-O", "cancel", "-R", spec)
            assert r.returncode == 0, r.stderr
            deadline = time.time() + 30
            while not unix_refused(path):
                assert time.time() < deadline, "still accepting"
                time.sleep(0.1)
            assert path.exists()  # left behind, as sshd leaves it
            # The master lives on and can forward elsewhere.
            r = mux(base, "-O", "check")
            assert r.returncode == 0, r.stderr
            # The same path again: the stale file makes the bind fail...
            r = mux(base, "-O", "forward", "-R", spec)
            assert r.returncode != 0, r.stdout
            mux(base, "-O", "exit")
            # ...unless the server unlinks before binding.
            base2 = master(unlinking, "ctl2")
            r = mux(base2, "-O", "forward", "-R", spec)
            assert r.returncode == 0, r.stderr
            assert fetch() == want
            r = mux(base2, "-O", "cancel", "-R", spec)
            assert r.returncode == 0, r.stderr
            deadline = time.time() + 30
            while not unix_refused(path):
                assert time.time() < deadline, "still accepting"
                time.sleep(0.1)
            mux(base2, "-O", "exit")
    finally:
        shutil.rmtree(d, ignore_errors=True)
