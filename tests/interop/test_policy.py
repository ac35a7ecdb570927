"""Login policy keywords (issue 15): AllowUsers, DenyUsers, AllowGroups,
DenyGroups with sshd's order and log lines, each run against whelkd (-o)
and beside it OpenSSH's sshd given the same lines; the method switches
(PubkeyAuthentication, PasswordAuthentication, PermitEmptyPasswords) and
MaxAuthTries."""

import grp
import os
import subprocess
import time

import paramiko
import pytest

from accounts import made_group, made_user, paramiko_auth, sshd
from conftest import WHELKD

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


def test_authentication_methods_unsatisfiable(keys, tmp_path):
    """As sshd: no chain can succeed with the methods enabled (passwords
    come from /etc/shadow without -P, so only PasswordAuthentication no
    makes publickey,password impossible)."""
    from conftest import WHELKD
    pw = tmp_path / "passwd"
    pw.write_text("x:*\n")
    for extra, good in (((), True), (("-P", str(pw)), True),
                        (("-P", str(pw), "-o", "PasswordAuthentication no"),
                         False)):
        r = subprocess.run([WHELKD, "-t", "-S", str(tmp_path / "st"),
                            "-h", keys["host_ed25519"], *extra, "-o",
                            "AuthenticationMethods publickey,password"],
                           capture_output=True, text=True, timeout=30)
        assert (r.returncode == 0) == good, r.stderr
        if not good:
            assert "cannot be satisfied" in r.stderr


def sha512(password):
    # openssl passwd prints "<NULL>" for an empty password: libcrypt's.
    import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def try_password(s, user, password, kbdint=False):
    if kbdint:
        return paramiko_auth(s, lambda t: t.auth_interactive(
            user, lambda t, i, prompts: [password] * len(prompts)))
    return paramiko_auth(s, lambda t: t.auth_password(user, password,
                                                      fallback=False))


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


def test_password_authentication_beside_sshd(whelkd, keys, tmp_path):
    """sshd reads the system's shadow, whelkd its -P file: same hash."""
    h = sha512("cp-pass")
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{h}\n")
    with made_user(NAME, password_hash=h):
        for value, ok in (("yes", True), ("no", False)):
            w = whelkd("-w", "1", "-P", str(pw), "-o",
                       f"PasswordAuthentication {value}",
                       authorized_keys=False)
            with sshd(tmp_path, keys, f"PasswordAuthentication {value}\n") \
                    as o:
                for s in (w, o):
                    assert try_password(s, NAME, "cp-pass") == ok, s.log()


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


def max_tries_servers(whelkd, tmp_path, keys, tries):
    h = sha512("cp-pass")
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{h}\n")
    with made_user(NAME, password_hash=h):
        yield whelkd("-w", "1", "-P", str(pw), "-o", f"MaxAuthTries {tries}",
                     authorized_keys=False)
        with sshd(tmp_path, keys, f"MaxAuthTries {tries}\n") as o:
            yield o


@pytest.mark.parametrize("tries", [2, 4])
def test_max_auth_tries(whelkd, keys, tmp_path, tries):
    for s in max_tries_servers(whelkd, tmp_path, keys, tries):
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


def _own(path, pw):
    os.chown(path, pw.pw_uid, pw.pw_gid)


@pytest.mark.parametrize("where", ["first", "second", "neither"])
def test_authorized_keys_file_tokens_and_two_files(whelkd, keys, tmp_path,
                                                   where):
    lines = ["AuthorizedKeysFile .ssh/first_%u %h/.ssh/second"]
    with made_user(NAME) as pw:
        ssh_dir = os.path.join(pw.pw_dir, ".ssh")
        os.makedirs(ssh_dir, mode=0o700)
        _own(ssh_dir, pw)
        key = open(keys["ed25519"] + ".pub").read()
        other = open(keys["ecdsa"] + ".pub").read()
        for name, holds in ((f"first_{NAME}", where == "first"),
                            ("second", where == "second"),
                            ("authorized_keys", True)):
            p = os.path.join(ssh_dir, name)
            with open(p, "w") as f:
                # The default file holds the key: not read any more.
                f.write(key if holds and name != "authorized_keys"
                        else other)
                if name == "authorized_keys":
                    f.seek(0)
                    f.write(key)
            os.chmod(p, 0o600)
            _own(p, pw)
        for s in each_server(whelkd, tmp_path, keys, lines):
            r = login(s, keys)
            if where == "neither":
                assert r.returncode == 255, r.stdout + s.log()[-2000:]
                assert "Permission denied" in r.stderr
            else:
                assert r.returncode == 0 and r.stdout == "in\n", \
                    r.stderr + s.log()[-2000:]


