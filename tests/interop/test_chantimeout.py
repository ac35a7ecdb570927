"""ChannelTimeout (issue 15): a channel that moves no data for the
interval is closed, one that keeps data flowing stays; types by name and
pattern (OpenSSH 9.2's session:command as well as the later "session"),
"global" over all of a connection's channels, and Match blocks. The
cases OpenSSH 9.2 has run on its sshd too, from the same lines."""

import subprocess
import time

import paramiko
import pytest

from accounts import sshd
from conftest import USER

IDLE = "sleep 20; echo not-closed"
# Output every second for six seconds, then a word: traffic throughout.
BUSY = "for i in 1 2 3 4 5 6; do echo tick; sleep 1; done; echo done"


def base(keys):
    return (f"AuthorizedKeysFile {keys['authorized_keys']}\n"
            "PermitRootLogin yes\nStrictModes no\n")


def run(s, keys, command):
    return s.ssh(keys["ed25519"], command=command, timeout=60)


def servers(whelkd, tmp_path, keys, text, with_sshd=True):
    cfg = tmp_path / f"ct-{len(list(tmp_path.iterdir()))}.conf"
    cfg.write_text(text)
    yield whelkd("-w", "1", "-f", str(cfg))
    if with_sshd:
        with sshd(tmp_path, keys, base(keys) + text) as s:
            yield s


@pytest.mark.parametrize("spec", ["session:*=3", "session:command=3"])
def test_idle_session_closed_busy_one_stays(whelkd, keys, tmp_path, spec):
    for s in servers(whelkd, tmp_path, keys, f"ChannelTimeout {spec}\n"):
        r = run(s, keys, IDLE)
        assert "not-closed" not in r.stdout, (s, r)
        assert r.returncode != 0, (s, r)
        r = run(s, keys, BUSY)
        assert r.returncode == 0 and r.stdout.endswith("done\n"), (s, r)
        if "whelkd" in s.log_path:
            assert "closing after 3 seconds of inactivity" in s.log(), s.log()


def test_session_type_and_other_types(whelkd, keys, tmp_path):
    """"session" (the later sshd's type name) covers a command; a timeout
    for another type, or 0, leaves a session alone."""
    for s in servers(whelkd, tmp_path, keys, "ChannelTimeout session=3\n",
                     with_sshd=False):
        r = run(s, keys, IDLE)
        assert "not-closed" not in r.stdout and r.returncode != 0, r
    text = "ChannelTimeout direct-tcpip=2 x11-connection=2 session=0\n"
    for s in servers(whelkd, tmp_path, keys, text, with_sshd=False):
        r = run(s, keys, "sleep 5; echo not-closed")
        assert r.returncode == 0 and r.stdout == "not-closed\n", r


def test_channel_timeout_in_match(whelkd, keys, tmp_path):
    """The block that matches the connection gives the timeout. (Debian
    12's sshd 9.2 shows it with -T -C but does not apply ChannelTimeout
    from a Match block, a bug of that version; so sshd runs only the case
    where no block matches.)"""
    text = ("Match Address 10.0.0.0/8\n  ChannelTimeout session:*=2\n"
            "Match Address 127.0.0.1\n  ChannelTimeout session:*=3\n")
    for s in servers(whelkd, tmp_path, keys, text, with_sshd=False):
        r = run(s, keys, IDLE)
        assert "not-closed" not in r.stdout and r.returncode != 0, (s, r)
    text = "Match Address 10.0.0.0/8\n  ChannelTimeout session:*=2\n"
    for s in servers(whelkd, tmp_path, keys, text):
        r = run(s, keys, "sleep 5; echo not-closed")
        assert r.returncode == 0 and r.stdout == "not-closed\n", (s, r)


def wait_closed(ch, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ch.closed or ch.eof_received:
            return True
        time.sleep(0.1)
    return False


def test_global_timeout(whelkd, keys, tmp_path):
    """global=3: an idle channel stays open while another on the same
    connection has traffic; once neither has, both are closed."""
    cfg = tmp_path / "global.conf"
    cfg.write_text("ChannelTimeout global=3\n")
    s = whelkd("-w", "1", "-f", str(cfg))
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=10)
        t.auth_publickey(USER, paramiko.Ed25519Key.from_private_key_file(
            keys["ed25519"]))
        idle = t.open_session()
        idle.exec_command("sleep 60")
        busy = t.open_session()
        busy.exec_command("cat")
        for i in range(8):  # 8 s of traffic on one channel only
            busy.sendall(b"x\n")
            got = b""
            while not got.endswith(b"x\n"):
                got += busy.recv(16)
            time.sleep(1)
        assert not idle.closed and not idle.eof_received, s.log()
        assert "ChannelTimeout global" not in s.log()
        # Now nothing moves: both go.
        assert wait_closed(idle, 30) and wait_closed(busy, 30), s.log()
        assert "closing every channel after 3 seconds of inactivity" in \
            s.log(), s.log()
        assert t.is_active()  # the connection itself stays
    finally:
        t.close()
