"""~/.ssh/environment (issue 15): read only when PermitUserEnvironment
allows it (yes, or a pattern list of the names), as the user, by the
session's child, with sshd's rules (NAME=value lines, blanks and
comments skipped, a bad line reported, at most 1,000 lines); each case
beside OpenSSH's sshd on the same account and setting."""

import os
import pwd
import subprocess

import pytest

from accounts import made_user, sshd

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users")

NAME = "wka_ue1"

ENV_FILE = """# set by the user
  FOO=from-file

BAR=from file, with spaces
not an assignment
\tBAZ=tab-led
"""

CASES = [
    # PermitUserEnvironment (None: not given), then FOO, BAR, BAZ seen
    (None, "", "", ""),
    ("no", "", "", ""),
    ("yes", "from-file", "from file, with spaces", "tab-led"),
    ("FOO,BAR", "from-file", "from file, with spaces", ""),
    ("F?O", "from-file", "", ""),
    ("B*,!BAZ", "", "from file, with spaces", ""),
]


def write_env(pw, text):
    path = os.path.join(pw.pw_dir, ".ssh", "environment")
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o600)
    return path


def servers(whelkd, tmp_path, keys, value):
    opts = ["-w", "1"]
    cfg = ""
    if value is not None:
        opts += ["-o", f"PermitUserEnvironment {value}"]
        cfg = f"PermitUserEnvironment {value}\n"
    yield whelkd(*opts, authorized_keys=False)
    with sshd(tmp_path, keys, cfg) as s:
        yield s


@pytest.mark.parametrize("value,foo,bar,baz", CASES)
def test_user_environment_file(whelkd, keys, tmp_path, value, foo, bar,
                               baz):
    with made_user(NAME, keys["ed25519"] + ".pub") as pw:
        path = write_env(pw, ENV_FILE)
        for s in servers(whelkd, tmp_path, keys, value):
            r = s.ssh(keys["ed25519"], user=NAME,
                      command='echo "FOO=$FOO|BAR=$BAR|BAZ=$BAZ"')
            assert r.returncode == 0, (s, r.stderr)
            assert r.stdout == f"FOO={foo}|BAR={bar}|BAZ={baz}\n", \
                (s, r.stdout)
            # The line without '=' is reported to the session, as sshd.
            if value is not None and value != "no":
                assert f"Bad line 5 in {path}" in r.stderr, (s, r.stderr)
            else:
                assert "Bad line" not in r.stderr, (s, r.stderr)


def test_user_environment_keeps_the_servers_variables(whelkd, keys,
                                                      tmp_path):
    """The file's names replace what the client sent, but not what whelkd
    and SetEnv set (USER, HOME, SSH_CONNECTION, ...): a difference from
    sshd, documented in whelkd_config(5)."""
    with made_user(NAME, keys["ed25519"] + ".pub") as pw:
        write_env(pw, "USER=someone-else\nSSH_CONNECTION=forged\n"
                      "ADMIN=from-file\nLC_FOO=from-file\n")
        s = whelkd("-w", "1", "-o", "PermitUserEnvironment yes",
                   "-o", "SetEnv ADMIN=from-setenv", "-o", "AcceptEnv LC_*",
                   authorized_keys=False)
        env = dict(os.environ, LC_FOO="from-client")
        args = s.ssh_args(keys["ed25519"], "-o", "SendEnv=LC_FOO",
                          user=NAME) + [
            'echo "$USER|$SSH_CONNECTION|$ADMIN|$LC_FOO"']
        r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           env=env)
        assert r.returncode == 0, r.stderr
        user, conn, admin, lc = r.stdout.rstrip("\n").split("|")
        assert user == NAME
        assert conn.startswith("127.0.0.1 "), conn
        assert admin == "from-setenv"
        assert lc == "from-file"


def test_user_environment_fifo_and_limits(whelkd, keys, tmp_path):
    """A FIFO in the file's place is skipped (never opened blocking: the
    session starts); more than 1,000 lines ends the session with sshd's
    message; a file the user cannot read is skipped (read as the
    user)."""
    with made_user(NAME, keys["ed25519"] + ".pub") as pw:
        path = os.path.join(pw.pw_dir, ".ssh", "environment")
        os.mkfifo(path)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        s = whelkd("-w", "1", "-o", "PermitUserEnvironment yes",
                   authorized_keys=False)
        r = s.ssh(keys["ed25519"], user=NAME, command="echo started",
                  timeout=30)
        assert r.returncode == 0 and r.stdout == "started\n", r
        os.unlink(path)
        write_env(pw, "".join(f"V{i}=x\n" for i in range(1001)))
        r = s.ssh(keys["ed25519"], user=NAME, command="echo started")
        assert r.returncode != 0 and "started" not in r.stdout, r
        assert f"Too many lines in environment file {path}" in r.stderr, r
        write_env(pw, "".join(f"V{i}=x\n" for i in range(1000)))
        r = s.ssh(keys["ed25519"], user=NAME, command="echo $V999")
        assert r.stdout == "x\n", r
        # Root's file, unreadable to the user: skipped.
        write_env(pw, "FOO=secret\n")
        os.chown(path, 0, 0)
        r = s.ssh(keys["ed25519"], user=NAME, command='echo "FOO=$FOO"')
        assert r.returncode == 0 and r.stdout == "FOO=\n", r
