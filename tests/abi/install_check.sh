#!/usr/bin/env bash
# install_check.sh: checks a `make install DESTDIR=$STAGE` copy the way a
# user of the installed library would use it: examples/tinyshell.c,
# copied out of the tree, built with nothing but pkg-config's flags, once
# against the shared library and once statically (--static, which needs
# Requires.private right). The interop test test_installed.py then runs
# the shared one against OpenSSH's ssh.
#
# Env: BUILD, STAGE (absolute), PREFIX, CC, SAN_FLAGS (a sanitizer build's
# flags: its libwhelk.so needs an instrumented program).
set -euo pipefail

pcdir="$STAGE$PREFIX/lib/pkgconfig"
out="$BUILD/outside"
rm -rf "$out"; mkdir -p "$out"
cp examples/tinyshell.c "$out/"
cd "$out"

# --define-prefix: prefix is taken from where the .pc file lies, so the
# flags point into the stage and not at $PREFIX.
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config --define-prefix "$@" libwhelk; }
cflags=$(pc --cflags)
case "$cflags" in
  *"-I$STAGE$PREFIX/include"*) ;;
  *) echo "install_check: cflags '$cflags' do not point into the stage"; exit 1 ;;
esac

# shellcheck disable=SC2086  # flags are words
$CC $SAN_FLAGS -Wall -Werror -o tinyshell tinyshell.c $cflags $(pc --libs)
readelf -d tinyshell | grep -q 'NEEDED.*\[libwhelk.so.0\]' || {
  echo "install_check: tinyshell does not use libwhelk.so.0"; exit 1; }

# The archive alone (-l:libwhelk.a; --as-needed drops nothing we use), with
# the private dependencies --static adds: without Requires.private this
# fails on libcrypto's symbols.
# shellcheck disable=SC2086
$CC $SAN_FLAGS -Wall -Werror -o tinyshell-static tinyshell.c $cflags \
    -Wl,--as-needed -L"$STAGE$PREFIX/lib" -l:libwhelk.a $(pc --static --libs)
if readelf -d tinyshell-static | grep -q 'NEEDED.*libwhelk'; then
  echo "install_check: tinyshell-static is not static in libwhelk"; exit 1
fi
echo "install_check: tinyshell built against $STAGE$PREFIX (shared and static)"
