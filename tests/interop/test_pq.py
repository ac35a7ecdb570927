"""Post-quantum hybrid key exchange with the clients people have:
OpenSSH's ssh (whose default, on Debian 12, is sntrup761x25519-sha512) and
PuTTY's plink (whose default is the same hybrid under its @openssh.com
name). The ML-KEM hybrid, which no installed client speaks, is driven over
the wire by the node client in test_pq_wire.py."""

import os
import subprocess

import pytest

from conftest import USER

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
LOOP = os.path.join(ROOT, "scripts", "pq-login-loop.sh")
SNTRUP = ["sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"]


def test_ssh_default_is_sntrup(whelkd, keys):
    s = whelkd()
    r = subprocess.run(s.ssh_args(keys["ed25519"], "-v") + ["echo pq"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "pq\n", r.stderr
    assert "kex: algorithm: sntrup761x25519-sha512\n" in r.stderr
    # No warning about a key exchange without post-quantum protection.
    assert "post-quantum" not in r.stderr


@pytest.mark.parametrize("kex", SNTRUP)
def test_sntrup_login_loop(whelkd, keys, kex):
    """The short form of the 2,000-login run recorded in the issue note."""
    s = whelkd()
    r = subprocess.run([LOOP, str(s.port), kex, "25", keys["ed25519"], USER],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"kex={kex} ok=25 failed=0" in r.stdout


@pytest.mark.parametrize("kex", SNTRUP)
def test_rekey_repeats_the_hybrid(whelkd, keys, kex):
    """The client rekeys after every 128 KiB of a 1 MiB upload: each new
    exchange negotiates the hybrid again (ssh -v prints a kex line for
    each) and the data arrives intact. The ML-KEM hybrid's rekeys are
    covered engine to engine in tests/unit/test_transport.c."""
    import hashlib
    s = whelkd()
    data = os.urandom(1 << 20)
    r = subprocess.run(s.ssh_args(keys["ed25519"], "-v", "-o",
                                  "RekeyLimit=128K", "-o",
                                  f"KexAlgorithms={kex}") + ["sha256sum"],
                       input=data, capture_output=True, timeout=60)
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    err = r.stderr.decode()
    assert err.count(f"kex: algorithm: {kex}\r\n") >= 6, err[-2000:]


def test_plink_default_settings(whelkd, putty_key):
    """plink with its default settings (the host key pinned with -hostkey,
    no other option) runs a command through the NTRU Prime hybrid."""
    s = whelkd()
    ppk, fp = putty_key
    r = subprocess.run(["plink", "-batch", "-v", "-ssh", "-P", str(s.port),
                        "-i", ppk, "-hostkey", fp, f"{USER}@127.0.0.1",
                        "echo plink-$((6*7))"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.stdout == "plink-42\n", r.stderr
    assert "NTRU Prime / Curve25519 hybrid key exchange" in r.stderr
