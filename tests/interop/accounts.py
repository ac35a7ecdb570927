"""Helpers for tests that need real accounts and OpenSSH's sshd beside
whelkd: system users made with useradd (names start with wka_, removed
even when a test fails) and an sshd started on a free 127.0.0.1 port
with UsePAM no, so the same case runs against both servers."""

import contextlib
import fcntl
import os
import pwd
import socket
import subprocess
import time

import paramiko

from conftest import Server, free_port


def remove_user(name):
    # A session's processes may take a moment to go; userdel refuses a
    # user that still has some.
    for _ in range(50):
        r = subprocess.run(["userdel", "-r", name], capture_output=True,
                           text=True)
        if r.returncode == 0 or "does not exist" in r.stderr:
            return
        time.sleep(0.1)
    subprocess.run(["userdel", "-f", "-r", name], capture_output=True)


@contextlib.contextmanager
def user_name_lock(name):
    """Held while a test owns the system user |name|: two test runs on one
    machine (two checkouts) then take turns with it instead of deleting
    each other's user."""
    with open(f"/run/lock/whelk-test-user-{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def made_user(name, pubkey_file=None, password_hash="*", shell="/bin/sh"):
    """A user with a home, a shell and, when given, the key in
    ~/.ssh/authorized_keys. The default password field "*" means "no
    password" and is not locked; useradd's own default, "!", is."""
    assert name.startswith("wka_")
    with user_name_lock(name):
        remove_user(name)
        subprocess.run(["useradd", "-m", "-s", shell, "-p", password_hash,
                        name], check=True)
        try:
            yield _fill_home(name, pubkey_file)
        finally:
            remove_user(name)


def _fill_home(name, pubkey_file):
    pw = pwd.getpwnam(name)
    if pubkey_file:
        ssh_dir = os.path.join(pw.pw_dir, ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        ak = os.path.join(ssh_dir, "authorized_keys")
        with open(pubkey_file) as src, open(ak, "w") as dst:
            dst.write(src.read())
        os.chmod(ak, 0o600)
        os.chown(ssh_dir, pw.pw_uid, pw.pw_gid)
        os.chown(ak, pw.pw_uid, pw.pw_gid)
    return pw


@contextlib.contextmanager
def made_group(name, members=()):
    """A system group |name| (wka_ prefix) with |members| added as a
    supplementary group; removed afterwards, even when the test fails."""
    assert name.startswith("wka_")
    with user_name_lock("group-" + name):
        subprocess.run(["groupdel", name], capture_output=True)
        subprocess.run(["groupadd", name], check=True)
        try:
            for m in members:
                subprocess.run(["usermod", "-aG", name, m], check=True)
            yield name
        finally:
            subprocess.run(["groupdel", name], capture_output=True)


class Sshd:
    """OpenSSH's sshd for a side-by-side run: the same ssh/log helpers as
    conftest's Server."""

    ssh_args = Server.ssh_args
    ssh = Server.ssh
    log = Server.log
    wait_log = Server.wait_log
    stop = Server.stop

    def __init__(self, tmp, keys, config="", use_pam=False):
        self.port = free_port()
        os.makedirs("/run/sshd", exist_ok=True)
        cfg = os.path.join(tmp, f"sshd_config-{self.port}")
        with open(cfg, "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\n"
                    f"HostKey {keys['host_ed25519']}\nPidFile none\n"
                    f"UsePAM {'yes' if use_pam else 'no'}\n" + config)
        self.log_path = os.path.join(tmp, f"sshd-{self.port}.log")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                break
            except OSError:
                assert time.time() < deadline, self.log()
                time.sleep(0.05)


@contextlib.contextmanager
def sshd(tmp, keys, config="", use_pam=False):
    s = Sshd(str(tmp), keys, config, use_pam)
    try:
        yield s
    finally:
        s.stop()


def paramiko_auth(s, authenticate):
    """Connects paramiko to |s| (whelkd or sshd) and runs
    |authenticate(transport)|; returns whether that logged in. A refusal
    (AuthenticationException) is the answer False; anything else, such as
    a failed connection or a timeout, still raises and fails the test."""
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=10)
        try:
            authenticate(t)
        except paramiko.AuthenticationException:
            pass
        return t.is_authenticated()
    finally:
        t.close()


def paramiko_password(s, user, password):
    """A password login as |user| through paramiko: did it get in?"""
    return paramiko_auth(s, lambda t: t.auth_password(user, password))


def paramiko_kbdint(s, user, answer_for):
    """Keyboard-interactive as |user| answering each prompt with
    |answer_for(prompt, echo)|; returns (authenticated,
    [(instruction, [(prompt, echo)...])...]), one entry per round."""
    rounds = []

    def handler(title, instructions, prompts):
        rounds.append((instructions, list(prompts)))
        return [answer_for(p, e) for p, e in prompts]

    ok = paramiko_auth(s, lambda t: t.auth_interactive(user, handler))
    return ok, rounds
