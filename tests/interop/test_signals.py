"""Channel "signal" requests (issue 12, item 5): sent with the user's
credentials, so a root process in the session's process group (here a
setuid-root helper that makes itself wholly root, as sudo does for its
command) is out of reach; refused, as sshd refuses them, on subsystem
and forced-command sessions."""

import asyncio
import os
import signal
import subprocess
import time

import asyncssh
import pytest
from asyncssh.packet import String

from conftest import USER
from accounts import user_name_lock

ROOT_HELPER = r"""
#include <signal.h>
#include <unistd.h>
/* Run by the user, setuid root: becomes root in every uid, as the
 * command sudo starts would be, and waits in the caller's process group. */
int main(void)
{
    if (setresuid(0, 0, 0) != 0) return 1;
    signal(SIGTERM, SIG_DFL);
    for (;;) pause();
}
"""


def connect(s, keys, user=USER, key="ed25519"):
    return asyncssh.connect("127.0.0.1", s.port, username=user,
                            client_keys=[keys[key]], known_hosts=None,
                            config=None)


async def signal_reply(proc, name):
    """Sends "signal" with want-reply: True for SUCCESS, False for
    FAILURE (asyncssh's send_signal asks for no reply)."""
    return await proc.channel._make_request(b"signal", String(name))


def process_state(pid):
    """The state letter of |pid| (R, S, Z...), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def real_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add a user")
def test_signal_sent_with_the_users_credentials(whelkd, keys, tmp_path):
    name = "wkc_sig"
    with user_name_lock(name):
        subprocess.run(["userdel", "-r", name], capture_output=True)
        hashed = subprocess.run(["openssl", "passwd", "-6", os.urandom(8).hex()],
                                capture_output=True, text=True,
                                check=True).stdout.strip()
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-p", hashed, name],
                       check=True)
        helper_pid = None
        try:
            home = f"/home/{name}"
            src = tmp_path / "rootsleep.c"
            src.write_text(ROOT_HELPER)
            helper = os.path.join(home, "rootsleep")
            subprocess.run(["cc", "-o", helper, str(src)], check=True)
            os.chown(helper, 0, 0)
            os.chmod(helper, 0o4755)
            s = whelkd()

            async def go():
                async with connect(s, keys, user=name) as conn:
                    # A non-interactive sh keeps background jobs in its own
                    # process group; the shell then becomes the sleep.
                    proc = await conn.create_process(
                        "./rootsleep </dev/null >/dev/null 2>&1 & "
                        "echo $! $$; exec sleep 100")
                    line = await asyncio.wait_for(proc.stdout.readline(), 10)
                    root_pid, leader = (int(x) for x in line.split())
                    nonlocal helper_pid
                    helper_pid = root_pid
                    deadline = time.time() + 10
                    while real_uid(root_pid) != 0:
                        assert time.time() < deadline, "helper did not become root"
                        await asyncio.sleep(0.05)
                    assert os.getpgid(root_pid) == leader
                    assert real_uid(leader) != 0
                    assert await signal_reply(proc, "TERM") is True
                    await asyncio.wait_for(proc.wait(), 10)
                    return proc.exit_signal, root_pid

            sig, root_pid = asyncio.run(go())
            # The user's program got it ...
            assert sig is not None and sig[0] == "TERM", sig
            # ... the root process in the same group did not.
            time.sleep(0.5)
            assert process_state(root_pid) not in (None, "Z"), s.log()[-2000:]
        finally:
            if helper_pid and process_state(helper_pid):
                os.kill(helper_pid, signal.SIGKILL)
            subprocess.run(["userdel", "-r", name], capture_output=True)


def test_signal_refused_on_subsystem_and_forced_command(whelkd, keys,
                                                        tmp_path):
    """A normal command takes the signal (SUCCESS, and it dies of it); a
    subsystem and a forced command refuse it (FAILURE) and run on."""
    ak = tmp_path / "ak_forced"
    with open(keys["ed25519"] + ".pub") as a, open(keys["ecdsa"] + ".pub") as b:
        ak.write_text(a.read() + 'command="exec sleep 100" ' + b.read())
    s = whelkd("-s", "slow=exec sleep 100", authorized_keys=str(ak))

    async def go():
        async with connect(s, keys) as conn:
            plain = await conn.create_process("exec sleep 100")
            sub = await conn.create_process(subsystem="slow")
            await asyncio.sleep(0.3)
            got = {"plain": await signal_reply(plain, "TERM"),
                   "subsystem": await signal_reply(sub, "TERM")}
            await asyncio.wait_for(plain.wait(), 10)
            got["plain_exit"] = plain.exit_signal
            await asyncio.sleep(0.3)
            got["subsystem_running"] = sub.exit_status is None and \
                sub.exit_signal is None
            sub.close()
        async with connect(s, keys, key="ecdsa") as conn:
            forced = await conn.create_process("anything")
            await asyncio.sleep(0.3)
            got["forced"] = await signal_reply(forced, "TERM")
            await asyncio.sleep(0.3)
            got["forced_running"] = forced.exit_status is None and \
                forced.exit_signal is None
            forced.close()
        return got

    got = asyncio.run(go())
    assert got["plain"] is True and got["plain_exit"][0] == "TERM", got
    assert got["subsystem"] is False and got["subsystem_running"], got
    assert got["forced"] is False and got["forced_running"], got
    log = s.log()
    assert "refusing to send signal TERM to subsystem session" in log, log
    assert "refusing to send signal TERM to forced-command session" in log, \
        log
