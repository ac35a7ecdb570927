"""The session keywords of sshd_config (issue 15), given to whelkd with
-o and to OpenSSH's sshd in its config file, side by side: ForceCommand
(with SSH_ORIGINAL_COMMAND, for exec, shell and subsystems) and
PermitTTY no."""

import os
import subprocess

import pytest

from accounts import made_user, sshd
from conftest import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to add users")

NAME = "wka_cs"


SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def each_server(whelkd, tmp_path, keys, options):
    """whelkd with each "Keyword value" of |options| as -o, then sshd
    with them as its config lines; both use the user's own
    authorized_keys and have an sftp subsystem."""
    args = ["-s", f"sftp={SFTP_SERVER}"]
    for o in options:
        args += ["-o", o]
    yield whelkd(*args, authorized_keys=False)
    with sshd(tmp_path, keys, f"Subsystem sftp {SFTP_SERVER}\n" +
              "".join(o + "\n" for o in options)) as s:
        yield s


FORCED = 'ForceCommand echo "forced:$SSH_ORIGINAL_COMMAND"'


def test_force_command_exec(whelkd, tmp_path, keys):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, [FORCED]):
            r = s.ssh(keys["ed25519"], command="echo asked; id", user=NAME,
                      timeout=30)
            assert r.returncode == 0, (r.stderr, s.log()[-3000:])
            assert r.stdout == "forced:echo asked; id\n"


def test_force_command_shell_and_subsystem(whelkd, tmp_path, keys):
    """A shell has no SSH_ORIGINAL_COMMAND; a configured subsystem gets
    its configured command there, and the forced command runs instead."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, [FORCED]):
            r = s.ssh(keys["ed25519"], "-T", user=NAME, input="", timeout=30)
            assert r.returncode == 0, (r.stderr, s.log()[-3000:])
            assert r.stdout == "forced:\n"
            r = s.ssh(keys["ed25519"], "-s", command="sftp", user=NAME,
                      input="", timeout=30)
            assert r.returncode == 0, (r.stderr, s.log()[-3000:])
            assert r.stdout == f"forced:{SFTP_SERVER}\n"
            # A subsystem that is not configured is refused, forced
            # command or not.
            r = s.ssh(keys["ed25519"], "-s", command="nosuch", user=NAME,
                      input="", timeout=30)
            assert r.returncode != 0 and "forced" not in r.stdout


def test_force_command_none_is_no_forced_command(whelkd, tmp_path, keys):
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, ["ForceCommand none"]):
            r = s.ssh(keys["ed25519"], command="echo own", user=NAME,
                      timeout=30)
            assert r.stdout == "own\n", (r.stderr, s.log()[-3000:])


def test_permit_tty_no(whelkd, tmp_path, keys):
    """With PermitTTY no the pty request is refused: ssh -tt says so and
    gives up, the same with both servers."""
    got = []
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, ["PermitTTY no"]):
            r = s.ssh(keys["ed25519"], "-tt", "-o", "LogLevel=INFO",
                      command="tty; true", user=NAME, timeout=30)
            assert "PTY allocation request failed" in r.stderr, \
                (r.stderr, s.log()[-3000:])
            assert "/dev/pts/" not in r.stdout
            got.append((r.returncode, r.stdout))
        assert got[0] == got[1]
        # Without the keyword the same client gets its terminal.
        s = whelkd(authorized_keys=False)
        r = s.ssh(keys["ed25519"], "-tt", command="tty; true", user=NAME,
                  timeout=30)
        assert "/dev/pts/" in r.stdout, (r.stdout, r.stderr)


def test_dump_and_bad_values(whelkd, keys, tmp_path):
    from conftest import WHELKD
    import subprocess
    r = subprocess.run([WHELKD, "-o", "PermitTTY=maybe", "-p", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "maybe" in r.stderr
    r = subprocess.run([WHELKD, "-o", "PermitTunnel yes", "-p", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "PermitTunnel" in r.stderr


def ssh_env(s, keys, env, *opts, command):
    args = s.ssh_args(keys["ed25519"], *opts, user=NAME) + [command]
    return subprocess.run(args, capture_output=True, text=True, timeout=30,
                          env={**os.environ, **env})


def test_accept_env_and_set_env(whelkd, tmp_path, keys):
    """AcceptEnv lets the named variables in; SetEnv sets its own and
    overrides one the client sent."""
    opts = ["AcceptEnv WKA_CS_IN WKA_CS_OVER",
            "SetEnv WKA_CS_SET=admin WKA_CS_OVER=admin"]
    got = []
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, opts):
            r = ssh_env(s, keys, {"WKA_CS_IN": "in", "WKA_CS_OVER": "client",
                                  "WKA_CS_NO": "no"},
                        "-o", "SendEnv=WKA_CS_*",
                        command='echo "$WKA_CS_IN,$WKA_CS_SET,$WKA_CS_OVER,'
                                '$WKA_CS_NO"')
            assert r.returncode == 0, (r.stderr, s.log()[-3000:])
            got.append(r.stdout)
    assert got == ["in,admin,admin,\n"] * 2


def test_accept_env_keyword_replaces_default(whelkd, tmp_path, keys):
    """With AcceptEnv given, LANG (whelkd's default pattern) is refused
    unless listed, as in sshd, whose default accepts nothing."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, ["AcceptEnv WKA_CS_IN"]):
            r = ssh_env(s, keys, {"WKA_CS_IN": "in", "LANG": "C.UTF-8"},
                        "-o", "SendEnv=WKA_CS_IN LANG",
                        command='echo "$WKA_CS_IN,${LANG-unset}"')
            assert r.stdout == "in,unset\n", (r.stderr, s.log()[-3000:])


def banner_login(s, keys):
    """ssh shows a banner at LogLevel INFO (conftest's args say ERROR,
    and ssh takes the first value)."""
    args = [("LogLevel=INFO" if a == "LogLevel=ERROR" else a)
            for a in s.ssh_args(keys["ed25519"], user=NAME)] + ["true"]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def test_banner(whelkd, tmp_path, keys):
    banner = tmp_path / "banner.txt"
    banner.write_text("Authorised use only (wka_cs).\n")
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, [f"Banner {banner}"]):
            r = banner_login(s, keys)
            assert r.returncode == 0
            assert "Authorised use only (wka_cs)." in r.stderr, \
                (r.stderr, s.log()[-3000:])
        s = whelkd("-o", "Banner none", authorized_keys=False)
        r = banner_login(s, keys)
        assert r.returncode == 0 and "Authorised" not in r.stderr


