#!/usr/bin/env bash
# Logs in to a server COUNT times in a row with OpenSSH's ssh, forcing one
# key exchange method, and counts the logins that did not run the command.
# The issue note for post-quantum key exchange records a 2,000-login run
# of each sntrup761 name; make check runs a short loop of the same script.
#
#   scripts/pq-login-loop.sh PORT KEX COUNT IDENTITY [USER]
#
# Prints "kex=KEX ok=N failed=M seconds=S"; exits 1 when M > 0.
set -u
if [ $# -lt 4 ]; then
  echo "usage: $0 PORT KEX COUNT IDENTITY [USER]" >&2
  exit 2
fi
port=$1 kex=$2 count=$3 identity=$4 user=${5:-$(id -un)}
ok=0 failed=0 start=$(date +%s.%N)
for ((i = 1; i <= count; i++)); do
  out=$(ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
        -o ConnectTimeout=10 -o LogLevel=ERROR -o "KexAlgorithms=$kex" \
        -i "$identity" -p "$port" "$user@127.0.0.1" "echo login-$i" 2>&1)
  if [ "$out" = "login-$i" ]; then
    ok=$((ok + 1))
  else
    failed=$((failed + 1))
    echo "login $i failed: $out" >&2
  fi
done
end=$(date +%s.%N)
awk -v k="$kex" -v o="$ok" -v f="$failed" -v s="$start" -v e="$end" \
  'BEGIN { printf "kex=%s ok=%d failed=%d seconds=%.1f\n", k, o, f, e - s }'
[ "$failed" -eq 0 ]
