"""Logging to syslog (issue 17): without -e whelkd sends each line to
/dev/log with SyslogFacility and a priority per level, and LogLevel
filters. The test's own datagram socket stands in for /dev/log inside a
private mount namespace (unshare -m), so whelkd has no test hook and the
machine's /dev is untouched."""

import os
import re
import socket

import paramiko
import pytest

from conftest import USER

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root for a mount namespace")

# In the new namespace: a private tmpfs over /dev with the few devices
# whelkd and its sessions use bound back in, and the socket as /dev/log.
SETUP = r"""set -e
old="$1"; sock="$2"; shift 2
mount --bind /dev "$old"
mount -t tmpfs -o mode=0755,size=64k whelk-test-dev /dev
for n in null zero full random urandom tty ptmx; do
    [ -e "$old/$n" ] || continue
    touch "/dev/$n"; mount --bind "$old/$n" "/dev/$n"
done
mkdir /dev/pts; mount --bind "$old/pts" /dev/pts
touch /dev/log; mount --bind "$sock" /dev/log
exec "$@"
"""

LOG_AUTH, LOG_LOCAL3 = 4, 19
LOG_ERR, LOG_INFO = 3, 6


@pytest.fixture
def devlog(tmp_path):
    path = str(tmp_path / "log.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    old = tmp_path / "olddev"
    old.mkdir()
    prefix = ["unshare", "-m", "sh", "-c", SETUP, "sh", str(old), path]
    try:
        yield s, prefix
    finally:
        s.close()


def received(sock, want, timeout=20):
    """(facility, priority, text) of every datagram until one's text
    matches |want| (or |timeout|)."""
    import time
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            d = sock.recv(65536).decode(errors="replace")
        except socket.timeout:
            continue
        m = re.match(r"<(\d+)>(.*)", d, re.S)
        assert m, d
        pri = int(m.group(1))
        got.append((pri >> 3, pri & 7, m.group(2)))
        if re.search(want, m.group(2)):
            break
    return got


def too_many_failures(s):
    t = paramiko.Transport(("127.0.0.1", s.port))
    t.start_client(timeout=10)
    try:
        for _ in range(10):
            try:
                t.auth_password("wka_acnobody", "wrong")
            except paramiko.AuthenticationException:
                pass
            except (paramiko.SSHException, EOFError):
                break
            if not t.is_active():
                break
    finally:
        t.close()


def test_syslog_default_facility(whelkd, keys, devlog):
    sock, prefix = devlog
    s = whelkd(prefix=prefix, log_stderr=False)
    r = s.ssh(keys["ed25519"], command="true")
    assert r.returncode == 0, r.stderr
    got = received(sock, rf"Accepted publickey for {USER} from")
    line = [g for g in got if "Accepted publickey" in g[2]]
    assert line, got
    fac, prio, text = line[0]
    assert (fac, prio) == (LOG_AUTH, LOG_INFO), line
    # sshd's tag: the program name and the process id.
    assert re.match(r"(\w{3} [ \d]\d \d\d:\d\d:\d\d )?whelkd\[\d+\]: ",
                    text), text
    # Nothing went to stderr.
    assert "Accepted publickey" not in s.log()


def test_syslog_facility_and_level(whelkd, keys, devlog):
    sock, prefix = devlog
    s = whelkd("-o", "SyslogFacility=LOCAL3", "-o", "LogLevel=ERROR",
               prefix=prefix, log_stderr=False)
    r = s.ssh(keys["ed25519"], command="true")
    assert r.returncode == 0, r.stderr
    too_many_failures(s)
    got = received(sock, r"Disconnecting")
    assert got, "no syslog line"
    # LogLevel ERROR: only error lines, at LOCAL3 with LOG_ERR.
    assert all(p <= LOG_ERR for _, p, _ in got), got
    assert all(f == LOG_LOCAL3 for f, _, _ in got), got
    assert not any("Accepted" in t or "Failed password" in t
                   for _, _, t in got), got
    assert any("Disconnecting" in t for _, _, t in got), got


def test_stderr_with_e(whelkd, keys, devlog):
    sock, prefix = devlog
    s = whelkd("-e", prefix=prefix, log_stderr=False)
    r = s.ssh(keys["ed25519"], command="true")
    assert r.returncode == 0, r.stderr
    assert s.wait_log(f"Accepted publickey for {USER} from")
    assert not received(sock, "Accepted", timeout=2)
