"""PAM (issue 17): with UsePAM yes whelkd authenticates passwords and
keyboard-interactive through the "whelkd" PAM service, checks every
login with pam_acct_mgmt (publickey too) and opens a PAM session around
every session. Each case that sshd can run is run beside sshd with UsePAM
yes (its "sshd" service, Debian's stock /etc/pam.d/sshd).

/etc/pam.d/whelkd is the shipped contrib/pam/whelkd (some tests add a
line of their own), installed for the test and removed afterwards; so
are /etc/nologin and the limits.d file. Users are wka_* and removed even
on failure."""

import contextlib
import fcntl
import os
import re
import subprocess
import threading

import paramiko
import pytest

from accounts import made_user, paramiko_kbdint, sshd
from test_loginrec import utmp_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users and PAM")

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(HERE, "..", "..", "contrib", "pam", "whelkd")
SERVICE = "/etc/pam.d/whelkd"
NAME = "wka_pam"
PASSWORD = "Pam-pass 17!"


@contextlib.contextmanager
def etc_file(path, text):
    """|path| holds |text| for the block, under a lock (two runs take
    turns); a file that was there before is put back afterwards."""
    lock_name = "/run/lock/whelk-test-" + path.strip("/").replace("/", "_")
    with open(lock_name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = None
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
        try:
            with open(path, "w") as f:
                f.write(text)
            yield path
        finally:
            if old is None:
                os.unlink(path)
            else:
                with open(path, "w") as f:
                    f.write(old)


def pam_service(extra_auth="", extra_session=""):
    """The shipped service file, with test lines before its auth stack
    and after its session stack."""
    with open(SHIPPED) as f:
        text = f.read()
    return etc_file(SERVICE, extra_auth + text + extra_session)


def set_password(name, password):
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True,
                   check=True)


def pam_whelkd(whelkd, *args):
    return whelkd("-w", "1", "-o", "UsePAM=yes", *args,
                  authorized_keys=False)


def sshpass(s, keys, password, command, method="password", user=NAME,
            tty=False):
    args = ["sshpass", "-p", password] + s.ssh_args(
        keys["ed25519"], "-o", f"PreferredAuthentications={method}",
        "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
        *(["-tt"] if tty else []), batch=False, user=user)
    return subprocess.run(args + [command], capture_output=True, text=True,
                          timeout=60)


def key_login(s, keys, command="echo in", user=NAME):
    return s.ssh(keys["ed25519"], command=command, user=user, timeout=30)