def test_authorized_keys_file_none(whelkd, keys, tmp_path):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys,
                             ["AuthorizedKeysFile none"]):
            r = login(s, keys)
            assert r.returncode == 255 and "Permission denied" in r.stderr


@pytest.mark.parametrize("what", ["home", ".ssh", "authorized_keys"])
def test_strict_modes(whelkd, keys, tmp_path, what):
    with made_user(NAME, keys["ed25519"] + ".pub") as pw:
        target = {"home": pw.pw_dir,
                  ".ssh": os.path.join(pw.pw_dir, ".ssh"),
                  "authorized_keys": os.path.join(pw.pw_dir, ".ssh",
                                                  "authorized_keys")}[what]
        # Writable by a group other than the user's own: Debian's sshd
        # allows group-write by a private group that holds only the user
        # (its user-group-modes patch); a shared group is refused by both.
        os.chown(target, pw.pw_uid, grp.getgrnam("users").gr_gid)
        os.chmod(target, os.stat(target).st_mode | 0o020)  # g+w
        for s in each_server(whelkd, tmp_path, keys, []):
            r = login(s, keys)
            assert r.returncode == 255 and "Permission denied" in r.stderr, \
                r.stdout
            assert s.wait_log("Authentication refused: bad ownership or "
                              "modes for "), s.log()[-2000:]
        for s in each_server(whelkd, tmp_path, keys, ["StrictModes no"]):
            r = login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", \
                r.stderr + s.log()[-2000:]


def sshpass_login(s, keys, password):
    """Key first, then password, as OpenSSH's ssh tries them."""
    args = s.ssh_args(keys["ed25519"], "-o",
                      "PreferredAuthentications=publickey,password",
                      "-o", "NumberOfPasswordPrompts=1", batch=False,
                      user=NAME)
    return subprocess.run(["sshpass", "-p", password] + args + ["echo in"],
                          capture_output=True, text=True, timeout=60)


def test_authentication_methods_key_then_password(whelkd, keys, tmp_path):
    h = sha512("cp-pass")
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{h}\n")
    line = "AuthenticationMethods publickey,password"
    with made_user(NAME, keys["ed25519"] + ".pub", password_hash=h):
        w = whelkd("-w", "1", "-P", str(pw), "-o", line,
                   authorized_keys=False)
        # sshd logs the partial success at VERBOSE only.
        with sshd(tmp_path, keys, line + "\nLogLevel VERBOSE\n") as o:
            for s in (w, o):
                # The key alone: partial success, then nothing more.
                r = login(s, keys)
                assert r.returncode == 255, r.stdout
                assert "Authenticated using \"publickey\" with partial " \
                    "success" in r.stderr or \
                    "Permission denied (password)" in r.stderr, r.stderr
                assert s.wait_log(f"Partial publickey for {NAME} from "
                                  "127.0.0.1"), s.log()[-2000:]
                # The password alone is not enough either.
                assert not try_password(s, NAME, "cp-pass")
                # Key then password logs in.
                r = sshpass_login(s, keys, "cp-pass")
                assert r.returncode == 0 and r.stdout == "in\n", \
                    r.stderr + s.log()[-2000:]
                assert s.wait_log(f"Accepted password for {NAME} from "
                                  "127.0.0.1"), s.log()[-2000:]
                # Key then a wrong password does not.
                r = sshpass_login(s, keys, "wrong")
                assert r.returncode != 0 and r.stdout == "", r.stderr


