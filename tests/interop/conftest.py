"""Fixtures for the interop tests: real clients against a whelkd started
on a free 127.0.0.1 port, stopped by PID at the end of each test.

Run with Debian's /usr/bin/python3 (paramiko and asyncssh come from
Debian packages). WHELK_BUILD points at the build directory.
"""

import getpass
import os
import signal
import socket
import subprocess
import time

import pytest

BUILD = os.environ.get(
    "WHELK_BUILD",
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
WHELKD = os.path.join(BUILD, "whelkd")
USER = getpass.getuser()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path, kind, bits=None):
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path]
    if bits:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True)
    return path


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    k = {
        "host_ed25519": keygen(str(d / "host_ed25519"), "ed25519"),
        "host_ecdsa": keygen(str(d / "host_ecdsa"), "ecdsa", 256),
        "host_rsa": keygen(str(d / "host_rsa"), "rsa", 3072),
        "ed25519": keygen(str(d / "user_ed25519"), "ed25519"),
        "ecdsa": keygen(str(d / "user_ecdsa"), "ecdsa", 256),
        "rsa": keygen(str(d / "user_rsa"), "rsa", 2048),
        "stranger": keygen(str(d / "stranger"), "ed25519"),
        "dir": str(d),
    }
    ak = d / "authorized_keys"
    with open(ak, "w") as f:
        for name in ("ed25519", "ecdsa", "rsa"):
            with open(k[name] + ".pub") as pub:
                f.write(pub.read())
    k["authorized_keys"] = str(ak)
    return k


class Server:
    def __init__(self, tmp, keys, extra=(), authorized_keys=None,
                 host_keys=("host_ed25519",)):
        self.port = free_port()
        self.log_path = os.path.join(tmp, f"whelkd-{self.port}.log")
        self.state = os.path.join(tmp, f"state-{self.port}")
        args = [WHELKD, "-p", f"127.0.0.1:{self.port}", "-S", self.state,
                "-a", authorized_keys or keys["authorized_keys"]]
        for h in host_keys:
            args += ["-h", keys[h]]
        args += list(extra)
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("whelkd exited:\n" + self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("whelkd did not listen:\n" + self.log())
                time.sleep(0.02)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def ssh_args(self, key, *opts, batch=True):
        return ["ssh", "-F", "/dev/null",
                "-o", f"BatchMode={'yes' if batch else 'no'}",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
                "-o", "LogLevel=ERROR",
                "-i", key, "-p", str(self.port), *opts, f"{USER}@127.0.0.1"]

    def ssh(self, key, *opts, command=None, input=None, timeout=60,
            text=True):
        args = self.ssh_args(key, *opts)
        if command is not None:
            args.append(command)
        return subprocess.run(args, input=input, capture_output=True,
                              timeout=timeout, text=text)


@pytest.fixture
def whelkd(tmp_path, keys):
    servers = []

    def start(*extra, **kw):
        s = Server(str(tmp_path), keys, extra, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
    # Under `make asan` a sanitizer report lands in the server's log.
    for s in servers:
        log = s.log()
        for marker in ("AddressSanitizer", "LeakSanitizer",
                       "runtime error:"):
            assert marker not in log, log[-4000:]


class Sshd:
    """OpenSSH's sshd (as root) on a free 127.0.0.1 port with its own
    config in |tmp|: the base settings below, then |extra| lines. Stop it
    with stop() (by PID)."""

    def __init__(self, tmp, keys, extra=""):
        self.port = free_port()
        os.makedirs("/run/sshd", exist_ok=True)
        cfg = os.path.join(tmp, f"sshd_config-{self.port}")
        with open(cfg, "w") as f:
            f.write(f"""ListenAddress 127.0.0.1
Port {self.port}
HostKey {keys['host_ed25519']}
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
{extra}""")
        self.log_path = os.path.join(tmp, f"sshd-{self.port}.log")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                break
            except OSError:
                assert self.proc.poll() is None, open(self.log_path).read()
                assert time.time() < deadline
                time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(5)
        self.logf.close()


NODE_DIR = os.path.join(os.path.dirname(__file__), "..", "node")


@pytest.fixture(scope="session")
def node_deps():
    """tests/node's npm packages (versions pinned by its package-lock.json),
    installed with `npm ci` when absent. Node.js and npm are required: a
    missing one fails the test rather than skipping it."""
    for tool in ("node", "npm"):
        assert subprocess.run(["sh", "-c", f"command -v {tool}"],
                              capture_output=True).returncode == 0, \
            f"{tool} is required for the post-quantum cross-checks"
    marker = os.path.join(NODE_DIR, "node_modules", ".package-lock.json")
    if not os.path.exists(marker):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                           cwd=NODE_DIR, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
    return NODE_DIR
