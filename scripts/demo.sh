#!/usr/bin/env bash
# make demo: keys made once under state/demo, then whelkd in the
# foreground on 127.0.0.1:2222 with the demo user key authorized, and the
# exact ssh command that logs in.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
state="$top/state/demo"
mkdir -p "$state"
chmod 700 "$state"
user=$(id -un)
if [ ! -f "$state/user_key" ]; then
  ssh-keygen -q -t ed25519 -N '' -C whelk-demo -f "$state/user_key"
fi
cp "$state/user_key.pub" "$state/authorized_keys"
chmod 600 "$state/authorized_keys"
port=${WHELK_DEMO_PORT:-2222}
# whelkd would create the host key in the state directory on first
# start (never with -t); make it now, where whelkd looks for it, so its
# fingerprint can be printed before the server runs.
if [ ! -f "$state/ssh_host_ed25519_key" ]; then
  ssh-keygen -q -t ed25519 -N '' -C whelk-demo-host \
    -f "$state/ssh_host_ed25519_key"
fi
fp=$(ssh-keygen -lf "$state/ssh_host_ed25519_key.pub")
cat <<MSG

whelk demo
  host key: $fp
  log in from another terminal with:

    ssh -p $port -i $state/user_key -o IdentitiesOnly=yes -o UserKnownHostsFile=$state/known_hosts -o StrictHostKeyChecking=accept-new $user@127.0.0.1

  stop the server with Ctrl-C.

MSG
exec ./build/whelkd -e -p "127.0.0.1:$port" -S "$state" -a "$state/authorized_keys"
