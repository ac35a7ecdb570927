"""The clients people have, each running a command against whelkd with
its output and exit status checked, where the other files do not drive
them already: OpenSSH's legacy scp protocol (scp -O), PuTTY's plink, pscp
and psftp, paramiko and AsyncSSH exec, and Twisted Conch's client in each
of its modes (exec, shell on a pty, subsystem). OpenSSH's ssh, sftp, scp
(SFTP mode) and ssh-keyscan are in test_session.py and
test_transport.py, dbclient in test_dropbear.py."""

import asyncio
import os
import struct
import subprocess

import asyncssh
import paramiko

from conftest import USER, Pty

CONCH = ["/usr/bin/python3", "-m", "twisted.conch.scripts.conch"]
# Twisted warns about ciphers it still carries; that is not the test.
QUIET = dict(os.environ, PYTHONWARNINGS="ignore")
QUIET.pop("SSH_AUTH_SOCK", None)


def openssh_base(server, keys):
    return ["-F", "/dev/null", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-i", keys["ed25519"], "-P", str(server.port)]


def test_scp_legacy_protocol(whelkd, keys, tmp_path):
    """scp -O runs `scp -t` / `scp -f` on the server, as before SFTP."""
    s = whelkd()
    data = os.urandom(3 << 20)
    src, up, down = tmp_path / "src", tmp_path / "up", tmp_path / "down"
    src.write_bytes(data)
    base = ["scp", "-O", *openssh_base(s, keys)]
    r = subprocess.run(base + [str(src), f"{USER}@127.0.0.1:{up}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(base + [f"{USER}@127.0.0.1:{up}", str(down)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert up.read_bytes() == data and down.read_bytes() == data
    r = subprocess.run(base + [f"{USER}@127.0.0.1:{tmp_path}/missing",
                               str(down)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "No such file or directory" in r.stderr


def putty(tool, server, putty_key, *args):
    ppk, fp = putty_key
    return subprocess.run([tool, "-batch", "-P", str(server.port), "-i", ppk,
                           "-hostkey", fp, *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_plink_exec(whelkd, putty_key):
    s = whelkd()
    for code in (0, 4):
        r = putty("plink", s, putty_key, "-ssh", f"{USER}@127.0.0.1",
                  f"echo out; echo err >&2; exit {code}")
        assert r.returncode == code, r.stderr
        assert r.stdout == "out\n"
        assert r.stderr == "err\n"


def test_pscp_both_protocols(whelkd, putty_key, tmp_path):
    s = whelkd()
    data = os.urandom(3 << 20)
    src = tmp_path / "src"
    src.write_bytes(data)
    for proto in ("-scp", "-sftp"):
        up, down = tmp_path / f"up{proto}", tmp_path / f"down{proto}"
        r = putty("pscp", s, putty_key, proto, "-q", str(src),
                  f"{USER}@127.0.0.1:{up}")
        assert r.returncode == 0, r.stderr
        r = putty("pscp", s, putty_key, proto, "-q",
                  f"{USER}@127.0.0.1:{up}", str(down))
        assert r.returncode == 0, r.stderr
        assert up.read_bytes() == data and down.read_bytes() == data
        r = putty("pscp", s, putty_key, proto, "-q",
                  f"{USER}@127.0.0.1:{tmp_path}/missing", str(down))
        assert r.returncode == 1, r.stderr


def test_psftp_batch(whelkd, putty_key, tmp_path):
    s = whelkd()
    data = os.urandom(1 << 20)
    src, remote, back = (tmp_path / "src", tmp_path / "remote",
                         tmp_path / "back")
    src.write_bytes(data)
    batch = tmp_path / "batch"
    batch.write_text(f"cd {tmp_path}\nput {src} remote\nls\n"
                     f"get remote {back}\nrm remote\nquit\n")
    r = putty("psftp", s, putty_key, "-b", str(batch), f"{USER}@127.0.0.1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " remote\n" in r.stdout
    assert back.read_bytes() == data and not remote.exists()
    # psftp -b stops at the first failing command, with status 2.
    batch.write_text(f"get {tmp_path}/missing {back}\nquit\n")
    r = putty("psftp", s, putty_key, "-b", str(batch), f"{USER}@127.0.0.1")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no such file or directory" in r.stdout


def test_paramiko_exec(whelkd, keys):
    s = whelkd()
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", s.port, USER, key_filename=keys["ed25519"],
              look_for_keys=False, allow_agent=False, timeout=10)
    try:
        _, out, err = c.exec_command("echo out; echo err >&2; exit 5")
        assert out.read() == b"out\n"
        assert err.read() == b"err\n"
        assert out.channel.recv_exit_status() == 5
    finally:
        c.close()


def test_asyncssh_exec(whelkd, keys):
    s = whelkd()

    async def go():
        async with asyncssh.connect(
                "127.0.0.1", s.port, username=USER,
                client_keys=[keys["ed25519"]], known_hosts=None,
                config=None) as conn:
            return await conn.run("echo out; echo err >&2; exit 6")
    r = asyncio.run(go())
    assert (r.stdout, r.stderr, r.exit_status) == ("out\n", "err\n", 6)


def conch_args(server, keys, tmp_path, *opts):
    """Conch checks the host key against a known_hosts file it is given;
    it takes host names without ports there."""
    kh = tmp_path / "conch_known_hosts"
    with open(keys["host_ed25519"] + ".pub") as f:
        kh.write_text("127.0.0.1 " + " ".join(f.read().split()[:2]) + "\n")
    return CONCH + ["--known-hosts", str(kh), "-i", keys["ed25519"],
                    "-p", str(server.port), "-l", USER,
                    "--user-authentications", "publickey", *opts,
                    "127.0.0.1"]


def read_sftp_packet(f):
    n = struct.unpack(">I", f.read(4))[0]
    return f.read(n)


def conch_run(args, feed=b"", sftp_replies=0):
    """Runs conch with a stdin that stays open until it exits: conch stops
    writing its stdout once its stdin ends, so a closed stdin would lose
    output that comes later. Writes |feed| and, for the subsystem, reads
    |sftp_replies| SFTP packets before closing stdin."""
    r, w = os.pipe()
    p = subprocess.Popen(args, stdin=r, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=QUIET)
    os.close(r)
    try:
        os.write(w, feed)
        replies = [read_sftp_packet(p.stdout) for _ in range(sftp_replies)]
        if sftp_replies:
            os.close(w)
            w = -1
        out, err = p.communicate(timeout=60)
        return p.returncode, replies or out, err
    finally:
        if w >= 0:
            os.close(w)
        if p.poll() is None:
            p.kill()
            p.wait()


def test_conch_exec(whelkd, keys, tmp_path):
    s = whelkd()
    for code in (0, 3):
        rc, out, err = conch_run(conch_args(
            s, keys, tmp_path) + [f"echo out; echo err >&2; exit {code}"])
        assert (rc, out, err) == (code, b"out\n", b"err\n")


def test_conch_shell_on_pty(whelkd, keys, tmp_path):
    s = whelkd()
    with Pty(conch_args(s, keys, tmp_path), rows=33, cols=91,
             env=QUIET) as t:
        t.check_shell()


def sftp_packet(ptype, body):
    return struct.pack(">IB", len(body) + 1, ptype) + body


def test_conch_subsystem(whelkd, keys, tmp_path):
    """conch -s sftp: the SFTP server answers INIT with VERSION 3 and
    REALPATH with the path, over conch's stdin and stdout."""
    s = whelkd()
    path = str(tmp_path).encode()
    feed = (sftp_packet(1, struct.pack(">I", 3)) +
            sftp_packet(16, struct.pack(">II", 7, len(path)) + path))
    rc, (version, name), err = conch_run(
        conch_args(s, keys, tmp_path, "-s") + ["sftp"], feed=feed,
        sftp_replies=2)
    assert rc == 0, err
    assert version[0] == 2  # SSH_FXP_VERSION
    assert struct.unpack(">I", version[1:5])[0] == 3
    assert name[0] == 104  # SSH_FXP_NAME
    assert struct.unpack(">I", name[1:5])[0] == 7  # the request id
    assert path in name