def test_authentication_methods_protocol(whelkd, keys, tmp_path):
    """RFC 4252 5.1: the key's reply is FAILURE with partial success and
    the methods that may come next."""
    h = sha512("cp-pass")
    pw = tmp_path / "passwd"
    pw.write_text(f"{NAME}:{h}\n")
    with made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd("-w", "1", "-P", str(pw), "-o",
                   "AuthenticationMethods publickey,password "
                   "publickey,keyboard-interactive", authorized_keys=False)
        t = paramiko.Transport(("127.0.0.1", s.port))
        try:
            t.start_client(timeout=10)
            k = paramiko.Ed25519Key.from_private_key_file(keys["ed25519"])
            rest = t.auth_publickey(NAME, k)
            assert sorted(rest) == ["keyboard-interactive", "password"]
            assert not t.is_authenticated()
            t.auth_password(NAME, "cp-pass", fallback=False)
            assert t.is_authenticated()
        finally:
            t.close()


@pytest.fixture
def akc_dir(keys):
    """A root-owned directory outside /tmp (sshd, like whelkd, refuses a
    command under a world-writable directory), removed afterwards."""
    import shutil
    d = f"/run/wka_cp-akc-{os.getpid()}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, mode=0o755)
    os.chmod(d, 0o755)
    shutil.copy(keys["ed25519"] + ".pub", os.path.join(d, "key.pub"))
    os.chmod(os.path.join(d, "key.pub"), 0o644)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def akc_script(d, name, body):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(p, 0o755)
    return p


def test_authorized_keys_command(whelkd, keys, tmp_path, akc_dir):
    ok = akc_script(akc_dir, "ok",
                    f'[ "$1" = {NAME} ] && [ "$2" = ssh-ed25519 ] && '
                    f'[ "$3" = "$(id -un)" ] && cat {akc_dir}/key.pub\n')
    with made_user(NAME):
        lines = [f"AuthorizedKeysCommand {ok} %u %t nobody",
                 "AuthorizedKeysCommandUser nobody"]
        for s in each_server(whelkd, tmp_path, keys, lines):
            r = login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", \
                r.stderr + s.log()[-2000:]
        # The command's user: not "nobody" any more, so the script's
        # check fails and prints nothing.
        lines = [f"AuthorizedKeysCommand {ok} %u %t nobody",
                 "AuthorizedKeysCommandUser root"]
        for s in each_server(whelkd, tmp_path, keys, lines):
            r = login(s, keys)
            assert r.returncode == 255 and "Permission denied" in r.stderr


def test_authorized_keys_command_fails(whelkd, keys, tmp_path, akc_dir):
    bad = akc_script(akc_dir, "bad", f"cat {akc_dir}/key.pub\nexit 3\n")
    with made_user(NAME):
        s = whelkd("-w", "1", "-o", f"AuthorizedKeysCommand {bad}", "-o",
                   "AuthorizedKeysCommandUser nobody", authorized_keys=False)
        r = login(s, keys)
        assert r.returncode == 255 and "Permission denied" in r.stderr
        assert s.wait_log(f"AuthorizedKeysCommand {bad} returned status 3")
        # Without AuthorizedKeysCommandUser the command is not run.
        s = whelkd("-w", "1", "-o", f"AuthorizedKeysCommand {bad}",
                   authorized_keys=False)
        r = login(s, keys)
        assert r.returncode == 255
        assert s.wait_log("no AuthorizedKeysCommandUser")