def test_usepam_keyword(whelkd):
    from conftest import WHELKD
    for v, want in (("yes", "usepam yes"), ("no", "usepam no")):
        r = subprocess.run([WHELKD, "-T", "-o", f"UsePAM={v}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and want + "\n" in r.stdout, r.stderr
        assert "not built yet" not in r.stderr, r.stderr
    r = subprocess.run([WHELKD, "-T"], capture_output=True, text=True,
                       timeout=30)
    assert "usepam no\n" in r.stdout  # sshd's compiled default
    r = subprocess.run([WHELKD, "-t", "-o", "UsePAM=maybe"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and '"maybe"' in r.stderr


def test_pam_password_and_kbdint(whelkd, keys, tmp_path):
    with pam_service(), made_user(NAME):
        set_password(NAME, PASSWORD)
        s = pam_whelkd(whelkd)
        with sshd(tmp_path, keys, use_pam=True) as o:
            for srv in (s, o):
                r = sshpass(srv, keys, PASSWORD, "id -un")
                assert r.returncode == 0 and r.stdout == f"{NAME}\n", \
                    r.stderr
                r = sshpass(srv, keys, PASSWORD, "id -un",
                            method="keyboard-interactive")
                assert r.returncode == 0 and r.stdout == f"{NAME}\n", \
                    r.stderr
                for method in ("password", "keyboard-interactive"):
                    r = sshpass(srv, keys, "wrong", "id -un", method=method)
                    assert r.returncode == 255, r.stdout
                assert srv.wait_log(
                    f"PAM: Authentication failure for {NAME} from"), \
                    srv.log()[-3000:]
            # The prompt is PAM's own (pam_unix's "Password: "), echo off.
            ok, rounds = paramiko_kbdint(s, NAME, lambda p, e: PASSWORD)
            assert ok and rounds == [("", [("Password: ", False)])], rounds
        assert s.wait_log(f"Accepted keyboard-interactive for {NAME}")
        assert s.wait_log(f"Accepted password for {NAME}")


# A PAM module of the test's own: one conversation call with a text
# line and two prompts (echo on, echo off), then a call with one more.
TEST_MODULE = r"""
#include <security/pam_modules.h>
#include <stdlib.h>
#include <string.h>

static int ask(pam_handle_t *h, int n, const struct pam_message *m,
               struct pam_response **r)
{
    const struct pam_conv *conv;
    const struct pam_message *p[4];
    if (pam_get_item(h, PAM_CONV, (const void **)&conv) != PAM_SUCCESS)
        return PAM_AUTH_ERR;
    for (int i = 0; i < n; i++) p[i] = &m[i];
    return conv->conv(n, p, r, conv->appdata_ptr);
}

static int is(struct pam_response *r, int i, const char *want)
{
    return r && r[i].resp && strcmp(r[i].resp, want) == 0;
}

/* The module owns the answers (Linux-PAM's rule): each string, then the
 * array. */
static void drop(struct pam_response *r, int n)
{
    for (int i = 0; r && i < n; i++) free(r[i].resp);
    free(r);
}

int pam_sm_authenticate(pam_handle_t *h, int flags, int argc,
                        const char **argv)
{
    struct pam_message m1[3] = {
        {PAM_TEXT_INFO, "Two questions follow."},
        {PAM_PROMPT_ECHO_ON, "Ship: "},
        {PAM_PROMPT_ECHO_OFF, "Word: "}};
    struct pam_response *r = NULL;
    if (ask(h, 3, m1, &r) != PAM_SUCCESS) return PAM_AUTH_ERR;
    int ok = is(r, 1, "whelk") && is(r, 2, "sesame");
    drop(r, 3);
    struct pam_message m2[1] = {{PAM_PROMPT_ECHO_OFF, "Again: "}};
    r = NULL;
    if (!ok || ask(h, 1, m2, &r) != PAM_SUCCESS) return PAM_AUTH_ERR;
    ok = is(r, 0, "again");
    drop(r, 1);
    return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

int pam_sm_setcred(pam_handle_t *h, int flags, int argc, const char **argv)
{
    return PAM_SUCCESS;
}
"""


def build_module(tmp_path):
    src = tmp_path / "pam_wkatest.c"
    src.write_text(TEST_MODULE)
    so = tmp_path / "pam_wkatest.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src),
                    "-lpam"], check=True)
    return so


def test_pam_kbdint_rounds_and_prompts(whelkd, keys, tmp_path):
    """Each conversation call is one round with all its prompts, echo on
    and off as PAM asked; PAM_TEXT_INFO before them is the round's
    instruction; pam_unix's password follows as a third round."""
    so = build_module(tmp_path)
    with pam_service(extra_auth=f"auth requisite {so}\n"), made_user(NAME):
        set_password(NAME, PASSWORD)
        s = pam_whelkd(whelkd)
        table = {"Ship: ": "whelk", "Word: ": "sesame", "Again: ": "again",
                 "Password: ": PASSWORD}
        ok, rounds = paramiko_kbdint(s, NAME, lambda p, e: table[p])
        assert ok, (rounds, s.log()[-3000:])
        assert rounds == [
            ("Two questions follow.\n", [("Ship: ", True), ("Word: ", False)]),
            ("", [("Again: ", False)]),
            ("", [("Password: ", False)])], rounds
        # A wrong answer in the second round fails the attempt there.
        bad = dict(table, **{"Again: ": "wrong"})
        ok, rounds = paramiko_kbdint(s, NAME, lambda p, e: bad[p])
        assert not ok and len(rounds) == 2, rounds
        assert s.wait_log(f"Failed keyboard-interactive for {NAME}")
        # The password method answers only a single echo-off prompt (as
        # sshd's): this stack, which asks with echo on, refuses it.
        r = sshpass(s, keys, PASSWORD, "id -un")
        assert r.returncode == 255, r.stdout


def test_account_expired_refused_with_key(whelkd, keys, tmp_path):
    with pam_service(), made_user(NAME, keys["ed25519"] + ".pub"):
        s = pam_whelkd(whelkd)
        with sshd(tmp_path, keys, use_pam=True) as o:
            for srv in (s, o):
                r = key_login(srv, keys)
                assert r.returncode == 0 and r.stdout == "in\n", r.stderr
            subprocess.run(["chage", "-E", "0", NAME], check=True)
            for srv in (s, o):
                r = key_login(srv, keys)
                assert r.returncode == 255 and "in\n" not in r.stdout, \
                    r.stderr
                assert srv.wait_log(f"Access denied for user {NAME} by PAM "
                                    "account configuration"), \
                    srv.log()[-3000:]


def test_locked_password_pam_and_not(whelkd, keys, tmp_path):
    """usermod -L: with UsePAM yes the key still logs in and the password
    does not (sshd the same); with UsePAM no the account is locked."""
    with pam_service(), made_user(NAME, keys["ed25519"] + ".pub"):
        set_password(NAME, PASSWORD)
        subprocess.run(["usermod", "-L", NAME], check=True)
        s = pam_whelkd(whelkd)
        with sshd(tmp_path, keys, use_pam=True) as o:
            for srv in (s, o):
                r = key_login(srv, keys)
                assert r.returncode == 0 and r.stdout == "in\n", r.stderr
                r = sshpass(srv, keys, PASSWORD, "id -un")
                assert r.returncode == 255, r.stdout
        plain = whelkd("-w", "1", "-o", "UsePAM=no", authorized_keys=False)
        with sshd(tmp_path, keys) as o:
            for srv in (plain, o):
                r = key_login(srv, keys)
                assert r.returncode == 255, r.stdout
                assert srv.wait_log(f"User {NAME} not allowed because "
                                    "account is locked"), srv.log()[-3000:]


def test_nologin_under_pam(whelkd, keys, tmp_path):
    """pam_nologin (account) refuses everyone but root and its text
    reaches the client as a banner before the connection ends."""
    text = "Down for PAM maintenance until noon."
    with pam_service(), made_user(NAME, keys["ed25519"] + ".pub"):
        s = pam_whelkd(whelkd)
        with sshd(tmp_path, keys, use_pam=True) as o:
            def login(srv):
                # Banners are shown by ssh at LogLevel INFO and above.
                args = [a.replace("LogLevel=ERROR", "LogLevel=INFO")
                        for a in srv.ssh_args(keys["ed25519"], user=NAME)]
                return subprocess.run(args + ["echo in"], capture_output=True,
                                      text=True, timeout=30)

            with etc_file("/etc/nologin", text + "\n"):
                results = [login(srv) for srv in (s, o)]
            for srv, r in zip((s, o), results):
                assert r.returncode == 255 and "in\n" not in r.stdout, \
                    (r.returncode, r.stderr)
                assert text in r.stderr, r.stderr
            r = key_login(s, keys)
            assert r.returncode == 0 and r.stdout == "in\n", r.stderr


def test_session_limits_env_loginuid(whelkd, keys, tmp_path):
    """pam_limits (a limits.d entry), pam_env (a conffile of the test's)
    and pam_loginuid act on the session's processes."""
    envconf = tmp_path / "pam_env.conf"
    envconf.write_text("WKA_PAM_VAR DEFAULT=from-pam-env\n")
    extra = (f"session required pam_env.so readenv=0 conffile={envconf}\n")
    limits = f"/etc/security/limits.d/{NAME}.conf"
    with pam_service(extra_session=extra), \
            made_user(NAME, keys["ed25519"] + ".pub") as pw, \
            etc_file(limits, f"{NAME} soft nofile 777\n"
                             f"{NAME} hard nofile 777\n"):
        s = pam_whelkd(whelkd)
        r = key_login(s, keys, command='ulimit -n; echo "v=$WKA_PAM_VAR"; '
                                       'cat /proc/self/loginuid')
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["777", "v=from-pam-env",
                                         str(pw.pw_uid)], r.stdout
        # The exit status comes through the PAM session process.
        r = key_login(s, keys, command="exit 7")
        assert r.returncode == 7, r.stderr
        # Without PAM none of it.
        plain = whelkd("-w", "1", authorized_keys=False)
        r = key_login(plain, keys, command='ulimit -n; echo "v=$WKA_PAM_VAR"')
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[1] == "v=", r.stdout
        assert r.stdout.splitlines()[0] != "777", r.stdout


def test_who_in_pty_under_pam(whelkd, keys):
    with pam_service(), utmp_file(), \
            made_user(NAME, keys["ed25519"] + ".pub"):
        s = pam_whelkd(whelkd)
        r = s.ssh(keys["ed25519"], "-tt", user=NAME, timeout=60,
                  command='who; echo "tty=$SSH_TTY"')
        assert r.returncode == 0, r.stderr
        tty = re.search(r"tty=/dev/(pts/\d+)", r.stdout)
        assert tty, r.stdout
        assert re.search(rf"^{NAME}\s+{tty.group(1)}\s.*\(127\.0\.0\.1\)",
                         r.stdout, re.M), r.stdout


def test_slow_module_does_not_stall(whelkd, keys, tmp_path):
    """A PAM module that blocks (pam_exec running a script that waits
    for a file) holds one login; another login on the same worker goes
    through meanwhile, and the first one ends once the module does."""
    slow, fast = "wka_pamslow", "wka_pamfast"
    started, release = tmp_path / "started", tmp_path / "release"
    script = tmp_path / "slow.sh"
    script.write_text("#!/bin/sh\n"
                      f'[ "$PAM_USER" = {slow} ] || exit 0\n'
                      f"touch {started}\n"
                      f"while [ ! -e {release} ]; do sleep 0.05; done\n")
    script.chmod(0o755)
    extra = f"auth required pam_exec.so quiet {script}\n"
    with pam_service(extra_auth=extra), made_user(slow), made_user(fast):
        set_password(slow, PASSWORD)
        set_password(fast, PASSWORD)
        s = pam_whelkd(whelkd)
        result = {}
        th = threading.Thread(target=lambda: result.update(
            r=sshpass(s, keys, PASSWORD, "id -un", user=slow)))
        th.start()
        try:
            # No sleeps: wait for the module to be inside its script.
            while not started.exists():
                assert th.is_alive(), result
                th.join(0.05)
            r = sshpass(s, keys, PASSWORD, "id -un", user=fast)
            assert r.returncode == 0 and r.stdout == f"{fast}\n", r.stderr
            assert th.is_alive(), result  # still held by its module
        finally:
            release.touch()
            th.join(60)
        assert result["r"].returncode == 0, result["r"].stderr
        assert result["r"].stdout == f"{slow}\n"


def forwarding_refused(srv, password):
    """Logs in with |password| (paramiko) and asks for a direct-tcpip
    channel to the server's own port: True when it is refused as
    administratively prohibited."""
    t = paramiko.Transport(("127.0.0.1", srv.port))
    try:
        t.start_client(timeout=10)
        t.auth_password(NAME, password)
        try:
            t.open_channel("direct-tcpip", ("127.0.0.1", srv.port),
                           ("127.0.0.1", 40000), timeout=10).close()
        except paramiko.ChannelException as e:
            return e.code == 1
        return False
    finally:
        t.close()


def test_password_change_required(whelkd, keys, tmp_path):
    """chage -d 0. keyboard-interactive under PAM changes it in the
    conversation (pam_chauthtok); the password method, under PAM or not,
    lets the session run only passwd, which needs a terminal (sshd's
    force_pwchange)."""
    with pam_service(), made_user(NAME, keys["ed25519"] + ".pub"):
        set_password(NAME, PASSWORD)
        subprocess.run(["chage", "-d", "0", NAME], check=True)
        s = pam_whelkd(whelkd)
        plain = whelkd("-w", "1", authorized_keys=False)
        with sshd(tmp_path, keys, use_pam=True) as o, sshd(tmp_path, keys) as p:
            for srv in (s, o, plain, p):
                r = sshpass(srv, keys, PASSWORD, "echo in")
                assert r.returncode == 1 and "in\n" not in r.stdout, \
                    (srv, r.stdout, r.stderr)
                assert "Password change required but no TTY available." \
                    in r.stderr, r.stderr
                # Only the change: no forwarding (sshd's
                # auth_restrict_session).
                assert forwarding_refused(srv, PASSWORD), srv
        new = PASSWORD + "-new"

        def answer(prompt, echo):
            p = prompt.lower()
            if "new" in p:
                return new
            return PASSWORD

        ok, rounds = paramiko_kbdint(s, NAME, answer)
        assert ok, (rounds, s.log()[-3000:])
        prompts = [p for _, ps in rounds for p, _ in ps]
        assert any("new" in p.lower() for p in prompts), rounds
        # The new password is the one now, and no change is due.
        r = sshpass(s, keys, new, "echo in")
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr


def test_abandoned_kbdint_round(whelkd, keys):
    """A client may leave a keyboard-interactive round unanswered and send
    another request (RFC 4252; asyncssh does when its challenge handler
    gives up): the PAM conversation behind the round is dropped and the
    next method works."""
    import asyncio
    import asyncssh

    class Client(asyncssh.SSHClient):
        def __init__(self):
            self.challenges = 0

        def kbdint_auth_requested(self):
            return ""  # try keyboard-interactive, no submethods

        def kbdint_challenge_received(self, name, instructions, lang,
                                      prompts):
            self.challenges += 1
            return None  # give up on this round

        def password_auth_requested(self):
            return PASSWORD

    async def run(port):
        conn, client = await asyncssh.create_connection(
            Client, "127.0.0.1", port, username=NAME, known_hosts=None,
            client_keys=None, agent_path=None, config=None,
            preferred_auth="keyboard-interactive,password")
        async with conn:
            r = await conn.run("id -un", check=True)
        return client.challenges, r.stdout

    with pam_service(), made_user(NAME):
        set_password(NAME, PASSWORD)
        s = pam_whelkd(whelkd)
        challenges, out = asyncio.run(run(s.port))
        assert (challenges, out) == (1, f"{NAME}\n"), s.log()[-3000:]
        assert s.wait_log(f"Accepted password for {NAME}")


def test_user_environment_file_under_pam(whelkd, keys):
    """PermitUserEnvironment's ~/.ssh/environment is read under UsePAM
    yes too (the PAM session process hands it to the program's child),
    with its pattern list; the PAM environment stays."""
    with pam_service(), made_user(NAME, keys["ed25519"] + ".pub") as pw:
        envfile = os.path.join(pw.pw_dir, ".ssh", "environment")
        with open(envfile, "w") as f:
            f.write("# a comment\nWKA_FOO=from-file\nWKA_BAR=also\n")
        os.chown(envfile, pw.pw_uid, pw.pw_gid)
        command = 'echo "foo=$WKA_FOO bar=$WKA_BAR"'
        s = pam_whelkd(whelkd, "-o", "PermitUserEnvironment=WKA_FOO")
        r = key_login(s, keys, command=command)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "foo=from-file bar=\n", r.stdout
        s = pam_whelkd(whelkd)  # the default, no: the file is ignored
        r = key_login(s, keys, command=command)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "foo= bar=\n", r.stdout


def test_signal_reaches_a_job_control_shell_under_pam(whelkd, keys):
    """Under UsePAM the session's process group is the PAM process's; an
    interactive bash on the pty moves to a group of its own (job
    control), and a "signal" request still reaches it (through the
    terminal's foreground group)."""
    import asyncio
    import asyncssh

    with pam_service(), made_user(NAME, keys["ed25519"] + ".pub"):
        s = pam_whelkd(whelkd)

        async def go():
            async with asyncssh.connect(
                    "127.0.0.1", s.port, username=NAME,
                    client_keys=[keys["ed25519"]], known_hosts=None,
                    config=None) as conn:
                proc = await conn.create_process(
                    "exec bash --norc -i", term_type="xterm")
                proc.stdin.write("echo READY$((6*7))\n")
                seen = ""
                while "READY42" not in seen:
                    seen += await asyncio.wait_for(proc.stdout.read(256), 10)
                proc.send_signal("KILL")
                await asyncio.wait_for(proc.wait(), 10)
                return proc.exit_signal

        sig = asyncio.run(go())
        assert sig is not None and sig[0] == "KILL", (sig, s.log()[-2000:])
