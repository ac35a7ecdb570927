"""Dropbear's client (dbclient, Debian 12's dropbear-bin 2022.83) against
whelkd: exec with stdout, stderr and exit status, a shell on a pty, each
cipher, MAC and key exchange it offers that whelkd has, forced one at a
time, each host key type, and 50 MiB each way.

dbclient always sends a guessed first key exchange packet
(first_kex_packet_follows): its own first method, curve25519-sha256.
whelkd prefers the post-quantum hybrids, so by default the guess is wrong
(RFC 4253 section 7) and must be dropped; with whelkd offering only
curve25519-sha256 and an ed25519 host key the guess is right and must be
processed. Both are checked through whelkd's debug log.

dbclient has no option to choose its key exchange, so each method is
forced from whelkd's side (-o KexAlgorithms=)."""

import hashlib
import os
import subprocess

import pytest

from conftest import USER, Pty

GUESS_DROPPED = "ignoring the peer's wrongly guessed key exchange packet"
# What dbclient 2022.83 offers (its KEXINIT, captured once) and whelkd has
# too; it also offers ecdh-sha2-nistp384/521 and diffie-hellman-group14-sha1,
# which whelkd does not.
KEX = ["curve25519-sha256", "curve25519-sha256@libssh.org",
       "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256"]
CIPHER = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"]
HOST_KEYS = {"host_ed25519": "ssh-ed25519",
             "host_ecdsa": "ecdsa-sha2-nistp256",
             "host_rsa": "rsa-sha2-256"}


@pytest.fixture(scope="session")
def db_key(keys):
    """The ed25519 user key in Dropbear's format."""
    out = os.path.join(keys["dir"], "user_ed25519.dropbear")
    subprocess.run(["dropbearconvert", "openssh", "dropbear", keys["ed25519"],
                    out], check=True, capture_output=True)
    return out


def dbclient_args(server, key, *opts):
    # -y -y: no host key check (the fingerprint is not what is tested).
    return ["dbclient", "-y", "-y", "-i", key, "-p", str(server.port),
            *opts, f"{USER}@127.0.0.1"]


def dbclient(server, key, *opts, command, input=None, text=True,
             timeout=60):
    return subprocess.run(dbclient_args(server, key, *opts) + [command],
                          input=input, capture_output=True, text=text,
                          timeout=timeout,
                          stdin=None if input is not None
                          else subprocess.DEVNULL)


def kex_done(server, *names):
    """The log line of the key exchange whelkd finished last, which must
    name each of |names|."""
    assert server.wait_log("kex done for"), server.log()
    line = [x for x in server.log().splitlines() if "kex done for" in x][-1]
    for n in names:
        assert f" {n}" in line, line
    return line


def test_exec_stdout_stderr_status(whelkd, db_key):
    s = whelkd("-d")
    for code in (0, 3):
        r = dbclient(s, db_key, command=f"echo out; echo err >&2; "
                                        f"exit {code}")
        assert r.returncode == code, r.stderr
        assert r.stdout == "out\n"
        # dbclient adds its own warning about the skipped host key check.
        assert "err\n" in r.stderr.replace("\r", "")
    # The default: whelkd prefers another method, so the guess is wrong.
    assert GUESS_DROPPED in s.log()
    kex_done(s, "curve25519-sha256")


def test_right_guess_processed(whelkd, db_key):
    s = whelkd("-d", "-o", "KexAlgorithms=curve25519-sha256")
    r = dbclient(s, db_key, command="echo right")
    assert r.stdout == "right\n", r.stderr + s.log()
    kex_done(s, "curve25519-sha256", "ssh-ed25519")
    assert GUESS_DROPPED not in s.log()


def test_pty_shell(whelkd, db_key):
    s = whelkd()
    with Pty(dbclient_args(s, db_key, "-t"), rows=33, cols=91) as t:
        t.check_shell()


@pytest.mark.parametrize("kex", KEX)
def test_forced_kex(whelkd, db_key, kex):
    s = whelkd("-d", "-o", f"KexAlgorithms={kex}")
    r = dbclient(s, db_key, command="echo kex-ok")
    assert r.stdout == "kex-ok\n", r.stderr + s.log()
    kex_done(s, kex)
    # dbclient guesses curve25519-sha256 and ed25519: right only there.
    assert (GUESS_DROPPED in s.log()) == (kex != "curve25519-sha256")


def test_kex_it_lacks_refused(whelkd, db_key):
    s = whelkd("-o", "KexAlgorithms=mlkem768x25519-sha256")
    r = dbclient(s, db_key, command="true")
    assert r.returncode != 0
    assert s.wait_log("no matching key exchange method found"), s.log()


@pytest.mark.parametrize("cipher", CIPHER)
def test_forced_cipher(whelkd, db_key, cipher):
    s = whelkd("-d")
    r = dbclient(s, db_key, "-c", cipher, command="echo cipher-ok")
    assert r.stdout == "cipher-ok\n", r.stderr + s.log()
    kex_done(s, cipher)


def test_forced_mac(whelkd, db_key):
    """dbclient offers hmac-sha1 and hmac-sha2-256; whelkd has only the
    second, so forcing the first is refused with the reason logged."""
    s = whelkd("-d")
    r = dbclient(s, db_key, "-c", "aes128-ctr", "-m", "hmac-sha2-256",
                 command="echo mac-ok")
    assert r.stdout == "mac-ok\n", r.stderr + s.log()
    kex_done(s, "aes128-ctr", "hmac-sha2-256")
    r = dbclient(s, db_key, "-c", "aes128-ctr", "-m", "hmac-sha1",
                 command="true")
    assert r.returncode != 0
    assert s.wait_log("no matching client to server MAC method found"), \
        s.log()


@pytest.mark.parametrize("host_key", list(HOST_KEYS))
def test_host_key_types(whelkd, db_key, host_key):
    s = whelkd("-d", host_keys=(host_key,))
    r = dbclient(s, db_key, command="echo host-ok")
    assert r.stdout == "host-ok\n", r.stderr + s.log()
    kex_done(s, HOST_KEYS[host_key])


def test_50_mib_each_way(whelkd, db_key, tmp_path):
    s = whelkd()
    data = os.urandom(50 << 20)
    want = hashlib.sha256(data).hexdigest()
    r = dbclient(s, db_key, command="sha256sum", input=data, text=False,
                 timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].decode() == want
    src = tmp_path / "src"
    src.write_bytes(data)
    r = dbclient(s, db_key, command=f"cat {src}", text=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == len(data)
    assert hashlib.sha256(r.stdout).hexdigest() == want
