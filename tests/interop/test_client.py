"""libwhelk's client role (build/whelk) against OpenSSH's sshd: key
exchange with each method, host key checking, publickey with each key
type, and refusal."""

import os
import subprocess

import pytest

from conftest import BUILD, USER, Sshd

WHELK = os.path.join(BUILD, "whelk")


@pytest.fixture
def sshd(tmp_path, keys):
    d = Sshd(str(tmp_path), keys, f"""PermitRootLogin prohibit-password
AuthorizedKeysFile {keys['authorized_keys']}
""")
    yield d.port
    d.stop()


def whelk(port, keys, key="ed25519", *opts, host="host_ed25519"):
    args = [WHELK, "-p", str(port), "-i", keys[key],
            "-k", keys[host] + ".pub", *opts, f"{USER}@127.0.0.1"]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("kex", ["sntrup761x25519-sha512@openssh.com",
                                 "sntrup761x25519-sha512",
                                 "curve25519-sha256", "ecdh-sha2-nistp256",
                                 "diffie-hellman-group14-sha256",
                                 "diffie-hellman-group16-sha512"])
def test_kex_and_publickey(sshd, keys, kex):
    r = whelk(sshd, keys, "ed25519", "-x", kex)
    assert r.returncode == 0, r.stderr
    assert f"with publickey ({kex}," in r.stdout


@pytest.mark.parametrize("cipher", ["chacha20-poly1305@openssh.com",
                                    "aes256-gcm@openssh.com", "aes192-ctr"])
def test_ciphers(sshd, keys, cipher):
    r = whelk(sshd, keys, "ed25519", "-c", cipher)
    assert r.returncode == 0, r.stderr
    assert cipher in r.stdout


@pytest.mark.parametrize("key", ["ecdsa", "rsa"])
def test_key_types(sshd, keys, key):
    r = whelk(sshd, keys, key)
    assert r.returncode == 0, r.stderr


def test_wrong_host_key_refused(sshd, keys):
    r = whelk(sshd, keys, "ed25519", host="host_ecdsa")
    assert r.returncode == 3
    assert "host key not accepted" in r.stderr


def test_unknown_key_refused(sshd, keys):
    r = whelk(sshd, keys, "stranger")
    assert r.returncode == 1
    assert "permission denied" in r.stderr


def test_mlkem_hybrid_against_whelkd(whelkd, keys):
    """No installed client speaks ML-KEM yet; libwhelk's own client does,
    so the hybrid runs over real sockets against whelkd."""
    s = whelkd()
    for _ in range(20):
        r = subprocess.run([WHELK, "-p", str(s.port), "-i", keys["ed25519"],
                            "-k", keys["host_ed25519"] + ".pub",
                            "-x", "mlkem768x25519-sha256",
                            f"{USER}@127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "(mlkem768x25519-sha256," in r.stdout
