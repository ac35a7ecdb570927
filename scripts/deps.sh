#!/usr/bin/env bash
# scripts/deps.sh [GROUP...]: installs the Debian packages of the groups
# named (default: all of them) that are not installed yet.
#
#   build  compile whelk and run `make demo`
#   test   `make check`: unit, constant-time and interop tests
#   fuzz   `make fuzz` (clang's libFuzzer)
#   bench  `make bench`
#
# The Makefile runs it before anything else (`build` for make and make
# demo, `build test` for make check), so this is the one list. It prints
# nothing when nothing is missing (one dpkg-query call). Otherwise it
# installs with apt-get, as root directly or else through sudo, after one
# line naming the packages (on stderr); when it cannot (no root, no sudo,
# apt-get failing), it exits 1 with one line on stdout naming them and the
# command to run, which make prints as its error.
set -euo pipefail

declare -A group=(
  [build]="build-essential pkg-config libssl-dev libuv1-dev libcrypt-dev
           libpam0g-dev libpam-modules libpam-runtime
           openssh-client openssh-sftp-server"
  [test]="libcmocka-dev valgrind python3 python3-pytest python3-paramiko
          python3-asyncssh python3-twisted openssh-server dropbear-bin
          putty-tools sshpass tmux fail2ban procps passwd openssl systemd
          xvfb x11-utils xauth groff-base binutils curl"
  [fuzz]="clang libclang-rt-14-dev"
  [bench]="openssh-server dropbear-bin procps passwd python3 openssl"
)

wanted=()
for g in "${@:-build test fuzz bench}"; do
  for name in $g; do
    if [ -z "${group[$name]+set}" ]; then
      echo "usage: scripts/deps.sh [build|test|fuzz|bench]..." >&2
      exit 2
    fi
    read -r -a pkgs <<<"${group[$name]//$'\n'/ }"
    wanted+=("${pkgs[@]}")
  done
done

# One query for all: dpkg-query lists the ones it knows, the rest are
# missing too.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
              "${wanted[@]}" 2>/dev/null | awk '$2 == "installed" {print $1}' \
              || true)
missing=()
for p in "${wanted[@]}"; do
  case " ${missing[*]} " in *" $p "*) continue ;; esac
  grep -qx -- "$p" <<<"$installed" || missing+=("$p")
done

# Node.js and npm run the JavaScript peers of the tests (tests/node; their
# npm packages come from its lockfile at test time). A machine may have a
# Node.js of its own; Debian's is installed only when there is none.
case " $* " in
  "  " | *" test "*)
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
    then
      missing+=(nodejs npm)
    fi ;;
esac

[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
give_up() {
  echo "deps: cannot install ${missing[*]} ($1); as root run:" \
       "apt-get update && ${install[*]}"
  exit 1
}

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || give_up "not root and no sudo"
  # A password prompt needs a terminal; without one, only password-less
  # sudo can work.
  if ! sudo -n true 2>/dev/null; then
    [ -t 0 ] || give_up "sudo needs a password and there is no terminal"
    echo "deps: sudo is needed to install ${missing[*]}" >&2
    sudo -v || give_up "sudo refused"
  fi
  as_root=(sudo)
fi

log=$(mktemp "${TMPDIR:-/tmp}/whelk-deps.XXXXXX")
echo "deps: installing ${missing[*]}" >&2
apt_env=(env DEBIAN_FRONTEND=noninteractive)
if "${as_root[@]}" "${apt_env[@]}" apt-get update -q >"$log" 2>&1 &&
   "${as_root[@]}" "${apt_env[@]}" "${install[@]}" >>"$log" 2>&1; then
  rm -f "$log"
else
  give_up "apt-get failed, its output is in $log"
fi
