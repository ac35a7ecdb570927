"""Accounts that should not log in (issue 12, item 4): locked and expired
accounts, /etc/nologin, and PermitRootLogin, each run against whelkd and
beside it OpenSSH's sshd with UsePAM no, whose decisions and log lines
whelkd matches."""

import os
import subprocess

import pytest

from accounts import made_user, paramiko_password, sshd
from conftest import USER

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users")

NAME = "wka_acct"


def each_server(whelkd, tmp_path, keys, whelkd_args=(), sshd_config=""):
    yield whelkd("-w", "1", *whelkd_args, authorized_keys=False)
    with sshd(tmp_path, keys, sshd_config) as s:
        yield s


def login(s, keys, user=NAME, command="echo in"):
    return s.ssh(keys["ed25519"], command=command, user=user, timeout=30)


def sha512(password):
    return subprocess.run(["openssl", "passwd", "-6", password],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("how", ["usermod -L", "! hash"])
def test_locked_account_refused(whelkd, keys, tmp_path, how):
    pw_hash = sha512("acct-pass")
    with made_user(NAME, keys["ed25519"] + ".pub", password_hash=pw_hash):
        # Not locked yet: the key works (as it does with "*" below).
        for s in each_server(whelkd, tmp_path, keys):
            r = login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", r.stderr
        if how == "usermod -L":
            subprocess.run(["usermod", "-L", NAME], check=True)
        else:
            subprocess.run(["usermod", "-p", "!" + pw_hash, NAME], check=True)
        for s in each_server(whelkd, tmp_path, keys):
            r = login(s, keys)
            assert r.returncode == 255 and "Permission denied" in r.stderr
            assert s.wait_log(f"User {NAME} not allowed because account is "
                              "locked"), s.log()[-3000:]
            # sshd says this, not "Invalid user", for an account that
            # exists; its failures read "invalid user".
            assert f"Invalid user {NAME}" not in s.log()
        # Every method: a password from -P is refused too.
        pwfile = tmp_path / "passwd"
        pwfile.write_text(f"{NAME}:{pw_hash}\n")
        s = whelkd("-P", str(pwfile), authorized_keys=False)
        assert not paramiko_password(s, NAME, "acct-pass")
        assert s.wait_log(f"Failed password for invalid user {NAME} from")


def test_star_password_is_not_locked(whelkd, keys, tmp_path):
    """ "*" means "no password": sshd lets key logins in, and so does
    whelkd."""
    with made_user(NAME, keys["ed25519"] + ".pub", password_hash="*"):
        for s in each_server(whelkd, tmp_path, keys):
            r = login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", r.stderr


def test_expired_account_refused(whelkd, keys, tmp_path):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        subprocess.run(["chage", "-E", "0", NAME], check=True)
        for s in each_server(whelkd, tmp_path, keys):
            r = login(s, keys)
            assert r.returncode == 255 and "Permission denied" in r.stderr
            assert s.wait_log(f"Account {NAME} has expired"), s.log()
            assert s.wait_log(f"User {NAME} not allowed because account is "
                              "locked"), s.log()[-3000:]


def test_nologin(whelkd, keys, tmp_path):
    """/etc/nologin keeps everyone but root out: sshd (without PAM)
    authenticates, prints the file and ends the session with 254. The file
    is global: it exists only for the few logins below."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        servers = [whelkd("-w", "1", authorized_keys=False),
                   whelkd("-w", "1")]  # root's key via -a
        with sshd(tmp_path, keys) as o:
            assert not os.path.exists("/etc/nologin")
            try:
                with open("/etc/nologin", "w") as f:
                    f.write("Down for maintenance until noon.\n")
                results = [login(s, keys) for s in (servers[0], o)]
                root = servers[1].ssh(keys["ed25519"], command="echo root-in")
            finally:
                os.unlink("/etc/nologin")
            for s, r in zip((servers[0], o), results):
                assert r.returncode == 254, (r.returncode, r.stderr)
                assert "Down for maintenance until noon." in r.stderr
                assert "in\n" not in r.stdout
                # sshd logs it from the session's child, whose stderr
                # (with -e) is the client's.
                line = f"User {NAME} not allowed because /etc/nologin exists"
                assert s.wait_log(line) or (s is o and line in r.stderr), \
                    s.log()[-3000:]
            assert USER != "root" or root.stdout == "root-in\n", root.stderr
        # Once it is gone, the user is back.
        r = login(servers[0], keys)
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr


ROOT_CASES = {
    # mode: (plain key, key with command=, password), as sshd decides
    "yes": (True, True, True),
    "prohibit-password": (True, True, False),
    "forced-commands-only": (False, True, False),
    "no": (False, False, False),
}


@pytest.mark.skipif(USER != "root", reason="logs in as root")
@pytest.mark.parametrize("mode", list(ROOT_CASES))
def test_permit_root_login(whelkd, keys, tmp_path, mode):
    with open(keys["ed25519"] + ".pub") as f:
        pub = f.read()
    plain = tmp_path / "ak_plain"
    plain.write_text(pub)
    forced = tmp_path / "ak_forced"
    forced.write_text('command="echo forced" ' + pub)
    pwfile = tmp_path / "passwd"
    pwfile.write_text(f"root:{sha512('root-pass')}\n")
    want_plain, want_forced, want_pw = ROOT_CASES[mode]
    # The default is prohibit-password, given or not.
    opts = () if mode == "prohibit-password" else ("-o",
                                                   f"PermitRootLogin={mode}")
    for ak, want, out in ((plain, want_plain, "in\n"),
                          (forced, want_forced, "forced\n")):
        s = whelkd(*opts, "-P", str(pwfile), authorized_keys=str(ak))
        with sshd(tmp_path, keys, f"StrictModes no\nAuthorizedKeysFile {ak}\n"
                  f"PermitRootLogin {mode}\n") as o:
            for server in (s, o):
                r = server.ssh(keys["ed25519"], command="echo in")
                assert (r.returncode == 0 and r.stdout == out) == want, \
                    (server, r.stdout, r.stderr, server.log()[-2000:])
                if not want:
                    assert server.wait_log("ROOT LOGIN REFUSED FROM "
                                           "127.0.0.1 port"), server.log()
                elif ak == forced and mode == "forced-commands-only":
                    assert server.wait_log("Root login accepted for forced "
                                           "command."), server.log()
        # The password (whelkd's -P file; sshd's would be root's own).
        assert paramiko_password(s, "root", "root-pass") == want_pw
        if not want_pw:
            assert s.wait_log("Failed password for root from 127.0.0.1")
