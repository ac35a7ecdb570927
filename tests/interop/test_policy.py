"""Login policy keywords (issue 15): AllowUsers, DenyUsers, AllowGroups,
DenyGroups with sshd's order and log lines, each run against whelkd (-o)
and beside it OpenSSH's sshd given the same lines; the method switches
(PubkeyAuthentication, PasswordAuthentication, PermitEmptyPasswords) and
MaxAuthTries."""

import os
import subprocess

import paramiko
import pytest

from accounts import made_user, sshd

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users")

NAME = "wka_cp1"


def each_server(whelkd, tmp_path, keys, lines):
    """whelkd with each line as -o, then sshd with them in its file."""
    args = ["-w", "1"]
    for ln in lines:
        args += ["-o", ln]
    yield whelkd(*args, authorized_keys=False)
    with sshd(tmp_path, keys, "".join(ln + "\n" for ln in lines)) as s:
        yield s


def login(s, keys, user=NAME):
    return s.ssh(keys["ed25519"], command="echo in", user=user, timeout=30)


ALLOWED = [
    ["AllowUsers nobody-else " + NAME],
    ["AllowUsers wka_cp?"],
    [f"AllowUsers {NAME}@127.0.0.0/8"],
    [f"AllowUsers {NAME}@127.0.0.*"],
    [f"AllowUsers {NAME}@10.0.0.0/8,127.0.0.1"],
    ["DenyUsers someone-else", f"DenyUsers {NAME}@10.0.0.0/8"],
    [f"AllowGroups {NAME}"],
    ["AllowGroups wka_cp*"],
    ["DenyGroups someone-elses-group"],
]

REFUSED = [
    (["AllowUsers someone-else"], "not listed in AllowUsers"),
    ([f"AllowUsers {NAME}@10.0.0.0/8"], "not listed in AllowUsers"),
    ([f"AllowUsers {NAME}@!127.0.0.1,127.0.0.0/8"],
     "not listed in AllowUsers"),
    (["DenyUsers wka_cp*"], "listed in DenyUsers"),
    ([f"DenyUsers {NAME}@127.0.0.1"], "listed in DenyUsers"),
    # DenyUsers comes first, whatever AllowUsers says.
    ([f"AllowUsers {NAME}", f"DenyUsers {NAME}"], "listed in DenyUsers"),
    (["AllowGroups someone-elses-group"],
     "none of user's groups are listed in AllowGroups"),
    ([f"DenyGroups {NAME}"], "a group is listed in DenyGroups"),
    ([f"AllowGroups {NAME}", f"DenyGroups {NAME}"],
     "a group is listed in DenyGroups"),
]


@pytest.mark.parametrize("lines", ALLOWED, ids=lambda v: " / ".join(v))
def test_access_allows(whelkd, keys, tmp_path, lines):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, lines):
            r = login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", \
                r.stderr + s.log()[-2000:]


@pytest.mark.parametrize("lines,why", REFUSED,
                         ids=lambda v: " / ".join(v) if isinstance(v, list)
                         else "")
def test_access_refuses(whelkd, keys, tmp_path, lines, why):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, lines):
            r = login(s, keys)
            assert r.returncode == 255, r.stdout
            assert "Permission denied (publickey" in r.stderr, r.stderr
            assert s.wait_log(f"User {NAME} from 127.0.0.1 not allowed "
                              f"because {why}"), s.log()[-3000:]
            # The failure reads as sshd's for an invalid user, which
            # fail2ban's sshd filter counts.
            assert s.wait_log(f"for invalid user {NAME} from 127.0.0.1") or \
                s.wait_log(f"Connection closed by invalid user {NAME} "
                           "127.0.0.1"), s.log()[-3000:]