def test_subsystem_keyword(whelkd, tmp_path, keys):
    """Subsystem defines what -s names; without -s the keyword's list is
    the whole list (sftp is then not defined unless listed)."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd("-o", "Subsystem wkacs echo sub-ran", authorized_keys=False)
        r = s.ssh(keys["ed25519"], "-s", command="wkacs", user=NAME,
                  input="", timeout=30)
        assert r.returncode == 0 and r.stdout == "sub-ran\n", \
            (r.stderr, s.log()[-3000:])
        r = s.ssh(keys["ed25519"], "-s", command="sftp", user=NAME,
                  input="", timeout=30)
        assert r.returncode != 0


def test_max_sessions_control_master(whelkd, tmp_path, keys):
    """MaxSessions 2 over one ControlMaster connection: two sessions run,
    the third is refused while they last, the same with both servers."""
    import time
    with made_user(NAME, keys["ed25519"] + ".pub"):
        for s in each_server(whelkd, tmp_path, keys, ["MaxSessions 2"]):
            sock = str(tmp_path / f"mux-{s.port}")
            master = subprocess.Popen(
                s.ssh_args(keys["ed25519"], "-M", "-S", sock, "-N",
                           user=NAME),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            held = []
            try:
                deadline = time.time() + 20
                while not os.path.exists(sock):
                    assert master.poll() is None and time.time() < deadline
                    time.sleep(0.05)
                for i in range(2):
                    held.append(subprocess.Popen(
                        s.ssh_args(keys["ed25519"], "-S", sock, user=NAME)
                        + [f"echo up{i}; exec sleep 60"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        text=True))
                for i, p in enumerate(held):
                    assert p.stdout.readline() == f"up{i}\n", s.log()[-3000:]
                # ssh falls back to a connection of its own when the
                # master's session is refused: give it a port where
                # nothing listens, so only the shared connection counts.
                args = s.ssh_args(keys["ed25519"], "-S", sock, user=NAME)
                args[args.index(str(s.port))] = str(free_port())
                r = subprocess.run(args + ["echo third"], capture_output=True,
                                   text=True, timeout=30)
                assert r.returncode != 0 and "third" not in r.stdout, \
                    (r.stdout, r.stderr, s.log()[-3000:])
                assert "Session open refused by peer" in r.stderr
            finally:
                for p in held + [master]:
                    if p.poll() is None:
                        p.terminate()
                    p.wait(10)


def make_jail(port):
    """A chroot that passes sshd's checks: /run (root's, 0755) /
    wka_cs-jail-PORT (root's, 0755) with pub/ (the user's) inside."""
    import pwd
    import shutil
    jail = f"/run/wka_cs-jail-{port}"
    shutil.rmtree(jail, ignore_errors=True)
    os.mkdir(jail, 0o755)
    os.chmod(jail, 0o755)
    pub = os.path.join(jail, "pub")
    os.mkdir(pub, 0o755)
    pw = pwd.getpwnam(NAME)
    os.chown(pub, pw.pw_uid, pw.pw_gid)
    with open(os.path.join(pub, "inside.txt"), "w") as f:
        f.write("inside\n")
    return jail


def sftp_batch(s, keys, batch, tmp_path):
    bf = tmp_path / f"batch-{s.port}"
    bf.write_text(batch)
    args = ["sftp", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-i", keys["ed25519"],
            "-P", str(s.port), "-b", str(bf), f"{NAME}@127.0.0.1"]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["ForceCommand internal-sftp",
                                 "Subsystem sftp internal-sftp"])
def test_chroot_internal_sftp(whelkd, tmp_path, keys, how):
    """sftp and scp work inside the chroot, with no binary in it, and
    nothing outside it is reachable; the same with sshd."""
    import shutil
    with made_user(NAME, keys["ed25519"] + ".pub"):
        jail = make_jail(os.getpid())
        try:
            opts = [f"ChrootDirectory {jail}", how]
            if how.startswith("Subsystem"):
                servers = [whelkd("-o", opts[0], "-o", opts[1],
                                  authorized_keys=False)]
                ctx = sshd(tmp_path, keys, "".join(o + "\n" for o in opts))
            else:
                gen = each_server(whelkd, tmp_path, keys, opts)
                servers = [next(gen)]
                ctx = None
            src = tmp_path / "up.txt"
            src.write_text("uploaded\n")
            def check(s):
                r = sftp_batch(s, keys, f"ls /\nget /pub/inside.txt "
                               f"{tmp_path}/got-{s.port}\n"
                               f"put {src} /pub/up-{s.port}.txt\n",
                               tmp_path)
                assert r.returncode == 0, (r.stdout, r.stderr,
                                           s.log()[-3000:])
                assert "pub" in r.stdout
                assert (tmp_path / f"got-{s.port}").read_text() == "inside\n"
                assert open(f"{jail}/pub/up-{s.port}.txt").read() == \
                    "uploaded\n"
                # Outside the chroot: /etc/passwd and the test's tmp dir
                # do not exist there.
                for path in ("/etc/passwd", f"{src}"):
                    r = sftp_batch(s, keys, f"get {path} {tmp_path}/x\n",
                                   tmp_path)
                    assert r.returncode != 0, r.stdout
                    assert not (tmp_path / "x").exists()
                # scp (over SFTP, OpenSSH's default).
                out = tmp_path / f"scp-{s.port}"
                r = subprocess.run(
                    ["scp", "-F", "/dev/null", "-o",
                     "StrictHostKeyChecking=no", "-o",
                     "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                     "-i", keys["ed25519"], "-P", str(s.port),
                     f"{NAME}@127.0.0.1:/pub/inside.txt", str(out)],
                    capture_output=True, text=True, timeout=60)
                assert r.returncode == 0, (r.stderr, s.log()[-3000:])
                assert out.read_text() == "inside\n"
            check(servers[0])
            if ctx is None:
                for s in gen:
                    check(s)
            else:
                with ctx as s:
                    check(s)
        finally:
            shutil.rmtree(jail, ignore_errors=True)


def test_chroot_bad_ownership_refused(whelkd, tmp_path, keys):
    """A chroot under the test's tmp dir fails the checks (the user owns
    the last component): refused with sshd's log line."""
    jail = tmp_path / "badjail"
    jail.mkdir()
    with made_user(NAME, keys["ed25519"] + ".pub"):
        import pwd
        pw = pwd.getpwnam(NAME)
        os.chown(jail, pw.pw_uid, pw.pw_gid)
        os.chmod(jail, 0o755)
        s = whelkd("-o", f"ChrootDirectory {jail}", authorized_keys=False)
        r = s.ssh(keys["ed25519"], command="echo ran", user=NAME, timeout=30)
        assert r.returncode != 0 and "ran" not in r.stdout
        # /tmp is world-writable: the first component that fails.
        line = 'bad ownership or modes for chroot directory component "/tmp/"'
        assert s.wait_log(line), s.log()[-3000:]
        with sshd(tmp_path, keys, f"ChrootDirectory {jail}\n") as o:
            r = o.ssh(keys["ed25519"], command="echo ran", user=NAME,
                      timeout=30)
            assert r.returncode != 0 and "ran" not in r.stdout
            assert o.wait_log(line) or line in r.stderr, o.log()[-3000:]


