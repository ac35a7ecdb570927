"""System passwords without PAM (issue 17): with no -P file whelkd checks
passwords against /etc/shadow through libcrypt, as sshd with UsePAM no
does, each case run against both servers."""

import os
import subprocess

import paramiko
import pytest

from accounts import made_user, paramiko_password, sshd
from conftest import WHELKD

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users")

NAME = "wka_acpw"
PASSWORD = "Sys-pass 17!"


def set_password(name, password):
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True,
                   check=True)


def each_server(whelkd, tmp_path, keys, whelkd_args=(), sshd_config=""):
    yield whelkd("-w", "1", *whelkd_args, authorized_keys=False)
    with sshd(tmp_path, keys, sshd_config) as s:
        yield s


def sshpass(s, keys, password, command):
    args = ["sshpass", "-p", password] + s.ssh_args(
        keys["ed25519"], "-o", "PreferredAuthentications=password",
        "-o", "PubkeyAuthentication=no", batch=False, user=NAME)
    return subprocess.run(args + [command], capture_output=True, text=True,
                          timeout=60)


def test_system_password(whelkd, keys, tmp_path):
    with made_user(NAME):
        set_password(NAME, PASSWORD)
        for s in each_server(whelkd, tmp_path, keys):
            assert not paramiko_password(s, NAME, "wrong")
            assert s.wait_log(f"Failed password for {NAME} from"), s.log()
            r = sshpass(s, keys, PASSWORD, "id -un")
            assert r.returncode == 0 and r.stdout == f"{NAME}\n", r.stderr
            assert s.wait_log(f"Accepted password for {NAME} from"), s.log()
        # A password set later is the one that counts (no caching).
        set_password(NAME, PASSWORD + "2")
        s = whelkd(authorized_keys=False)
        assert not paramiko_password(s, NAME, PASSWORD)
        assert paramiko_password(s, NAME, PASSWORD + "2")


def test_unknown_user_password(whelkd, keys, tmp_path):
    for s in each_server(whelkd, tmp_path, keys):
        assert not paramiko_password(s, "wka_acnobody", PASSWORD)
        assert s.wait_log("Failed password for invalid user wka_acnobody "
                          "from"), s.log()


def test_password_authentication_no(whelkd, keys, tmp_path):
    with made_user(NAME):
        set_password(NAME, PASSWORD)
        # paramiko falls back to keyboard-interactive with the same
        # password; whelkd's is a password prompt (sshd without PAM has
        # none), so both methods are switched off, as sshd's keywords do.
        for s in each_server(whelkd, tmp_path, keys,
                             ("-o", "PasswordAuthentication=no", "-o",
                              "KbdInteractiveAuthentication=no"),
                             "PasswordAuthentication no\n"
                             "KbdInteractiveAuthentication no\n"):
            assert not paramiko_password(s, NAME, PASSWORD)
    # sshd's flag values only (yes/no, any case).
    out = subprocess.run([WHELKD, "-t", "-o", "PasswordAuthentication=maybe"],
                         capture_output=True, text=True)
    assert out.returncode != 0 and '"maybe"' in out.stderr, out


def test_password_file_replaces_system_passwords(whelkd, keys, tmp_path):
    """-P keeps working as the alternative: with it, only the file's
    hashes count, not /etc/shadow's."""
    with made_user(NAME):
        set_password(NAME, PASSWORD)
        h = subprocess.run(["openssl", "passwd", "-6", "file-pass"],
                           capture_output=True, text=True,
                           check=True).stdout.strip()
        pwfile = tmp_path / "passwd"
        pwfile.write_text(f"{NAME}:{h}\n")
        s = whelkd("-P", str(pwfile), authorized_keys=False)
        assert not paramiko_password(s, NAME, PASSWORD)
        assert paramiko_password(s, NAME, "file-pass")


def test_locked_password_refused(whelkd, keys, tmp_path):
    with made_user(NAME):
        set_password(NAME, PASSWORD)
        subprocess.run(["usermod", "-L", NAME], check=True)
        for s in each_server(whelkd, tmp_path, keys):
            assert not paramiko_password(s, NAME, PASSWORD)
            assert s.wait_log(f"User {NAME} not allowed because account is "
                              "locked"), s.log()


def test_keyboard_interactive_system_password(whelkd, keys):
    with made_user(NAME):
        set_password(NAME, PASSWORD)
        s = whelkd(authorized_keys=False)
        for answer, ok in (("wrong", False), (PASSWORD, True)):
            t = paramiko.Transport(("127.0.0.1", s.port))
            try:
                t.start_client(timeout=10)
                try:
                    t.auth_interactive(
                        NAME, lambda title, instr, prompts:
                        [answer for _ in prompts])
                except paramiko.AuthenticationException:
                    pass
                assert t.is_authenticated() == ok
            finally:
                t.close()
