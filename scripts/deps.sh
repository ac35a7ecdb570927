#!/usr/bin/env bash
# Installs every Debian package that whelk's build, tests, fuzzing and
# benchmarks use, and nothing that is already there. Safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential pkg-config clang libclang-rt-14-dev
  libssl-dev libuv1-dev libcrypt-dev libcmocka-dev
  openssh-client openssh-server openssh-sftp-server dropbear-bin
  openssl python3 python3-pytest python3-paramiko python3-asyncssh
  sshpass tmux fail2ban procps passwd valgrind putty-tools
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm run the JavaScript peers in tests/node (their npm
# packages come from the lockfile at test time). Machines here ship a
# Node.js build of their own; install Debian's only when there is none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
