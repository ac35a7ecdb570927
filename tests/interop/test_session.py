"""The session channel against OpenSSH's ssh, sftp and scp, paramiko and
AsyncSSH: exec and shells, pty and terminal size, environment, signals,
subsystems, flow control, EOF/CLOSE order and malformed requests."""

import asyncio
import hashlib
import os
import subprocess
import time

import asyncssh
import paramiko
import pytest

from conftest import USER


@pytest.fixture
def server(whelkd):
    return whelkd("-E", "LANG", "-E", "WHELK_OK_*")


def test_stdout_stderr_and_status(server, keys):
    for code in (0, 1, 7, 255):
        r = server.ssh(keys["ed25519"],
                       command=f"echo out; echo err >&2; exit {code}")
        assert r.returncode == code
        assert r.stdout == "out\n"
        assert r.stderr == "err\n"


def paramiko_client(server, keys):
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", server.port, USER, key_filename=keys["ed25519"],
              look_for_keys=False, allow_agent=False, timeout=10)
    return c


async def asyncssh_conn(server, keys):
    return await asyncssh.connect(
        "127.0.0.1", server.port, username=USER,
        client_keys=[keys["ed25519"]], known_hosts=None, config=None)


def test_killed_by_signal(server, keys):
    async def go():
        async with await asyncssh_conn(server, keys) as conn:
            r = await conn.run("kill -TERM $$; sleep 5")
            return r.exit_signal
    sig = asyncio.run(go())
    assert sig is not None and sig[0] == "TERM"


def test_send_signal_int(server, keys):
    async def go():
        async with await asyncssh_conn(server, keys) as conn:
            proc = await conn.create_process("exec sleep 100")
            await asyncio.sleep(0.5)
            proc.send_signal("INT")
            await asyncio.wait_for(proc.wait_closed(), 10)
            return proc.exit_signal
    sig = asyncio.run(go())
    assert sig is not None and sig[0] == "INT"


def test_bulk_upload_and_download(server, keys, tmp_path):
    data = os.urandom(1 << 20) * 100  # 100 MiB
    want = hashlib.sha256(data).hexdigest()
    r = server.ssh(keys["ed25519"], command="sha256sum", input=data,
                   text=False, timeout=120)
    assert r.returncode == 0
    assert r.stdout.split()[0].decode() == want
    src = tmp_path / "src"
    src.write_bytes(data)
    r = server.ssh(keys["ed25519"], command=f"cat {src}", text=False,
                   timeout=120)
    assert hashlib.sha256(r.stdout).hexdigest() == want


def test_pty_term_and_size(server, keys):
    r = server.ssh(keys["ed25519"], "-tt", "-o", "SetEnv=TERM=vt220",
                   command="tty; echo $TERM; stty size", input="")
    lines = r.stdout.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/")
    c = paramiko_client(server, keys)
    ch = c.get_transport().open_session()
    ch.get_pty(term="xterm-256color", width=91, height=33)
    ch.exec_command("echo $TERM; stty size; read go; stty size")
    # Resize only once the first size is out (a slow login shell must not
    # see the new size early), then let the command go on.
    out = b""
    deadline = time.time() + 20
    while b"33 91" not in out and time.time() < deadline:
        chunk = ch.recv(4096)
        if not chunk:
            break
        out += chunk
    ch.resize_pty(width=120, height=40)
    ch.send(b"go\n")  # after the window-change, in channel order
    while True:
        chunk = ch.recv(4096)
        if not chunk:
            break
        out += chunk
    c.close()
    got = [x for x in out.decode().replace("\r", "").splitlines()
           if x != "go"]  # the pty echoes what was typed
    assert got == ["xterm-256color", "33 91", "40 120"], got


def tmux(*args):
    # A socket of this run's own: another run's kill-server must not end
    # this one's session.
    return subprocess.run(["tmux", "-L", f"whelktest-{os.getpid()}", *args],
                          capture_output=True, text=True, timeout=10)


