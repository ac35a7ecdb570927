"""Agent and X11 forwarding (issue 16) with OpenSSH's ssh: `ssh -A` with
ssh-add -l and a second hop through the forwarded agent, the socket's
directory (0700, the user's, gone after the session); `ssh -Y` with an
Xvfb and xdpyinfo through the forwarded DISPLAY, the cookie in xauth
list; and the keywords and key options that refuse each."""

import os
import re
import signal
import subprocess
import time

import pytest

from accounts import made_user, sshd
from conftest import USER, keygen

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users")

AGENT_USER = "wka_fa_ag"
X11_USER = "wka_fa_x"


def stop_pid(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def agent(tmp_path):
    """A test ssh-agent (by PID) holding a fresh key: (env, key path)."""
    key = keygen(str(tmp_path / "agent_key"), "ed25519")
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        env = dict(os.environ, SSH_AUTH_SOCK=sock)
        subprocess.run(["ssh-add", "-q", key], env=env, check=True,
                       capture_output=True)
        yield env, key
    finally:
        stop_pid(proc)


def fingerprint(key):
    return subprocess.run(["ssh-keygen", "-lf", key + ".pub"],
                          capture_output=True, text=True,
                          check=True).stdout.split()[1]


def run_ssh(server, key, user, command, *opts, env=None):
    args = server.ssh_args(key, *opts, user=user) + [command]
    return subprocess.run(args, capture_output=True, text=True, timeout=90,
                          env=env)


HOP = ("ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no "
       "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p {port} "
       "{user}@127.0.0.1 echo hop-ok")


def test_agent_forwarding_lists_hops_and_cleans_up(whelkd, agent):
    env, key = agent
    with made_user(AGENT_USER, key + ".pub") as pw:
        s = whelkd("-w", "1", authorized_keys=False)
        command = ("ssh-add -l; echo SOCK=$SSH_AUTH_SOCK; "
                   "stat -c 'DIR=%a %U' \"$(dirname \"$SSH_AUTH_SOCK\")\"; "
                   "stat -c 'SOCKET=%U %F' \"$SSH_AUTH_SOCK\"; " +
                   HOP.format(port=s.port, user=AGENT_USER))
        r = run_ssh(s, key, AGENT_USER, command, "-A", env=env)
        assert r.returncode == 0, r.stdout + r.stderr + s.log()
        assert fingerprint(key) in r.stdout
        m = re.search(r"SOCK=(/tmp/ssh-[A-Za-z0-9]{10}/agent\.\d+)\n",
                      r.stdout)
        assert m, r.stdout
        assert "XXXX" not in m.group(1)  # every X replaced
        assert f"DIR=700 {AGENT_USER}\n" in r.stdout
        assert f"SOCKET={AGENT_USER} socket\n" in r.stdout
        assert "hop-ok\n" in r.stdout
        # The directory goes with the session.
        d = os.path.dirname(m.group(1))
        deadline = time.time() + 15
        while os.path.exists(d) and time.time() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(d)
        assert pw.pw_uid > 0


def test_agent_socket_removed_when_connection_drops(whelkd, agent,
                                                   tmp_path):
    """The client goes away without closing its channels: the socket
    and its directory still go (with the connection)."""
    env, key = agent
    ak = tmp_path / "ak"
    ak.write_text(open(key + ".pub").read())
    s = whelkd(authorized_keys=str(ak))
    args = s.ssh_args(key, "-A") + ["echo SOCK=$SSH_AUTH_SOCK; sleep 120"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        m = re.match(r"SOCK=(/tmp/ssh-[A-Za-z0-9]{10}/agent\.\d+)$",
                     line.strip())
        assert m, line + s.log()
        assert os.path.exists(m.group(1))
    finally:
        proc.kill()  # our own ssh, by PID
        proc.wait()
    d = os.path.dirname(m.group(1))
    deadline = time.time() + 15
    while os.path.exists(d) and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(d), s.log()


@pytest.mark.parametrize("how", ["keyword", "key option", "restrict"])
def test_agent_forwarding_refused(whelkd, agent, tmp_path, how):
    env, key = agent
    ak = tmp_path / "ak"
    prefix = {"keyword": "", "key option": "no-agent-forwarding ",
              "restrict": "restrict "}[how]
    ak.write_text(prefix + open(key + ".pub").read())
    extra = ("-o", "AllowAgentForwarding=no") if how == "keyword" else ()
    s = whelkd(*extra, authorized_keys=str(ak))
    r = run_ssh(s, key, None, "echo SOCK=${SSH_AUTH_SOCK:-none}", "-A",
                env=env)
    assert r.returncode == 0, r.stderr + s.log()
    assert "SOCK=none\n" in r.stdout
    assert s.wait_log("agent forwarding refused")


def test_agent_forwarding_permitted_after_restrict(whelkd, agent, tmp_path):
    env, key = agent
    ak = tmp_path / "ak"
    ak.write_text("restrict,agent-forwarding " + open(key + ".pub").read())
    s = whelkd(authorized_keys=str(ak))
    r = run_ssh(s, key, None, "ssh-add -l", "-A", env=env)
    assert r.returncode == 0, r.stdout + r.stderr + s.log()
    assert fingerprint(key) in r.stdout


def free_display():
    for n in range(60, 200):
        if not os.path.exists(f"/tmp/.X{n}-lock") and \
                not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return n
    raise RuntimeError("no free X display")


@pytest.fixture
def xvfb(tmp_path):
    """An Xvfb (by PID) on a free display, no TCP, with a cookie: the
    client's environment (DISPLAY, XAUTHORITY)."""
    auth = str(tmp_path / "xauthority")
    cookie = os.urandom(16).hex()
    n = free_display()
    subprocess.run(["xauth", "-f", auth, "add", f":{n}", ".", cookie],
                   check=True, capture_output=True)
    proc = subprocess.Popen(["Xvfb", f":{n}", "-nolisten", "tcp", "-auth",
                             auth, "-screen", "0", "1234x567x24"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        yield dict(os.environ, DISPLAY=f":{n}", XAUTHORITY=auth)
    finally:
        stop_pid(proc)


def x11_session(s, keys, env):
    """DISPLAY, the xauth list lines (display number and cookie taken
    out) and xdpyinfo's dimensions, through `ssh -Y` to |s|."""
    command = ("echo DISPLAY=$DISPLAY; xauth list; "
               "xdpyinfo | grep -E 'dimensions:'")
    r = run_ssh(s, keys["ed25519"], X11_USER, command, "-Y", env=env)
    assert r.returncode == 0, r.stdout + r.stderr + s.log()
    m = re.search(r"DISPLAY=localhost:(\d+)\.0\n", r.stdout)
    assert m, r.stdout + r.stderr
    n = int(m.group(1))
    entries = re.findall(rf"^(\S+)/unix:{n}\s+MIT-MAGIC-COOKIE-1\s+"
                         r"[0-9a-f]{32}$", r.stdout, re.M)
    assert len(entries) == 1, r.stdout
    assert "1234x567 pixels" in r.stdout, r.stdout + r.stderr
    return n


def test_x11_forwarding_xdpyinfo(whelkd, keys, xvfb, tmp_path):
    with made_user(X11_USER, keys["ed25519"] + ".pub"):
        # The first value counts; displays start at the offset.
        s = whelkd("-w", "1", "-o", "X11Forwarding=yes",
                   "-o", "X11Forwarding=no", "-o", "X11DisplayOffset=20",
                   authorized_keys=False)
        assert x11_session(s, keys, xvfb) >= 20
        # sshd, beside it, gives the same DISPLAY form and xauth entry.
        with sshd(tmp_path, keys, "X11Forwarding yes\n"
                  "X11DisplayOffset 20\n") as o:
            assert x11_session(o, keys, xvfb) >= 20


def test_x11_forwarding_default_refused(whelkd, keys, xvfb):
    s = whelkd()
    r = run_ssh(s, keys["ed25519"], None, "echo DISPLAY=${DISPLAY:-none}",
                "-Y", env=xvfb)
    assert r.returncode == 0, r.stderr + s.log()
    assert "DISPLAY=none\n" in r.stdout
    assert s.wait_log("X11 forwarding disabled in server configuration")


@pytest.mark.parametrize("option,allowed", [
    ("no-X11-forwarding", False), ("restrict", False),
    ("restrict,X11-forwarding", True)])
def test_x11_forwarding_key_options(whelkd, keys, xvfb, tmp_path, option,
                                    allowed):
    ak = tmp_path / "ak"
    ak.write_text(option + " " + open(keys["ed25519"] + ".pub").read())
    s = whelkd("-o", "X11Forwarding=yes", authorized_keys=str(ak))
    r = run_ssh(s, keys["ed25519"], None, "echo DISPLAY=${DISPLAY:-none}",
                "-Y", env=xvfb)
    assert r.returncode == 0, r.stderr + s.log()
    if allowed:
        assert re.search(r"DISPLAY=localhost:\d+\.0\n", r.stdout), r.stdout
    else:
        assert "DISPLAY=none\n" in r.stdout
        assert s.wait_log("refused by key option (no-X11-forwarding)")


def test_keywords_bad_values(tmp_path):
    from conftest import WHELKD
    for kv in ("X11Forwarding=maybe", "AllowAgentForwarding=1",
               "X11DisplayOffset=-1", "X11UseLocalhost=perhaps",
               "XAuthLocation=xauth"):
        r = subprocess.run([WHELKD, "-t", "-S", str(tmp_path), "-o", kv],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, kv
        assert kv.split("=")[0] in r.stderr or kv.split("=")[1] in \
            r.stderr, r.stderr


def test_x11_single_connection_and_originator(whelkd, keys):
    """paramiko asks for a single-connection display: the first
    connection becomes an x11 channel carrying the originator's address
    and port and the bytes both ways; the display then closes."""
    import queue
    import socket
    import paramiko
    s = whelkd("-o", "X11Forwarding=yes")
    opened = queue.Queue()
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=30)
        t.auth_publickey(USER,
                         paramiko.Ed25519Key.from_private_key_file(
                             keys["ed25519"]))
        chan = t.open_session(timeout=30)
        chan.request_x11(0, "MIT-MAGIC-COOKIE-1", "ab" * 16,
                         single_connection=True,
                         handler=lambda ch, orig: opened.put((ch, orig)))
        chan.exec_command("echo DISPLAY=$DISPLAY; sleep 60")
        f = chan.makefile("r")
        line = f.readline()
        m = re.match(r"DISPLAY=localhost:(\d+)\.0$", line.strip())
        assert m, line + s.log()
        port = 6000 + int(m.group(1))
        with socket.create_connection(("127.0.0.1", port), 10) as c1:
            ch, orig = opened.get(timeout=30)
            assert orig == ("127.0.0.1", c1.getsockname()[1])
            c1.sendall(b"to-client")
            got = b""
            ch.settimeout(30)
            while len(got) < 9:
                got += ch.recv(9 - len(got))
            assert got == b"to-client"
            ch.sendall(b"to-display")
            c1.settimeout(30)
            got = b""
            while len(got) < 10:
                got += c1.recv(10 - len(got))
            assert got == b"to-display"
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), 10).close()
        chan.close()
    finally:
        t.close()


def test_x11_channel_bulk_both_ways(whelkd, keys):
    """8 MiB each way through one x11 channel, byte-exact, with the
    client reading only after a pause (back-pressure on the display
    socket) and the display side reading only after a pause."""
    import hashlib
    import queue
    import socket
    import threading
    import paramiko
    size = 8 << 20
    data_up = os.urandom(size)
    data_down = os.urandom(size)
    s = whelkd("-o", "X11Forwarding=yes")
    opened = queue.Queue()
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=30)
        t.auth_publickey(USER, paramiko.Ed25519Key.from_private_key_file(
            keys["ed25519"]))
        chan = t.open_session(timeout=30)
        chan.request_x11(0, "MIT-MAGIC-COOKIE-1", "cd" * 16,
                         handler=lambda ch, orig: opened.put(ch))
        chan.exec_command("echo DISPLAY=$DISPLAY; sleep 120")
        line = chan.makefile("r").readline()
        m = re.match(r"DISPLAY=localhost:(\d+)\.0$", line.strip())
        assert m, line + s.log()
        with socket.create_connection(("127.0.0.1", 6000 + int(m.group(1))),
                                      10) as c1:
            ch = opened.get(timeout=30)
            ch.settimeout(120)
            c1.settimeout(120)
            sender = threading.Thread(target=c1.sendall, args=(data_down,))
            sender.start()
            ch_sender = threading.Thread(target=ch.sendall, args=(data_up,))
            ch_sender.start()
            time.sleep(1)  # nobody reads yet: both directions fill up
            got = bytearray()
            while len(got) < size:
                b = ch.recv(65536)
                assert b, len(got)
                got += b
            assert hashlib.sha256(got).digest() == \
                hashlib.sha256(data_down).digest()
            got = bytearray()
            while len(got) < size:
                b = c1.recv(65536)
                assert b, len(got)
                got += b
            assert hashlib.sha256(got).digest() == \
                hashlib.sha256(data_up).digest()
            sender.join(60)
            ch_sender.join(60)
        chan.close()
    finally:
        t.close()
