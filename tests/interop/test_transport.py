"""The transport layer against OpenSSH's clients: every kex, host key,
cipher and MAC forced one at a time, ssh-keyscan fingerprints, and hostile
input that must end only its own connection."""

import socket
import struct
import subprocess
import threading
import time

import pytest

KEX = ["sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
       "curve25519-sha256", "curve25519-sha256@libssh.org",
       "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256",
       "diffie-hellman-group16-sha512"]
HOSTKEY = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512",
           "rsa-sha2-256"]
CIPHER = ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
          "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"]
MAC = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
       "hmac-sha2-256", "hmac-sha2-512"]
ALL_HOST_KEYS = ("host_ed25519", "host_ecdsa", "host_rsa")


def verbose_attempt(server, key, *opts):
    """ssh -v with an identity the server does not accept: the transport
    completes and authentication is refused."""
    r = subprocess.run(server.ssh_args(key, "-v", *opts) + ["true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 255
    assert "SSH2_MSG_SERVICE_ACCEPT received" in r.stderr, r.stderr
    assert "Permission denied" in r.stderr
    return r.stderr


@pytest.fixture
def server(whelkd):
    return whelkd(host_keys=ALL_HOST_KEYS)


def test_keyscan_fingerprints(server, keys):
    r = subprocess.run(["ssh-keyscan", "-t", "ed25519,ecdsa,rsa", "-p",
                        str(server.port), "127.0.0.1"], capture_output=True,
                       text=True, timeout=30)
    got = subprocess.run(["ssh-keygen", "-lf", "-"], input=r.stdout,
                         capture_output=True, text=True).stdout
    got_fps = sorted(line.split()[1] for line in got.splitlines())
    want = []
    for h in ALL_HOST_KEYS:
        out = subprocess.run(["ssh-keygen", "-lf", keys[h] + ".pub"],
                             capture_output=True, text=True).stdout
        want.append(out.split()[1])
    assert got_fps == sorted(want)


@pytest.mark.parametrize("alg", KEX)
def test_forced_kex(server, keys, alg):
    err = verbose_attempt(server, keys["stranger"], "-o",
                          f"KexAlgorithms={alg}")
    assert f"kex: algorithm: {alg}" in err


@pytest.mark.parametrize("alg", HOSTKEY)
def test_forced_hostkey(server, keys, alg):
    err = verbose_attempt(server, keys["stranger"], "-o",
                          f"HostKeyAlgorithms={alg}")
    assert f"kex: host key algorithm: {alg}" in err


@pytest.mark.parametrize("alg", CIPHER)
def test_forced_cipher(server, keys, alg):
    err = verbose_attempt(server, keys["stranger"], "-c", alg)
    assert f"kex: server->client cipher: {alg}" in err
    assert f"kex: client->server cipher: {alg}" in err


@pytest.mark.parametrize("alg", MAC)
def test_forced_mac(server, keys, alg):
    err = verbose_attempt(server, keys["stranger"], "-c", "aes128-ctr",
                          "-m", alg)
    assert f"kex: server->client cipher: aes128-ctr MAC: {alg}" in err


def still_serves(server, keys):
    r = server.ssh(keys["ed25519"], command="echo alive")
    assert r.returncode == 0 and r.stdout == "alive\n", r.stderr


def raw(server):
    s = socket.create_connection(("127.0.0.1", server.port), 5)
    s.settimeout(5)
    return s


def read_all(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def test_garbage_version_line(server, keys):
    s = raw(server)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    read_all(s)
    s.close()
    assert server.wait_log("Bad protocol version identification")
    still_serves(server, keys)


def test_long_and_old_version(server, keys):
    s = raw(server)
    s.sendall(b"SSH-2.0-" + b"x" * 400 + b"\r\n")
    read_all(s)
    s.close()
    s = raw(server)
    s.sendall(b"SSH-1.5-ancient\r\n")
    read_all(s)
    s.close()
    assert server.wait_log("Protocol major versions differ")
    s = raw(server)
    s.sendall(b"SSH-1.99-compat\r\n")
    assert s.recv(64).startswith(b"SSH-2.0-whelk_")
    s.close()
    still_serves(server, keys)


def test_huge_packet_length(server, keys):
    s = raw(server)
    s.sendall(b"SSH-2.0-test\r\n" + b"\xff\xff\xff\xff" + b"\0" * 64)
    data = read_all(s)
    s.close()
    assert data.startswith(b"SSH-2.0-whelk_")
    assert server.wait_log("bad packet length")
    still_serves(server, keys)


class BitFlipProxy:
    """Forwards one connection, flipping a bit in the client's stream once
    enough bytes have passed for the keys to be in use."""

    def __init__(self, port, after=6000):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.target = port
        self.after = after
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.listener.settimeout(20)
        try:
            c, _ = self.listener.accept()
        except socket.timeout:
            return
        s = socket.create_connection(("127.0.0.1", self.target))
        passed = [0]
        flipped = [False]

        def pump(src, dst, flip):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if flip and not flipped[0] and passed[0] + len(data) > self.after:
                        i = max(0, self.after - passed[0])
                        data = data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1:]
                        flipped[0] = True
                    passed[0] += len(data) if flip else 0
                    dst.sendall(data)
            except OSError:
                pass
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(s, c, False), daemon=True)
        t.start()
        pump(c, s, True)
        t.join(5)
        c.close()
        s.close()


def test_corrupted_mac(server, keys):
    proxy = BitFlipProxy(server.port)
    args = server.ssh_args(keys["ed25519"], "-c", "aes128-ctr", "-m",
                           "hmac-sha2-256")
    args[args.index("-p") + 1] = str(proxy.port)
    # A command that sends data so the flipped byte lands in a packet.
    r = subprocess.run(args + ["cat > /dev/null"], input=b"x" * 200000,
                       capture_output=True, timeout=30)
    assert r.returncode != 0
    assert server.wait_log("message authentication code incorrect")
    still_serves(server, keys)


def test_rekey_keeps_data_in_order(whelkd, keys):
    """A rekey every 256 KiB during a 40 MiB upload and download: the data
    arrives byte-exact, so nothing was lost or reordered across a rekey."""
    import hashlib
    import os as _os
    s = whelkd()
    data = _os.urandom(40 << 20)
    # curve25519 keeps 300 rekeys cheap; test_pq.py rekeys with the hybrids.
    fast = ("-o", "RekeyLimit=256K", "-o", "KexAlgorithms=curve25519-sha256")
    r = s.ssh(keys["ed25519"], *fast, command="sha256sum",
              input=data, text=False, timeout=120)
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    r = s.ssh(keys["ed25519"], *fast,
              command="head -c 41943040 /dev/zero", text=False, timeout=120)
    assert r.stdout == b"\0" * (40 << 20)


def test_unreadable_or_encrypted_host_key(tmp_path, keys):
    from conftest import WHELKD
    enc = tmp_path / "enc_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass",
                    "-f", str(enc)], check=True)
    for path, why in ((str(enc), "encrypted"),
                      (str(tmp_path / "missing"), "No such file")):
        r = subprocess.run([WHELKD, "-e", "-p", "127.0.0.1:1", "-h", path],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1
        assert f"cannot load host key {path}" in r.stderr
        assert why in r.stderr


def test_unknown_message_answered_unimplemented(server, keys):
    import paramiko
    from conftest import USER
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", server.port, USER, key_filename=keys["ed25519"],
              look_for_keys=False, allow_agent=False, timeout=10)
    t = c.get_transport()
    got = []
    t._handler_table[3] = lambda _t, m: got.append(m.get_int())
    m = paramiko.Message()
    m.add_byte(bytes([200]))
    m.add_string("whatever")
    t._send_user_message(m)
    deadline = time.time() + 5
    while not got and time.time() < deadline:
        time.sleep(0.05)
    assert got, "no SSH_MSG_UNIMPLEMENTED"
    _, out, _ = c.exec_command("echo still")
    assert out.read() == b"still\n"
    c.close()