def test_client_alive_drops_stopped_client(whelkd, tmp_path, keys):
    """ClientAliveInterval 1, ClientAliveCountMax 2: a SIGSTOPped ssh
    answers no probe, so the connection ends and its program goes; the
    same with sshd (with a pty, whose hangup ends the program in sshd
    too: sshd leaves a pipe session's program running)."""
    import signal
    import time
    opts = ["ClientAliveInterval 1", "ClientAliveCountMax 2"]
    with made_user(NAME, keys["ed25519"] + ".pub"):
        args = []
        for o in opts:
            args += ["-o", o]
        # whelkd with pipes as well: its programs go either way.
        import itertools
        runs = itertools.chain(
            [(whelkd(*args, authorized_keys=False), ())],
            ((s, ("-tt",)) for s in each_server(whelkd, tmp_path, keys,
                                                 opts)))
        for s, tty in runs:
            p = subprocess.Popen(
                s.ssh_args(keys["ed25519"], *tty, user=NAME)
                + ["echo $$; exec sleep 300"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True)
            stopped = False
            try:
                pid = int(p.stdout.readline())
                assert os.path.exists(f"/proc/{pid}")
                os.kill(p.pid, signal.SIGSTOP)
                stopped = True
                assert s.wait_log("Timeout, client not responding",
                                  timeout=60), s.log()[-3000:]
                deadline = time.time() + 30
                while os.path.exists(f"/proc/{pid}"):
                    assert time.time() < deadline, \
                        ("program still runs", s.log()[-3000:])
                    time.sleep(0.1)
            finally:
                if stopped:
                    os.kill(p.pid, signal.SIGCONT)
                if p.poll() is None:
                    p.terminate()
                p.wait(10)


def test_unused_connection_timeout(whelkd, tmp_path, keys):
    """UnusedConnectionTimeout 2: a connection with no channel (ssh -N)
    ends; one with a session runs on."""
    with made_user(NAME, keys["ed25519"] + ".pub"):
        s = whelkd("-o", "UnusedConnectionTimeout 2", authorized_keys=False)
        r = subprocess.run(s.ssh_args(keys["ed25519"], "-N", user=NAME),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 255, (r.stderr, s.log()[-3000:])
        r = s.ssh(keys["ed25519"], command="sleep 4; echo still", user=NAME,
                  timeout=60)
        assert r.stdout == "still\n", (r.stderr, s.log()[-3000:])