def test_authorized_keys_command_hangs(whelkd, keys, tmp_path, akc_dir):
    import pwd
    mark = os.path.join(akc_dir, "m")
    os.makedirs(mark)
    nobody = pwd.getpwnam("nobody")
    os.chown(mark, nobody.pw_uid, nobody.pw_gid)
    hang = akc_script(akc_dir, "hang",
                      f'[ "$1" = wka_cp2 ] && touch {mark}/hung && '
                      'exec sleep 120\n'
                      f'cat {akc_dir}/key.pub\n')
    with made_user(NAME), made_user("wka_cp2"):
        s = whelkd("-w", "1", "-o", f"AuthorizedKeysCommand {hang}", "-o",
                   "AuthorizedKeysCommandUser nobody", authorized_keys=False)
        stuck = subprocess.Popen(s.ssh_args(keys["ed25519"], user="wka_cp2")
                                 + ["echo in"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 30
            while not os.path.exists(os.path.join(mark, "hung")):
                assert time.time() < deadline, s.log()
                time.sleep(0.05)
            # While that command hangs, another login goes through: it is
            # logged before the hanging one is killed.
            r = login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", \
                r.stderr + s.log()[-2000:]
            out, err = stuck.communicate(timeout=60)
            assert stuck.returncode == 255 and "Permission denied" in err
            log = s.log()
            killed = log.find(f"AuthorizedKeysCommand {hang} for wka_cp2 "
                              "timed out")
            accepted = log.find(f"Accepted publickey for {NAME} from")
            assert 0 <= accepted < killed, log
        finally:
            if stuck.poll() is None:
                stuck.kill()
                stuck.wait()


def test_authorized_keys_command_runs_per_key(whelkd, keys, tmp_path,
                                              akc_dir):
    """A command taking %t/%f/%k runs again for each key offered: the
    first key (ECDSA) gets nothing, the second (Ed25519) its line."""
    perkey = akc_script(akc_dir, "perkey",
                        f'[ "$1" = ssh-ed25519 ] && cat {akc_dir}/key.pub\n'
                        'exit 0\n')
    with made_user(NAME):
        lines = [f"AuthorizedKeysCommand {perkey} %t %f",
                 "AuthorizedKeysCommandUser nobody"]
        for s in each_server(whelkd, tmp_path, keys, lines):
            args = s.ssh_args(keys["ecdsa"], "-i", keys["ed25519"],
                              user=NAME)
            r = subprocess.run(args + ["echo in"], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0 and r.stdout == "in\n", \
                r.stderr + s.log()[-2000:]


MATCH_GROUP = """PasswordAuthentication no
KbdInteractiveAuthentication no
Match Group {group}
  ForceCommand echo forced-for-the-group
  PasswordAuthentication yes
"""


def test_match_group_beside_sshd(whelkd, keys, tmp_path):
    """Match Group with a real group (groupadd, removed afterwards): its
    member gets the block's ForceCommand and may log in by password; a
    user outside it runs its own command and may not. The same file runs
    on whelkd (-f) and sshd."""
    h = sha512("mg-pass")
    other = "wka_cp2"
    with made_user(NAME, keys["ed25519"] + ".pub", password_hash=h), \
            made_user(other, keys["ed25519"] + ".pub", password_hash=h), \
            made_group("wka_mgroup", members=[NAME]) as group:
        text = MATCH_GROUP.format(group=group)
        cfg = tmp_path / "match_group.conf"
        cfg.write_text(text)
        w = whelkd("-w", "1", "-f", str(cfg), authorized_keys=False)
        with sshd(tmp_path, keys, text) as o:
            for s in (w, o):
                r = login(s, keys, user=NAME)
                assert r.returncode == 0, (s, r.stderr)
                assert r.stdout == "forced-for-the-group\n", (s, r.stdout)
                r = login(s, keys, user=other)
                assert r.returncode == 0 and r.stdout == "in\n", (s, r)
                assert try_password(s, NAME, "mg-pass"), s.log()
                assert not try_password(s, other, "mg-pass"), s.log()
        # -T -C sees the block for the member only.
        for user, forced in ((NAME, "echo forced-for-the-group"),
                             (other, "none")):
            r = subprocess.run([WHELKD, "-f", str(cfg), "-T", "-C",
                                f"user={user},host=h,addr=127.0.0.1"],
                               capture_output=True, text=True, timeout=30)
            assert f"forcecommand {forced}\n" in r.stdout, r
