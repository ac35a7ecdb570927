"""User authentication against real clients: publickey with every key
type, passwords with sshpass, keyboard-interactive with paramiko, limits,
authorized_keys options, log lines and fail2ban."""

import os
import re
import socket
import subprocess
import time

import paramiko
import pytest

from conftest import USER
from accounts import user_name_lock


# Tests run as root, and whelkd (like sshd) lets root log in with a key
# only unless told otherwise: password logins as USER need this.
ROOT_PW = ("-o", "PermitRootLogin=yes") if USER == "root" else ()


def password_file(tmp_path, password="s3cret-pass"):
    h = subprocess.run(["openssl", "passwd", "-6", password],
                       capture_output=True, text=True, check=True).stdout
    p = tmp_path / "passwd"
    p.write_text(f"# test users\n{USER}:{h.strip()}\n")
    return str(p)


@pytest.mark.parametrize("key,opts", [
    ("ed25519", ()),
    ("ecdsa", ()),
    ("rsa", ("-o", "PubkeyAcceptedAlgorithms=rsa-sha2-256")),
    ("rsa", ("-o", "PubkeyAcceptedAlgorithms=rsa-sha2-512")),
])
def test_publickey_login(whelkd, keys, key, opts):
    s = whelkd()
    r = s.ssh(keys[key], *opts, command="echo ok")
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
    fp = subprocess.run(["ssh-keygen", "-lf", keys[key] + ".pub"],
                        capture_output=True, text=True).stdout.split()[1]
    assert re.search(rf"Accepted publickey for {re.escape(USER)} from "
                     rf"127\.0\.0\.1 port \d+ ssh2: \w+ {re.escape(fp)}",
                     s.log()), s.log()


def test_unknown_key_refused(whelkd, keys):
    s = whelkd()
    r = s.ssh(keys["stranger"], command="true")
    assert r.returncode == 255
    assert "Permission denied" in r.stderr


def sshpass(server, password):
    args = ["sshpass", "-p", password] + server.ssh_args(
        "/dev/null", "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password",
        "-o", "NumberOfPasswordPrompts=1", batch=False) + ["echo pw-ok"]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def test_password(whelkd, keys, tmp_path):
    s = whelkd("-P", password_file(tmp_path), *ROOT_PW)
    ok = sshpass(s, "s3cret-pass")
    assert ok.returncode == 0 and ok.stdout == "pw-ok\n", ok.stderr
    bad = sshpass(s, "wrong")
    assert bad.returncode != 0
    assert re.search(rf"Failed password for {re.escape(USER)} from "
                     r"127\.0\.0\.1 port \d+ ssh2", s.log())


def transport(server, bind="127.0.0.1"):
    sock = socket.socket()
    sock.bind((bind, 0))
    sock.connect(("127.0.0.1", server.port))
    t = paramiko.Transport(sock)
    t.start_client(timeout=10)
    return t


def test_keyboard_interactive(whelkd, keys, tmp_path):
    s = whelkd("-P", password_file(tmp_path), *ROOT_PW)
    for answer, ok in (("s3cret-pass", True), ("nope", False)):
        t = transport(s)
        seen = []

        def handler(title, instructions, prompts):
            seen.append(prompts)
            return [answer for _ in prompts]

        try:
            t.auth_interactive(USER, handler)
        except paramiko.AuthenticationException:
            pass
        assert t.is_authenticated() == ok
        assert seen and seen[0][0] == ("Password: ", False)
        t.close()


def test_seventh_failure_disconnects(whelkd, tmp_path):
    s = whelkd("-P", password_file(tmp_path), *ROOT_PW)
    t = transport(s)
    failures = 0
    for _ in range(10):
        try:
            t.auth_password(USER, "wrong")
        except paramiko.AuthenticationException:
            failures += 1
        except (paramiko.SSHException, EOFError):
            break
        if not t.is_active():
            break
    t.close()
    # Six failures are answered; the seventh attempt ends the connection.
    assert failures == 7 or failures == 6
    assert s.wait_log(f"maximum authentication attempts exceeded for {USER} "
                      "from 127.0.0.1 port")
    assert s.log().count(f"Failed password for {USER} from") == 7


@pytest.mark.parametrize("args", [
    ("-g", "3"),
    # -g is LoginGraceTime: the first value given counts.
    ("-o", "LoginGraceTime 3s", "-g", "100"),
    ("-g", "3", "-o", "LoginGraceTime=2m"),
])
def test_login_grace(whelkd, args):
    s = whelkd(*args)
    sock = socket.create_connection(("127.0.0.1", s.port), 5)
    sock.sendall(b"SSH-2.0-idle\r\n")
    sock.settimeout(15)
    start = time.time()
    try:
        while sock.recv(4096):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    took = time.time() - start
    sock.close()
    assert 2 <= took <= 10, took
    assert s.wait_log("Timeout before authentication")


