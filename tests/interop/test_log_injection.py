"""Peer-controlled strings must never forge a log line.

A client that puts a newline into a name it sends (user, service, method,
subsystem, request type, environment variable, terminal type, key comment)
could otherwise make whelkd write a second line of its choosing, such as
"Invalid user evil from 198.51.100.7 ..." or "Accepted publickey for root
...", and so make fail2ban ban an address the attacker picks. Every such
string is escaped by the code that logs it, and the log writer replaces any
control character it is still given."""

import os
import re
import socket
import subprocess
import time

import paramiko

from conftest import USER

FORGED_ADDR = "198.51.100.7"
FORGERIES = [
    f"x\nInvalid user evil from {FORGED_ADDR} port 1234",
    f"x\rFailed password for root from {FORGED_ADDR} port 1234 ssh2",
    f"x\033[2K\rAccepted publickey for root from {FORGED_ADDR} port 1 ssh2",
    f"x\x01\x7f\x1b\x08Invalid user evil from {FORGED_ADDR} port 99",
]

# Every line whelkd writes starts in one of these ways; a forged line
# would start with the attacker's text instead.
SHAPES = re.compile(
    r"^(Server listening on |host key: |started \d+ worker|"
    r"Connection from |Connection closed by |Invalid user |Failed \S+ for |"
    r"Accepted \S+ for |Disconnecting |Disconnected from |"
    r"Received disconnect from |Received signal |Starting session: |"
    r"subsystem request for |refusing |channel \d+: refusing request |"
    r"kex done for |session \d+: |rekeying |Timeout before |"
    r"maximum authentication attempts |bad signature |"
    r"Authentication tried for |Bad protocol version |"
    r"Protocol major versions differ |"
    r"\S+: file too large|\S+:\d+: |"
    # The authentication back end's own lines (names from the user
    # database, paths from the configuration).
    r"\d+ keys from |User \S+ not allowed because |Account \S+ has expired|"
    r"User '\S+' authorized keys |"
    r"ROOT LOGIN REFUSED FROM |Root login accepted for forced command|"
    r"Could not open user |Authentication refused: |Password attempt from |"
    r"Refusing a password attempt |ignoring environment= option )")


def raw(t, *parts):
    """Sends one message built from (kind, value) parts."""
    m = paramiko.Message()
    for kind, value in parts:
        getattr(m, "add_" + kind)(value)
    t._send_message(m)


def connect(server):
    t = paramiko.Transport(("127.0.0.1", server.port))
    t.start_client(timeout=10)
    return t


def wait_closed(t, timeout=5):
    deadline = time.time() + timeout
    while t.is_active() and time.time() < deadline:
        time.sleep(0.02)
    t.close()


def preauth_forgeries(server, forged):
    # The service name of SERVICE_REQUEST (the reproduced hole).
    t = connect(server)
    raw(t, ("byte", bytes([5])), ("string", forged))
    wait_closed(t)
    # The user name, in a password attempt and in a "none" request.
    t = connect(server)
    try:
        t.auth_password(forged, "wrong")
    except paramiko.SSHException:
        pass
    t.close()
    # The method name and the service inside USERAUTH_REQUEST.
    t = connect(server)
    raw(t, ("byte", bytes([5])), ("string", "ssh-userauth"))
    time.sleep(0.1)
    raw(t, ("byte", bytes([50])), ("string", USER),
        ("string", "ssh-connection"), ("string", forged))
    raw(t, ("byte", bytes([50])), ("string", USER),
        ("string", forged), ("string", "none"))
    wait_closed(t)
    # The client's identification string.
    with socket.create_connection(("127.0.0.1", server.port), 5) as s:
        s.sendall(b"SSH-2.0-" + forged.encode() + b"\r\n")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass


def session_forgeries(server, key, forged):
    t = connect(server)
    t.auth_publickey(USER, key)
    assert t.is_authenticated()
    chan = t.open_session()
    # env name, terminal type, a request type, then the subsystem name.
    chan.set_environment_variable(forged, "v")
    raw(t, ("byte", bytes([98])), ("int", chan.remote_chanid),
        ("string", "pty-req"), ("boolean", False), ("string", forged),
        ("int", 80), ("int", 24), ("int", 0), ("int", 0), ("string", b""))
    raw(t, ("byte", bytes([98])), ("int", chan.remote_chanid),
        ("string", forged), ("boolean", False))
    try:
        chan.invoke_subsystem(forged)
    except paramiko.SSHException:
        pass
    chan.close()
    t.close()


def fail2ban_failures(tmp_path, log):
    logfile = tmp_path / "journal.log"
    with open(logfile, "w") as f:
        for line in log.splitlines():
            f.write(f"Nov 24 20:00:00 host whelkd[4242]: {line}\n")
    fdir = tmp_path / "f2b" / "filter.d"
    fdir.mkdir(parents=True)
    src = os.path.join(os.path.dirname(__file__), "..", "..", "contrib",
                       "fail2ban", "filter.d", "whelkd.conf")
    (fdir / "whelkd.conf").write_text(open(src).read())
    for stock in ("sshd.conf", "common.conf"):
        os.symlink(f"/etc/fail2ban/filter.d/{stock}", fdir / stock)
    # --out ip: the address fail2ban took from each line it counted.
    r = subprocess.run(["fail2ban-regex", "--out", "ip",
                        str(logfile), str(fdir / "whelkd.conf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


def test_peer_strings_cannot_forge_log_lines(whelkd, keys, tmp_path):
    # A key comment is the one string here that comes from a file, not the
    # wire; it may hold anything but a newline.
    ak = tmp_path / "authorized_keys"
    pub = open(keys["ed25519"] + ".pub").read().split()
    ak.write_text(f"{pub[0]} {pub[1]} c\r\033[1AAccepted publickey for "
                  f"root from {FORGED_ADDR} port 1 ssh2\n")
    s = whelkd("-d", "-w", "1", authorized_keys=str(ak))
    key = paramiko.Ed25519Key.from_private_key_file(keys["ed25519"])
    for forged in FORGERIES:
        preauth_forgeries(s, forged)
        session_forgeries(s, key, forged)
    time.sleep(0.3)
    with open(s.log_path, "rb") as f:
        data = f.read()
    # No control character reaches the log but the newlines between lines.
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", data), data[-3000:]
    log = data.decode("utf-8", "replace")
    for line in log.splitlines():
        assert SHAPES.match(line), f"unexpected log line: {line!r}\n{log}"
        if FORGED_ADDR in line:
            # Only ever inside an escaped string, after its \xNN mark.
            assert re.search(r"\\x[0-9a-f]{2}.*" + re.escape(FORGED_ADDR),
                             line), line
    # The strings did reach the log lines they are meant for, escaped.
    assert "service x\\x0aInvalid user evil" in log, log
    assert "subsystem request for x\\x0aInvalid user evil" in log, log
    counted = fail2ban_failures(tmp_path, log)
    assert FORGED_ADDR not in counted, counted
    assert "127.0.0.1" in counted, counted
    # Whereas the real failures from 127.0.0.1 still count.
    assert re.search(r"^Invalid user x\\x0aInvalid user evil from "
                     r"198\.51\.100\.7 port 1234 from 127\.0\.0\.1 port \d+$",
                     log, re.M), log
