"""The ML-KEM hybrid over the wire. No installed SSH client speaks
mlkem768x25519-sha256, so tests/node/sshkex.mjs performs the exchange:
it is first validated against Debian's sshd with sntrup761 (its KEM from
@oqs/liboqs-js), including a run that corrupts K and must fail on the
host key signature, then drives whelkd through hundreds of exchanges,
each checked up to the first encrypted packet."""

import os
import subprocess

import pytest

from test_client import sshd  # noqa: F401  (Debian's sshd as a fixture)


def kextest(node_deps, port, kex, count, hostkey_pub=None, cipher=None,
            corrupt=False, extra=()):
    args = ["node", "sshkex.mjs", "--port", str(port), "--kex", kex,
            "--count", str(count), *extra]
    if cipher:
        args += ["--cipher", cipher]
    if hostkey_pub:
        args += ["--hostkey-pub", hostkey_pub]
    env = dict(os.environ)
    if corrupt:
        env["WHELK_KEXTEST_CORRUPT"] = "1"
    return subprocess.run(args, cwd=node_deps, capture_output=True,
                          text=True, timeout=300, env=env)


def test_client_validated_against_sshd(node_deps, sshd, keys):  # noqa: F811
    kex = "sntrup761x25519-sha512@openssh.com"
    r = kextest(node_deps, sshd, kex, 3, keys["host_ed25519"] + ".pub")
    assert r.returncode == 0, r.stderr
    assert f"ok=3 failed=0 kex={kex}" in r.stdout
    # chacha20-poly1305 uses the sequence number as its nonce, so this
    # also checks the client's strict-kex numbering against OpenSSH.
    r = kextest(node_deps, sshd, kex, 2, keys["host_ed25519"] + ".pub",
                "chacha20-poly1305@openssh.com")
    assert f"ok=2 failed=0 kex={kex}" in r.stdout, r.stderr
    bad = kextest(node_deps, sshd, kex, 1, corrupt=True)
    assert bad.returncode == 1
    assert "signature over H does not verify" in bad.stderr
    # Another host key than the server's is refused too.
    other = kextest(node_deps, sshd, kex, 1, keys["stranger"] + ".pub")
    assert "host key differs" in other.stderr


@pytest.mark.parametrize("kex,count", [
    ("mlkem768x25519-sha256", 200),
    ("sntrup761x25519-sha512", 50),
    ("sntrup761x25519-sha512@openssh.com", 50),
])
def test_exchanges_with_whelkd(node_deps, whelkd, keys, kex, count):
    s = whelkd()
    r = kextest(node_deps, s.port, kex, count, keys["host_ed25519"] + ".pub")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"ok={count} failed=0 kex={kex}" in r.stdout


@pytest.mark.parametrize("kex,mode", [
    ("mlkem768x25519-sha256", "truncated"),
    ("mlkem768x25519-sha256", "oversized"),
    ("mlkem768x25519-sha256", "bad-ek"),
    ("mlkem768x25519-sha256", "zero-x25519"),
    ("sntrup761x25519-sha512", "truncated"),
    ("sntrup761x25519-sha512", "oversized"),
    ("sntrup761x25519-sha512@openssh.com", "zero-x25519"),
])
def test_malformed_value_ends_the_exchange(node_deps, whelkd, keys, kex,
                                          mode):
    """A truncated or oversized client value, an encapsulation key that
    fails the modulus check and an all-zero X25519 key each get DISCONNECT
    KEY_EXCHANGE_FAILED and a log line; the server keeps serving."""
    s = whelkd()
    r = subprocess.run(["node", "sshkex.mjs", "--port", str(s.port),
                        "--kex", kex, "--reject", mode], cwd=node_deps,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert s.wait_log(f"key exchange {kex} failed: invalid client value")
    ok = kextest(node_deps, s.port, kex, 1, keys["host_ed25519"] + ".pub")
    assert ok.returncode == 0, ok.stderr


def test_strict_kex_sequence_numbers(node_deps, whelkd, keys):
    """With chacha20-poly1305 the sequence number is the nonce: whelkd's
    first encrypted packets authenticate only if it restarted its numbers
    at NEWKEYS, and a client that does not restart its own is refused."""
    s = whelkd()
    kex = "mlkem768x25519-sha256"
    ok = kextest(node_deps, s.port, kex, 20, keys["host_ed25519"] + ".pub",
                 "chacha20-poly1305@openssh.com")
    assert ok.returncode == 0, ok.stderr
    bad = kextest(node_deps, s.port, kex, 1,
                  cipher="chacha20-poly1305@openssh.com",
                  extra=["--keep-seq"])
    assert bad.returncode == 1
    assert s.wait_log("bad packet length")
