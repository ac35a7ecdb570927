"""Login records of pty sessions (issue 17): utmp while the session runs
(`who` inside it), wtmp with the logout after it (`last`), and the pty
owned by the user, group tty, mode 0620, as sshd leaves it."""

import contextlib
import fcntl
import os
import re
import struct
import subprocess

import pytest

from accounts import made_user, paramiko_password

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root for login records")

NAME = "wka_aclr"


@contextlib.contextmanager
def utmp_file():
    """/run/utmp is made by systemd-tmpfiles at boot; a container may have
    none. Made here (root:utmp 0664) when missing and removed afterwards,
    under a lock so two runs agree on who made it."""
    with open("/run/lock/whelk-test-utmp.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = not os.path.exists("/run/utmp")
        if made:
            with open("/run/utmp", "wb"):
                pass
            os.chmod("/run/utmp", 0o664)
        try:
            yield
        finally:
            if made:
                os.unlink("/run/utmp")


def utmp_types(line, path="/run/utmp"):
    """The ut_type of |path|'s entries for |line| (glibc's 384-byte
    struct utmp: type at 0, pid at 4, line at 8)."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for off in range(0, len(data) - 383, 384):
        ut_type, = struct.unpack_from("<h", data, off)
        ut_line = data[off + 8:off + 40].split(b"\0")[0].decode()
        if ut_line == line:
            out.append(ut_type)
    return out


USER_PROCESS, DEAD_PROCESS = 7, 8


def test_who_and_last(whelkd, keys):
    with utmp_file(), made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd(authorized_keys=False)
        r = s.ssh(keys["ed25519"], "-tt", user=NAME, timeout=60,
                  command='who; echo "tty=$SSH_TTY"; '
                          'stat -c "%U %G %a" "$SSH_TTY"')
        assert r.returncode == 0, r.stderr
        tty = re.search(r"tty=/dev/(pts/\d+)", r.stdout)
        assert tty, r.stdout
        line = tty.group(1)
        # utmp during the session: who shows the user on its pty.
        assert re.search(rf"^{NAME}\s+{line}\s.*\(127\.0\.0\.1\)",
                         r.stdout, re.M), r.stdout
        # sshd's pty_setowner: the user's, group tty, 0620.
        assert f"{NAME} tty 620" in r.stdout, r.stdout
        # After it: its utmp entry is dead, wtmp has a logout time.
        assert utmp_types(line) == [DEAD_PROCESS], utmp_types(line)
        who = subprocess.run(["who"], capture_output=True, text=True)
        assert not re.search(rf"^{NAME}\s+{line}\s", who.stdout, re.M), \
            who.stdout
        last = subprocess.run(["last", "-w", NAME], capture_output=True,
                              text=True).stdout
        rows = [ln for ln in last.splitlines()
                if ln.startswith(NAME + " ") and f" {line} " in ln]
        assert rows, last
        assert "127.0.0.1" in rows[0], rows
        # The logout: wtmp's last two entries for the line.
        assert utmp_types(line, "/var/log/wtmp")[-2:] == [USER_PROCESS,
                                                          DEAD_PROCESS]


def test_lastb_after_failure(whelkd, keys):
    """sshd's record_failed_login: a failed password goes to btmp with the
    name as given, also for an unknown user."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        subprocess.run(["chpasswd"], input=f"{NAME}:right-pass\n", text=True,
                       check=True)
        s = whelkd(authorized_keys=False)
        def counts():
            out = subprocess.run(["lastb", "-w"], capture_output=True,
                                 text=True).stdout
            rows = [r for r in out.splitlines() if "ssh:notty" in r and
                    "127.0.0.1" in r]
            return tuple(sum(r.startswith(n + " ") for r in rows)
                         for n in (NAME, "wka_acnobody"))
        before = counts()
        assert not paramiko_password(s, NAME, "wrong-pass")
        assert not paramiko_password(s, "wka_acnobody", "wrong-pass")
        assert paramiko_password(s, NAME, "right-pass")
        after = counts()
        # One row each (the success adds none).
        assert (after[0] - before[0], after[1] - before[1]) == (1, 1), \
            (before, after)


def motd_shown(s, keys, user, text):
    """Whether an interactive pty login shell shows /etc/motd's |text|."""
    from conftest import Pty
    with Pty(s.ssh_args(keys["ed25519"], "-tt", user=user)) as p:
        p.send("echo end-$((6*7)); exit\r")
        p.expect("end-42")
        p.wait()
        return text.encode() in p.out


@contextlib.contextmanager
def motd_file():
    """The system's /etc/motd, or one made for the test (under a lock,
    removed afterwards) where there is none."""
    with open("/run/lock/whelk-test-motd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = not os.path.exists("/etc/motd")
        if made:
            with open("/etc/motd", "w") as f:
                f.write("whelk test message of the day\n")
        try:
            with open("/etc/motd") as f:
                yield next(ln for ln in f.read().splitlines() if ln.strip())
        finally:
            if made:
                os.unlink("/etc/motd")


def test_print_motd(whelkd, keys):
    """sshd's do_motd: PrintMotd (default yes) shows /etc/motd to an
    interactive pty login, not with ~/.hushlogin or PrintMotd no."""
    with motd_file() as text, made_user(NAME, keys["ed25519"] + ".pub") as pw:
        s = whelkd(authorized_keys=False)
        assert motd_shown(s, keys, NAME, text)
        off = whelkd("-o", "PrintMotd=no", authorized_keys=False)
        assert not motd_shown(off, keys, NAME, text)
        hush = os.path.join(pw.pw_dir, ".hushlogin")
        open(hush, "w").close()
        assert not motd_shown(s, keys, NAME, text)
        # A command, even with a pty, gets no motd.
        r = s.ssh(keys["ed25519"], "-tt", user=NAME, command="echo x")
        assert r.stdout == "x\n", r.stdout


def login_text(s, keys, user):
    from conftest import Pty
    with Pty(s.ssh_args(keys["ed25519"], "-tt", user=user)) as p:
        p.send("echo end-$((6*7)); exit\r")
        p.expect("end-42")
        p.wait()
        return p.out.decode(errors="replace")


def test_print_lastlog(whelkd, keys):
    """sshd's PrintLastLog (default yes): the previous login's time and
    host before the shell; lastlog(8) shows the new one."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd(authorized_keys=False)
        login_text(s, keys, NAME)  # a uid reused may show an older one
        out = login_text(s, keys, NAME)
        assert re.search(r"Last login: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d "
                         r"\d{4} from 127\.0\.0\.1\r+\n", out), out
        ll = subprocess.run(["lastlog", "-u", NAME], capture_output=True,
                            text=True).stdout
        assert re.search(rf"^{NAME}\s+pts/\d+\s+127\.0\.0\.1", ll, re.M), ll
        off = whelkd("-o", "PrintLastLog=no", authorized_keys=False)
        assert "Last login" not in login_text(off, keys, NAME)
