#!/bin/sh
# tests/install_test.sh — `make test-install`: the installed library as a user meets it.
#  1. the shared libraries carry their SONAME and export only tg_ symbols (nm -D);
#  2. `make install DESTDIR=… PREFIX=…` stages headers, static and shared libraries, tg, and
#     tapegrad.pc / tapegrad64.pc whose paths are PREFIX's (not DESTDIR's);
#  3. tests/install/pkg_prog.c, copied out of the tree, builds with `pkg-config --cflags --libs`
#     against the staged copy (PKG_CONFIG_SYSROOT_DIR maps PREFIX into DESTDIR), float32 and
#     float64, shared (run with LD_LIBRARY_PATH) and static (the installed .a), and runs;
#  4. `make uninstall` with the same DESTDIR/PREFIX leaves no file behind.
# shellcheck disable=SC2046  # pkg-config output is meant to split into words
# Uses $CC (default cc), $MAKE (default make) and $B (default build).
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-cc}
MAKE=${MAKE:-make}
B=${B:-build}
VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
MAJOR=${VERSION%%.*}
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tg-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
checks=0
ok() { checks=$((checks + 1)); }

# 1. the built shared libraries
for lib in libtapegrad libtapegrad64; do
    so=$B/$lib.so.$VERSION
    [ -f "$so" ] || fail "$so not built (make shared)"
    soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "$lib.so.$MAJOR" ] || fail "$so: SONAME '$soname', expected $lib.so.$MAJOR"; ok
    [ "$(readlink "$B/$lib.so")" = "$lib.so.$MAJOR" ] || fail "$B/$lib.so does not link to $lib.so.$MAJOR"; ok
    exported=$(nm -D --defined-only "$so" | awk '{ print $NF }')
    [ "$(echo "$exported" | grep -c '^tg_')" -gt 100 ] || fail "$so exports few tg_ symbols"; ok
    others=$(echo "$exported" | grep -v '^tg_' || true)
    [ -z "$others" ] || fail "$so exports names without the tg_ prefix: $(echo $others | cut -c1-300)"; ok
done

# 2. a staged install
prefix=/opt/tapegrad-test
stage=$tmp/stage
$MAKE --no-print-directory -s install DESTDIR="$stage" PREFIX="$prefix" >/dev/null
root=$stage$prefix
for f in include/tapegrad/tapegrad.h include/tapegrad/graph/tensor.h include/tapegrad/ops/kernels/gemm.h \
         lib/libtapegrad.a lib/libtapegrad64.a lib/libtapegrad.so.$VERSION lib/libtapegrad64.so.$VERSION \
         lib/pkgconfig/tapegrad.pc lib/pkgconfig/tapegrad64.pc bin/tg bin/tg64; do
    [ -f "$root/$f" ] || fail "make install did not write $prefix/$f"; ok
done
for l in libtapegrad libtapegrad64; do
    [ "$(readlink "$root/lib/$l.so.$MAJOR")" = "$l.so.$VERSION" ] || fail "$l.so.$MAJOR link"; ok
    [ "$(readlink "$root/lib/$l.so")" = "$l.so.$MAJOR" ] || fail "$l.so link"; ok
done
grep -qx "prefix=$prefix" "$root/lib/pkgconfig/tapegrad.pc" || fail "tapegrad.pc does not say prefix=$prefix"; ok
if grep -q "$stage" "$root/lib/pkgconfig/tapegrad.pc" "$root/lib/pkgconfig/tapegrad64.pc"; then
    fail "a .pc file names the DESTDIR"
fi; ok

# 3. out-of-tree builds through pkg-config
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_LIBDIR=/nonexistent
mkdir "$tmp/user"
cp tests/install/pkg_prog.c "$tmp/user/"
[ "$(pkg-config --modversion tapegrad)" = "$VERSION" ] || fail "pkg-config --modversion tapegrad"; ok
pkg-config --cflags tapegrad64 | grep -q -- '-DTG_REAL_DOUBLE' || fail "tapegrad64.pc lacks -DTG_REAL_DOUBLE"; ok
if pkg-config --cflags tapegrad | grep -q -- '-DTG_REAL_DOUBLE'; then fail "tapegrad.pc has -DTG_REAL_DOUBLE"; fi; ok
for pc in tapegrad tapegrad64; do
    bits=32; [ $pc = tapegrad64 ] && bits=64
    lib=lib$pc
    (cd "$tmp/user" &&
     $CC -std=c11 -Wall -Wextra -Werror pkg_prog.c -o shared$bits $(pkg-config --cflags --libs $pc)) ||
        fail "building against the installed $pc (shared) failed"; ok
    readelf -d "$tmp/user/shared$bits" | grep -q "NEEDED.*\[$lib.so.$MAJOR\]" ||
        fail "shared$bits does not need $lib.so.$MAJOR"; ok
    out=$(LD_LIBRARY_PATH="$root/lib" "$tmp/user/shared$bits" $bits) || fail "shared$bits failed: $out"; ok
    echo "install_test: $pc shared: $out"
    libdir=$(pkg-config --variable=libdir $pc)   # pkgconf adds the sysroot here, pkg-config does not
    case $libdir in "$stage"/*) ;; *) libdir=$stage$libdir ;; esac
    (cd "$tmp/user" &&
     $CC -std=c11 -Wall -Wextra -Werror pkg_prog.c -o static$bits $(pkg-config --cflags $pc) \
         "$libdir/$lib.a" $(pkg-config --static --libs $pc | sed "s/-l$pc\( \|$\)/ /")) ||
        fail "building against the installed $pc (static) failed"; ok
    if readelf -d "$tmp/user/static$bits" | grep -q "NEEDED.*libtapegrad"; then fail "static$bits needs a shared tapegrad"; fi; ok
    out=$("$tmp/user/static$bits" $bits) || fail "static$bits failed: $out"; ok
    echo "install_test: $pc static: $out"
done
# float32 headers with the float64 library: the headers' link-time guard must refuse to link.
if (cd "$tmp/user" && $CC -std=c11 pkg_prog.c -o mixed $(pkg-config --cflags tapegrad) \
    $(pkg-config --libs tapegrad64)) > "$tmp/mixed.log" 2>&1; then
    fail "float32 headers linked against libtapegrad64 (the precision guard is gone)"
fi
grep -q 'tg_real_is_float32' "$tmp/mixed.log" || fail "mixed build failed for another reason: $(head -3 "$tmp/mixed.log")"; ok

# 4. uninstall
$MAKE --no-print-directory -s uninstall DESTDIR="$stage" PREFIX="$prefix" >/dev/null
left=$(find "$stage" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"; ok
echo "install_test: $checks checks passed"