def options_server(whelkd, keys, tmp_path, options):
    ak = tmp_path / "ak_opts"
    with open(keys["ed25519"] + ".pub") as f:
        ak.write_text("# options\n\n" + options + " " + f.read())
    return whelkd(authorized_keys=str(ak))


def test_from_option(whelkd, keys, tmp_path):
    s = options_server(whelkd, keys, tmp_path, 'from="10.9.9.9"')
    assert s.ssh(keys["ed25519"], command="true").returncode == 255
    s2 = options_server(whelkd, keys, tmp_path, 'from="127.0.0.1"')
    r = s2.ssh(keys["ed25519"], command="echo in")
    assert r.stdout == "in\n", r.stderr


def test_command_option(whelkd, keys, tmp_path):
    s = options_server(whelkd, keys, tmp_path,
                       'command="echo forced $SSH_ORIGINAL_COMMAND"')
    r = s.ssh(keys["ed25519"], command="requested-cmd")
    assert r.stdout == "forced requested-cmd\n", r.stderr


def test_no_pty_option(whelkd, keys, tmp_path):
    s = options_server(whelkd, keys, tmp_path, "no-pty")
    r = s.ssh(keys["ed25519"], "-tt", command="true")
    assert "PTY allocation request failed" in r.stderr


def test_malformed_authorized_keys_line_skipped(whelkd, keys, tmp_path):
    ak = tmp_path / "ak_bad"
    with open(keys["ed25519"] + ".pub") as f:
        good = f.read()
    ak.write_text('command="unterminated ssh-ed25519 AAAA\n'
                  "ssh-ed25519 !!!notbase64!!!\n" + good)
    s = whelkd(authorized_keys=str(ak))
    r = s.ssh(keys["ed25519"], command="echo fine")
    assert r.stdout == "fine\n", r.stderr
    assert re.search(r"ak_bad:1: .*skipped", s.log())
    assert re.search(r"ak_bad:2: .*skipped", s.log())


def test_invalid_user_logged(whelkd, tmp_path):
    s = whelkd("-P", password_file(tmp_path))
    t = transport(s)
    with pytest.raises(paramiko.AuthenticationException):
        t.auth_password("nosuchuser", "x")
    t.close()
    assert s.wait_log("Invalid user nosuchuser from 127.0.0.1 port")
    assert re.search(r"Failed password for invalid user nosuchuser from "
                     r"127\.0\.0\.1 port \d+ ssh2", s.log())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add a user")
def test_session_runs_as_user(whelkd, keys, tmp_path):
    name = "whelktest"
    with user_name_lock(name):
        subprocess.run(["userdel", "-r", name], capture_output=True)
        subprocess.run(["groupadd", "-f", "whelkextra"], check=True)
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-G", "whelkextra",
                        "-p", "*", name], check=True)
        try:
            s = whelkd()
            args = s.ssh_args(keys["ed25519"])
            args[-1] = f"{name}@127.0.0.1"
            r = subprocess.run(args + ["id; pwd"], capture_output=True,
                               text=True, timeout=30)
            want = subprocess.run(["id", name], capture_output=True,
                                  text=True).stdout
            assert r.returncode == 0, r.stderr
            assert r.stdout.splitlines()[0] == want.strip()
            assert r.stdout.splitlines()[1] == f"/home/{name}"
        finally:
            subprocess.run(["userdel", "-r", name], capture_output=True)
            subprocess.run(["groupdel", "whelkextra"], capture_output=True)