def wait_screen(text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        screen = tmux("capture-pane", "-p", "-t", "w").stdout
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not on screen:\n{screen}")


def test_interactive_shell_tmux(server, keys, tmp_path):
    status = tmp_path / "status"
    cmd = " ".join(server.ssh_args(keys["ed25519"], "-tt")) + \
        f"; echo EXIT=$? > {status}"
    tmux("kill-server")
    tmux("new-session", "-d", "-s", "w", "-x", "100", "-y", "30",
         "env PS1='$ ' " + cmd)
    try:
        time.sleep(1)
        tmux("send-keys", "-t", "w", "echo hi", "Enter")
        wait_screen("\nhi")
        tmux("send-keys", "-t", "w", "sleep 100; echo after", "Enter")
        time.sleep(0.7)
        tmux("send-keys", "-t", "w", "C-c")
        tmux("send-keys", "-t", "w", "echo interrupted", "Enter")
        wait_screen("\ninterrupted")
        tmux("send-keys", "-t", "w", "exit 3", "Enter")
        deadline = time.time() + 10
        while not status.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        assert status.read_text().strip() == "EXIT=3"
    finally:
        tmux("kill-server")


def test_env_accepted_and_refused(server, keys):
    env = dict(os.environ, LANG="C.UTF-8", WHELK_NO="secret")
    r = subprocess.run(server.ssh_args(keys["ed25519"], "-o", "SendEnv=LANG",
                                       "-o", "SendEnv=WHELK_NO")
                       + ["echo L=$LANG N=$WHELK_NO"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.stdout == "L=C.UTF-8 N=\n", r.stderr


def test_sftp_and_scp(server, keys, tmp_path):
    data = os.urandom(20 << 20)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    remote = tmp_path / "remote.bin"
    back = tmp_path / "back.bin"
    batch = tmp_path / "batch"
    batch.write_text(f"put {src} {remote}\nls -l {remote}\n"
                     f"get {remote} {back}\nrm {remote}\n")
    base = ["-F", "/dev/null", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o",
            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-i", keys["ed25519"], "-P", str(server.port)]
    r = subprocess.run(["sftp", *base, "-b", str(batch),
                        f"{USER}@127.0.0.1"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "remote.bin" in r.stdout
    assert back.read_bytes() == data
    assert not remote.exists()
    up = tmp_path / "up.bin"
    down = tmp_path / "down.bin"
    r = subprocess.run(["scp", *base, str(src), f"{USER}@127.0.0.1:{up}"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["scp", *base, f"{USER}@127.0.0.1:{up}", str(down)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert up.read_bytes() == data and down.read_bytes() == data


def test_unknown_subsystem_refused(server, keys):
    c = paramiko_client(server, keys)
    t = c.get_transport()
    ch = t.open_session()
    with pytest.raises(paramiko.SSHException):
        ch.invoke_subsystem("no-such-subsystem")
    _, out, _ = c.exec_command("echo still-here")
    assert out.read() == b"still-here\n"
    c.close()


def test_five_sessions_one_connection(server, keys):
    async def go():
        async with await asyncssh_conn(server, keys) as conn:
            cmds = [f"for i in 1 2 3; do echo s{n}-$i; sleep 0.1; done"
                    for n in range(5)]
            return await asyncio.gather(*(conn.run(c) for c in cmds))
    results = asyncio.run(go())
    for n, r in enumerate(results):
        assert r.stdout == "".join(f"s{n}-{i}\n" for i in (1, 2, 3))
        assert r.exit_status == 0


def sleeps_per_worker(server_pid, want, timeout=20):
    """Parent pid of every `sleep` run by one of whelkd's workers, once
    |want| of them are running."""
    deadline = time.time() + timeout
    while True:
        workers = set()
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            ppid = int(fields[1])
            if ppid == server_pid:
                workers.add(int(pid))
            if comm == "sleep":
                found.append(ppid)
        mine = sorted(p for p in found if p in workers)
        if len(mine) == want or time.time() > deadline:
            return workers, mine
        time.sleep(0.05)


def test_workers_share_connections(whelkd, keys):
    """-w 2: the parent hands each connection to the worker with the fewest
    live ones, so concurrent sessions are spread evenly, and a worker's
    count goes down again when its connections end."""
    s = whelkd("-w", "2")
    ended = 0
    for rnd, n in enumerate((4, 2)):
        clients = [subprocess.Popen(s.ssh_args(keys["ed25519"]) +
                                    ["exec sleep 60"],
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
                   for _ in range(n)]
        try:
            workers, parents = sleeps_per_worker(s.proc.pid, n)
            assert len(workers) == 2
            assert len(parents) == n, parents
            assert [parents.count(w) for w in sorted(workers)] == \
                [n // 2, n // 2], (rnd, workers, parents)
        finally:
            for c in clients:
                c.kill()
                c.wait()
        # Every connection's end reaches its worker before the next round.
        ended += n
        deadline = time.time() + 20
        while s.log().count("Connection closed by") < ended:
            assert time.time() < deadline, s.log()[-2000:]
            time.sleep(0.05)


def test_yes_head_ends_quickly(server, keys):
    args = " ".join(server.ssh_args(keys["ed25519"]))
    start = time.time()
    r = subprocess.run(f"yes | {args} head -1", shell=True,
                       capture_output=True, text=True, timeout=20)
    took = time.time() - start
    assert r.stdout == "y\n"
    assert took < 2, took


def test_cat_echoes_input(server, keys):
    data = os.urandom(10 << 20)
    r = server.ssh(keys["ed25519"], command="cat", input=data, text=False,
                   timeout=60)
    assert r.stdout == data
    # EOF before the command started: input sent all at once, then EOF.
    r = server.ssh(keys["ed25519"], command="sleep 0.5; cat", input=data,
                   text=False, timeout=60)
    assert r.stdout == data


def test_short_write_after_bulk_arrives(server, keys):
    """After a bulk stream whelkd has the kernel report the socket readable
    only once 256 KiB wait (SO_RCVLOWAT); a short write that follows, with
    the client's input still open, must still reach the program."""
    import select
    p = subprocess.Popen(server.ssh_args(keys["ed25519"]) +
                         ["head -c 8388608 >/dev/null; read line; "
                          "echo got $line; cat >/dev/null"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        p.stdin.write(b"\0" * (8 << 20))
        p.stdin.flush()
        p.stdin.write(b"ping\n")
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 20)
        assert ready, "the short write after the bulk data was held back"
        assert p.stdout.readline() == b"got ping\n"
        p.stdin.close()
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_slow_reader_bounded_memory(whelkd, keys, monkeypatch):
    # -w 1: the connection is served in the process whose RSS is read
    # (with workers, the parent only hands connections off and would
    # show no growth whatever a worker buffered). Under make asan the
    # sanitizer's quarantine of freed blocks (256 MiB by default) would
    # be counted as whelkd's: it is turned off for this server.
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") +
                       ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
    server = whelkd("-w", "1")
    monkeypatch.delenv("ASAN_OPTIONS", raising=False)
    before = rss_kib(server.proc.pid)
    p = subprocess.Popen(server.ssh_args(keys["ed25519"]) +
                         ["head -c 209715200 /dev/zero"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = before
    got = 0
    while True:
        chunk = p.stdout.read(256 * 1024)
        if not chunk:
            break
        got += len(chunk)
        if got < (40 << 20):
            time.sleep(0.02)  # a slow reader for the first part
        peak = max(peak, rss_kib(server.proc.pid))
    p.wait(60)
    assert got == 209715200
    assert peak - before < 16 * 1024, (before, peak)


def raw_channel(server, keys):
    c = paramiko_client(server, keys)
    t = c.get_transport()
    ch = t.open_session()
    return c, t, ch


def send_request(t, chan_id, name, want, *fields):
    m = paramiko.Message()
    m.add_byte(bytes([98]))
    m.add_int(chan_id)
    m.add_string(name)
    m.add_boolean(want)
    for f in fields:
        if isinstance(f, int):
            m.add_int(f)
        else:
            m.add_string(f)
    t._send_user_message(m)


def test_malformed_requests(server, keys):
    c, t, ch = raw_channel(server, keys)
    # A truncated pty-req and a window-change without a pty get FAILURE;
    # paramiko records failures as events on the channel.
    send_request(t, ch.remote_chanid, "pty-req", True, "xterm", 80)
    send_request(t, ch.remote_chanid, "window-change", True, 80, 24, 0, 0)
    time.sleep(0.3)
    assert t.is_active()
    # paramiko gives up on a channel after an unexpected FAILURE reply;
    # the connection itself goes on.
    _, out, _ = c.exec_command("echo ok")
    assert out.read() == b"ok\n"
    c.close()
    # A request for a channel that does not exist ends that connection.
    c, t, ch = raw_channel(server, keys)
    send_request(t, 4242, "exec", True, "true")
    deadline = time.time() + 5
    while t.is_active() and time.time() < deadline:
        time.sleep(0.05)
    assert not t.is_active()
    c.close()
    assert server.wait_log("nonexistent channel 4242")
    # Data beyond the window: disconnect, and the next client is served.
    c, t, ch = raw_channel(server, keys)
    ch.exec_command("sleep 5")
    for _ in range(80):
        m = paramiko.Message()
        m.add_byte(bytes([94]))
        m.add_int(ch.remote_chanid)
        m.add_string(b"z" * 32768)
        try:
            t._send_user_message(m)
        except Exception:  # noqa: BLE001 - the server hung up
            break
    deadline = time.time() + 5
    while t.is_active() and time.time() < deadline:
        time.sleep(0.05)
    assert not t.is_active()
    c.close()
    assert server.wait_log("beyond its window")
    r = server.ssh(keys["ed25519"], command="echo next")
    assert r.stdout == "next\n"