def test_refused_like_unknown(whelkd, keys, tmp_path):
    """A denied user and a user that does not exist get the same reply."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd("-w", "1", "-o", f"DenyUsers {NAME}",
                   authorized_keys=False)
        denied = login(s, keys)
        unknown = login(s, keys, user="wka_cp_nosuch")
        assert denied.returncode == unknown.returncode == 255
        assert denied.stderr.replace(NAME, "U") == \
            unknown.stderr.replace("wka_cp_nosuch", "U")


def test_bad_patterns_refused_at_start(keys, tmp_path):
    from conftest import WHELKD
    for line in ("AllowUsers u@10.0.0.1/8", "DenyUsers u@1.2.3.0/33",
                 "PubkeyAuthentication maybe", "MaxAuthTries 0",
                 "LoginGraceTime 1x", "AuthenticationMethods publickey,pw",
                 "AuthenticationMethods any publickey"):
        r = subprocess.run([WHELKD, "-t", "-S", str(tmp_path / "st"),
                            "-h", keys["host_ed25519"], "-o", line],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, line
        assert line.split()[0] in r.stderr, r.stderr


def sha512(password):
    # openssl passwd prints "<NULL>" for an empty password: libcrypt's.
    import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def try_password(s, user, password, kbdint=False):
    t = paramiko.Transport(("127.0.0.1", s.port))
    try:
        t.start_client(timeout=10)
        try:
            if kbdint:
                t.auth_interactive(user, lambda t, i, prompts:
                                   [password] * len(prompts))
            else:
                t.auth_password(user, password, fallback=False)
        except paramiko.AuthenticationException:
            pass
        return t.is_authenticated()
    finally:
        t.close()


def test_password_authentication_switch(whelkd, keys, tmp_path):
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{sha512('cp-pass')}\n")
    with made_user(NAME):
        s = whelkd("-w", "1", "-P", str(pw), authorized_keys=False)
        assert try_password(s, NAME, "cp-pass")
        assert try_password(s, NAME, "cp-pass", kbdint=True)
        s = whelkd("-w", "1", "-P", str(pw), "-o",
                   "PasswordAuthentication no", authorized_keys=False)
        assert not try_password(s, NAME, "cp-pass")
        assert try_password(s, NAME, "cp-pass", kbdint=True)
        for alias in ("KbdInteractiveAuthentication",
                      "ChallengeResponseAuthentication"):
            k = whelkd("-w", "1", "-P", str(pw), "-o", f"{alias} no",
                       authorized_keys=False)
            assert try_password(k, NAME, "cp-pass")
            assert not try_password(k, NAME, "cp-pass", kbdint=True)
        # Not even offered.
        t = paramiko.Transport(("127.0.0.1", s.port))
        try:
            t.start_client(timeout=10)
            with pytest.raises(paramiko.BadAuthenticationType) as e:
                t.auth_none(NAME)
            assert e.value.allowed_types == ["publickey",
                                             "keyboard-interactive"]
        finally:
            t.close()


def test_pubkey_authentication_switch(whelkd, keys, tmp_path):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd("-w", "1", "-o", "PubkeyAuthentication=no",
                   authorized_keys=False)
        r = login(s, keys)
        assert r.returncode == 255 and "Permission denied" in r.stderr
        with sshd(tmp_path, keys, "PubkeyAuthentication no\n") as o:
            r = login(o, keys)
            assert r.returncode == 255 and "Permission denied" in r.stderr


@pytest.mark.parametrize("permit", [None, "no", "yes"])
def test_permit_empty_passwords(whelkd, tmp_path, permit):
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{sha512('')}\n")
    with made_user(NAME):
        extra = ("-o", f"PermitEmptyPasswords={permit}") if permit else ()
        s = whelkd("-w", "1", "-P", str(pw), *extra, authorized_keys=False)
        assert try_password(s, NAME, "") == (permit == "yes")


@pytest.mark.parametrize("tries", [2, 4])
def test_max_auth_tries(whelkd, tmp_path, tries):
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{sha512('cp-pass')}\n")
    with made_user(NAME):
        s = whelkd("-w", "1", "-P", str(pw), "-o", f"MaxAuthTries {tries}",
                   authorized_keys=False)
        t = paramiko.Transport(("127.0.0.1", s.port))
        try:
            t.start_client(timeout=10)
            failed = 0
            for _ in range(tries + 2):
                try:
                    t.auth_password(NAME, "wrong")
                except paramiko.AuthenticationException:
                    failed += 1
                except (paramiko.SSHException, EOFError, OSError):
                    break
                if not t.is_active():
                    break
            assert s.wait_log("maximum authentication attempts exceeded "
                              f"for {NAME} from 127.0.0.1"), s.log()
            assert failed in (tries, tries + 1), failed
        finally:
            t.close()
