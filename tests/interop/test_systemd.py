"""whelkd under systemd (issue 17): the notify protocol (READY=1 once
listening, RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload,
STOPPING=1), socket activation with Accept=no (LISTEN_FDS) and Accept=yes
(-i per connection), and -i as a ProxyCommand. systemd-socket-activate
stands in for systemd; a Unix datagram socket for its notify socket."""

import os
import signal
import socket
import struct
import subprocess

import pytest

from conftest import WHELKD, free_port

from test_lifecycle import Session, login_ok, sessions  # noqa: F401


class NotifySocket:
    """A NOTIFY_SOCKET: each datagram with the PID that sent it."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.settimeout(30)

    def next(self):
        """(sender pid, {variable: value}) of the next message."""
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1)
                      for line in data.decode().split("\n") if line)
        return pid, fields

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_reloading_stopping(whelkd, keys, tmp_path, abstract):
    name = f"whelk-notify-{os.getpid()}-{free_port()}"
    address = "\0" + name if abstract else str(tmp_path / "notify")
    n = NotifySocket(address)
    try:
        env = dict(os.environ,
                   NOTIFY_SOCKET="@" + name if abstract else address)
        s = whelkd("-w", "2", env=env)
        main = s.proc.pid
        # Sent once the listener is bound (Server waited for it too).
        assert n.next() == (main, {"READY": "1"})
        assert login_ok(s, keys)
        s.proc.send_signal(signal.SIGHUP)
        pid, msg = n.next()
        assert pid == main and msg["RELOADING"] == "1", msg
        assert int(msg["MONOTONIC_USEC"]) > 0
        # READY=1 again from the re-executed parent: the same PID, so
        # systemd's MAINPID stays right.
        assert n.next() == (main, {"READY": "1"})
        assert login_ok(s, keys)
        # An invalid reload: RELOADING=1, then READY=1 for the old one.
        s.proc.send_signal(signal.SIGHUP)
        pid, msg = n.next()
        assert msg["RELOADING"] == "1"
        assert n.next() == (main, {"READY": "1"})
        s.proc.send_signal(signal.SIGTERM)
        assert n.next() == (main, {"STOPPING": "1"})
        s.proc.wait(30)
    finally:
        n.close()


def test_notify_single_process(whelkd, tmp_path):
    """-w 1: the one process notifies, READY=1 and STOPPING=1."""
    n = NotifySocket(str(tmp_path / "notify"))
    try:
        s = whelkd("-w", "1", env=dict(os.environ,
                                       NOTIFY_SOCKET=str(tmp_path / "notify")))
        assert n.next() == (s.proc.pid, {"READY": "1"})
        s.proc.send_signal(signal.SIGTERM)
        assert n.next() == (s.proc.pid, {"STOPPING": "1"})
    finally:
        n.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_socket_activation_serves_logins(whelkd, keys, workers, sessions):
    port = free_port()
    # -p names another port: whelkd must serve the socket it inherits
    # (LISTEN_FDS) and bind nothing itself.
    other = free_port()
    s = whelkd("-w", workers, port=port, listen=f"127.0.0.1:{other}",
               wrapper=["systemd-socket-activate", "-l", f"127.0.0.1:{port}"])
    assert login_ok(s, keys), s.log()
    assert "(inherited)" in s.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", other), 2).close()
    if workers == "2":
        # A reload keeps serving the same inherited socket.
        sess = Session(s, keys)
        sessions.append(sess)
        s.proc.send_signal(signal.SIGHUP)
        assert s.wait_log("re-executing", 30), s.log()
        assert login_ok(s, keys)
        assert sess.echo("kept") == b"got-kept\n"
        assert sess.end() == 3


def test_socket_activation_accept_yes_runs_inetd_mode(whelkd, keys):
    """Accept=yes (whelkd@.service): one `whelkd -i` per connection."""
    port = free_port()
    s = whelkd("-i", port=port, wrapper=["systemd-socket-activate", "-a", "--inetd",
                                         "-l", f"127.0.0.1:{port}"])
    for _ in range(2):
        r = s.ssh(keys["ed25519"], command="echo $SSH_CONNECTION")
        assert r.returncode == 0, s.log()
        assert r.stdout.split()[0] == "127.0.0.1"  # the real peer address
        assert r.stdout.split()[3] == str(port)


def test_inetd_mode_as_proxycommand(keys, tmp_path):
    state = tmp_path / "state"
    log = tmp_path / "whelkd.log"
    proxy = (f"{WHELKD} -e -i -h {keys['host_ed25519']} "
             f"-a {keys['authorized_keys']} -S {state} 2>>{log}")
    r = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", f"ProxyCommand={proxy}",
         "-i", keys["ed25519"], f"{os.environ.get('USER', 'root')}@whelk-i",
         "echo over-pipes; exit 5"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 5, (r.stderr, log.read_text())
    assert r.stdout == "over-pipes\n"
    text = log.read_text()
    assert "Connection from UNKNOWN port 65535" in text
    assert "Accepted publickey" in text


def test_shipped_units_verify(tmp_path):
    """contrib/systemd's units as systemd-analyze reads them (the binary
    path pointed at this build; man pages are not installed here)."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "contrib",
                       "systemd")
    names = sorted(os.listdir(src))
    assert {"whelkd.service", "whelkd.socket", "whelkd-inetd.socket",
            "whelkd-inetd@.service"} <= set(names)
    for name in names:
        with open(os.path.join(src, name)) as f:
            text = f.read()
        text = text.replace("/usr/local/sbin/whelkd", WHELKD)
        text = "\n".join(l for l in text.split("\n")
                         if not l.startswith("Documentation="))
        (tmp_path / name).write_text(text)
    service = (tmp_path / "whelkd.service").read_text()
    for line in ("Type=notify", "KillMode=process", "Restart=on-failure",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in service.split("\n"), line
    r = subprocess.run(["systemd-analyze", "verify",
                        *[str(tmp_path / n) for n in names]],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"),
                       cwd=str(tmp_path))
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
