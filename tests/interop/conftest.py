"""Fixtures for the interop tests: real clients against a whelkd started
on a free 127.0.0.1 port, stopped by PID at the end of each test.

Run with Debian's /usr/bin/python3 (paramiko and asyncssh come from
Debian packages). WHELK_BUILD points at the build directory.
"""

import fcntl
import getpass
import os
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest

BUILD = os.environ.get(
    "WHELK_BUILD",
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
WHELKD = os.path.join(BUILD, "whelkd")
USER = getpass.getuser()


def children_of(pid):
    """The PIDs of |pid|'s children (whelkd's workers), [] once it is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class ProcRef:
    """A process that is not our child (an orphaned worker), held by a
    pidfd so that a signal can never reach a recycled PID."""

    def __init__(self, pid):
        self.pid = pid
        try:
            self.fd = os.pidfd_open(pid)
        except OSError:
            self.fd = None  # already gone

    def alive(self):
        return self.fd is not None and not select.select([self.fd], [], [], 0)[0]

    def signal(self, sig):
        if self.alive():
            try:
                signal.pidfd_send_signal(self.fd, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        if self.fd is None:
            return True
        return bool(select.select([self.fd], [], [], timeout)[0])

    def stop(self, timeout=5):
        """SIGTERM (a worker then ends its connections cleanly), then
        SIGKILL if it is still there after |timeout|."""
        if self.fd is None:
            return
        self.signal(signal.SIGTERM)
        if not self.wait(timeout):
            self.signal(signal.SIGKILL)
            self.wait(5)
        os.close(self.fd)
        self.fd = None


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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, for fixtures' teardown."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


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


def fingerprint(key):
    """The SHA256 fingerprint of |key|'s public half, as ssh-keygen -l
    prints it (and PuTTY's -hostkey takes it)."""
    out = subprocess.run(["ssh-keygen", "-lf", key + ".pub"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


@pytest.fixture(scope="session")
def putty_key(keys):
    """The ed25519 user key in PuTTY's format (puttygen) and the ed25519
    host key's fingerprint, for PuTTY's -i and -hostkey."""
    ppk = os.path.join(keys["dir"], "user_ed25519.ppk")
    subprocess.run(["puttygen", keys["ed25519"], "-o", ppk], check=True,
                   capture_output=True)
    return ppk, fingerprint(keys["host_ed25519"])


class Pty:
    """A client run on a fresh pseudo-terminal of |rows| x |cols|, the way
    a person at a terminal runs it: send() types, expect() waits for text
    on the screen, wait() collects the exit status."""

    def __init__(self, args, rows=33, cols=91, env=None):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave,
                                     stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.fd = master
        self.out = b""

    def send(self, text):
        os.write(self.fd, text.encode())

    def _read(self, deadline):
        """Reads what is there before |deadline|; False at the end."""
        left = deadline - time.time()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            return left > 0
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the client closed the terminal
            return False
        self.out += chunk
        return bool(chunk)

    def expect(self, text, timeout=30):
        deadline = time.time() + timeout
        while text.encode() not in self.out and time.time() < deadline:
            if not self._read(deadline):
                break
        assert text.encode() in self.out, self.out[-3000:]

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while self._read(deadline):
            pass
        return self.proc.wait(max(deadline - time.time(), 1))

    def check_shell(self):
        """Types into the login shell a terminal of 33 x 91 runs: output,
        the size and a tty come back, and the exit status comes through."""
        self.send("echo mark-$((6*7)); stty size; tty\r")
        self.expect("mark-42")
        self.expect("33 91")
        self.expect("/dev/pts/")
        self.send("exit 7\r")
        assert self.wait() == 7

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


class Server:
    def __init__(self, tmp, keys, extra=(), authorized_keys=None,
                 host_keys=("host_ed25519",), listen="127.0.0.1:{port}",
                 port=None, env=None, wrapper=(), prefix=(),
                 log_stderr=True):
        self.port = port or free_port()
        self.log_path = os.path.join(tmp, f"whelkd-{self.port}.log")
        n = 1
        while os.path.exists(self.log_path):  # a second server, same port
            n += 1
            self.log_path = os.path.join(tmp, f"whelkd-{self.port}.{n}.log")
        self.state = os.path.join(tmp, f"state-{self.port}")
        # |wrapper|: a launcher that execs whelkd (systemd-socket-activate);
        # |prefix| runs whelkd under a wrapper (test_syslog's private
        # /dev/log). -e: log to stderr (the log file), not syslog.
        args = [*wrapper, *prefix, WHELKD,
                *(["-e"] if log_stderr else []),
                "-p", listen.format(port=self.port), "-S", self.state]
        # False: no -a, each user's own ~/.ssh/authorized_keys.
        if authorized_keys is not False:
            args += ["-a", authorized_keys or keys["authorized_keys"]]
        for h in host_keys:
            args += ["-h", keys[h]]
        args += list(extra)
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env)
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

    def workers(self):
        """Its worker processes, held by pidfd (children_of)."""
        return [ProcRef(p) for p in children_of(self.proc.pid)]

    def stop(self):
        # SIGTERM drains (issue 17): the parent exits, its workers keep
        # their connections; so the workers are found first and stopped
        # by pidfd afterwards. -w 1 drains in-process: a second SIGTERM
        # ends what is left.
        workers = ([ProcRef(p) for p in children_of(self.proc.pid)]
                   if self.proc.poll() is None else [])
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGTERM, 5)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for w in workers:
            w.stop()
        self.logf.close()

    def ssh_args(self, key, *opts, batch=True, user=None):
        return ["ssh", "-F", "/dev/null",
                "-o", f"BatchMode={'yes' if batch else 'no'}",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
                "-o", "LogLevel=ERROR",
                "-i", key, "-p", str(self.port), *opts,
                f"{user or USER}@127.0.0.1"]

    def ssh(self, key, *opts, command=None, input=None, timeout=60,
            text=True, user=None):
        args = self.ssh_args(key, *opts, user=user)
        if command is not None:
            args.append(command)
        return subprocess.run(args, input=input, capture_output=True,
                              timeout=timeout, text=text)


@pytest.fixture
def whelkd(request, tmp_path, keys):
    servers = []

    def start(*extra, **kw):
        s = Server(str(tmp_path), keys, extra, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
    # A test that failed shows what its servers logged: the only trace of
    # a failure that happens under load in CI and nowhere else.
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for s in servers:
            print(f"--- whelkd on port {s.port} logged:\n{s.log()[-6000:]}")
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