def fail2ban_failures(s, tmp_path):
    """Runs fail2ban's sshd filter (through contrib's whelkd.conf) over
    |s|'s log: the failures it counts, per address, and its output."""
    time.sleep(0.3)
    logfile = tmp_path / "journal.log"
    with open(logfile, "w") as f:
        for line in s.log().splitlines():
            f.write(f"Nov 24 20:00:00 host whelkd[4242]: {line}\n")
    # fail2ban resolves "before = sshd.conf" next to the filter, as it
    # would in /etc/fail2ban/filter.d: give it that layout.
    fdir = tmp_path / "f2b" / "filter.d"
    fdir.mkdir(parents=True, exist_ok=True)
    src = os.path.join(os.path.dirname(__file__), "..", "..", "contrib",
                       "fail2ban", "filter.d", "whelkd.conf")
    (fdir / "whelkd.conf").write_text(open(src).read())
    for stock in ("sshd.conf", "common.conf"):
        if not os.path.lexists(fdir / stock):
            os.symlink(f"/etc/fail2ban/filter.d/{stock}", fdir / stock)
    r = subprocess.run(["fail2ban-regex", "--print-all-matched",
                        str(logfile), str(fdir / "whelkd.conf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    section = r.stdout.split("Matched line(s):", 1)[1].split("`-", 1)[0]
    # fail2ban lists among the matched lines not only failures but, by how
    # the two workers' log lines happen to interleave, also its NOFAIL
    # lines ("Connection from", "Connection closed") and the success that
    # resets an address ("Accepted", MLFGAINED). Only failure lines count.
    failures = {}
    for ln in section.splitlines():
        m = re.search(r"whelkd\[4242\]: (?:Failed \S+ for|"
                      r"(?:Invalid|Illegal) user|User) .* from "
                      r"(127\.0\.0\.\d+)", ln)
        if m:
            failures[m.group(1)] = failures.get(m.group(1), 0) + 1
    return failures, r.stdout


def test_fail2ban_counts(whelkd, tmp_path):
    s = whelkd("-P", password_file(tmp_path), *ROOT_PW)
    # Two clients from two addresses, their attempts interleaved.
    a, b = transport(s, "127.0.0.1"), transport(s, "127.0.0.2")
    for _ in range(3):
        for t in (a, b):
            with pytest.raises(paramiko.AuthenticationException):
                t.auth_password(USER, "wrong")
    a.close()
    b.close()
    # One user per connection (another name ends it, as in sshd).
    b = transport(s, "127.0.0.2")
    with pytest.raises(paramiko.AuthenticationException):
        b.auth_password("nosuchuser", "wrong")
    b.close()
    good = transport(s)
    good.auth_password(USER, "s3cret-pass")
    good.close()
    failures, out = fail2ban_failures(s, tmp_path)
    # Every failed attempt counts, each for its own address: three wrong
    # passwords from .1; three, plus an invalid user (its "Invalid user"
    # line and its failure) from .2. The successful login counts nothing.
    assert failures == {"127.0.0.1": 3, "127.0.0.2": 5}, out
    # The success is logged in sshd's words, which fail2ban's sshd filter
    # treats as a success (it forgets the address), never as a failure.
    assert re.search(r"^Accepted password for \S+ from 127\.0\.0\.1 port "
                     r"\d+ ssh2$", s.log(), re.M), s.log()


def test_fail2ban_counts_refused_users(whelkd, keys, tmp_path):
    """A user DenyUsers or AllowUsers keeps out (issue 15) counts as an
    unknown one does: the "not allowed because" line and each failure."""
    from accounts import made_user
    s = whelkd("-P", password_file(tmp_path), "-w", "1",
               "-o", "DenyUsers wka_cp2", "-o", "AllowUsers wka_cp2 wka_cp3")
    for name, addr in (("wka_cp2", "127.0.0.3"), ("wka_cp3x", "127.0.0.4"),
                       ("wka_cp3", "127.0.0.5")):
        with made_user(name):
            t = transport(s, addr)
            for _ in range(2):
                with pytest.raises(paramiko.AuthenticationException):
                    t.auth_password(name, "wrong")
            t.close()
    assert s.wait_log("User wka_cp2 from 127.0.0.3 not allowed because "
                      "listed in DenyUsers")
    assert s.wait_log("User wka_cp3x from 127.0.0.4 not allowed because "
                      "not listed in AllowUsers")
    failures, out = fail2ban_failures(s, tmp_path)
    # Refused: the refusal and two failures; allowed (a wrong password):
    # the two failures.
    assert failures == {"127.0.0.3": 3, "127.0.0.4": 3, "127.0.0.5": 2}, out


def test_unauthenticated_limit(whelkd, keys):
    s = whelkd("-m", "2", "-w", "1")  # the limit is per worker
    held = [socket.create_connection(("127.0.0.1", s.port), 5)
            for _ in range(2)]
    extra = socket.create_connection(("127.0.0.1", s.port), 5)
    extra.settimeout(5)
    assert extra.recv(100) == b""  # closed at once, nothing sent
    extra.close()
    # sshd's words (MaxStartups, which -m sets).
    assert s.wait_log("past MaxStartups"), s.log()
    assert "beginning MaxStartups throttling" in s.log()
    for h in held:
        h.close()
    time.sleep(0.3)
    r = s.ssh(keys["ed25519"], command="echo served")
    assert r.stdout == "served\n", r.stderr


def test_banner(whelkd, keys, tmp_path):
    banner = tmp_path / "banner"
    banner.write_text("Authorized use only.\n")
    s = whelkd("-B", str(banner))
    t = transport(s)
    t.auth_publickey(USER, paramiko.Ed25519Key.from_private_key_file(
        keys["ed25519"]))
    assert t.is_authenticated()
    assert t.get_banner() == b"Authorized use only.\n"
    t.close()
