#!/usr/bin/env bash
# Installs the build into a temporary prefix and checks the installed library as another program sees it:
#   - libdallevk.so carries the SONAME libdallevk.so.MAJOR.MINOR and exports only functions that the
#     installed public headers declare;
#   - examples/generate.c builds against the installed copy with pkg-config and with find_package(dallevk),
#     and both programs write the same image as the in-tree build of the example (a small test model, seed 42;
#     the shipped model's 32 candidates would triple the test's time for no other path);
#   - the installed dalle-vk prints the project version, finds the installed model and writes the same PNG
#     bytes as build/dalle-vk.
# Usage: tests/test_install.sh BUILD_DIR VERSION   (ctest: test_install)
set -euo pipefail
build=$(cd "$1" && pwd)
version=$2
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "test_install: FAIL: $*" >&2; exit 1; }
# True when program $1 resolves libdallevk to the installed file (ldd may print it as .../bin/../lib/...).
loads_installed() {
  local got
  got=$(ldd "$1" | awk '$1 ~ /^libdallevk[.]so/ {print $3}')
  [ -n "$got" ] && [ "$(realpath "$got")" = "$(realpath "$libdir/$soname")" ]
}

cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(find "$prefix" -name libdallevk.so -print -quit)
pc=$(find "$prefix" -name dallevk.pc -print -quit)
[ -n "$lib" ] || fail "no libdallevk.so under $prefix"
[ -n "$pc" ] || fail "no dallevk.pc under $prefix"
libdir=$(dirname "$lib")
for h in dallevk.h dallevk_status.h dallevk_version.h; do
  [ -f "$prefix/include/$h" ] || fail "header $h not installed"
done

soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
want_soname=libdallevk.so.$(echo "$version" | cut -d. -f1-2)
[ "$soname" = "$want_soname" ] || fail "SONAME is '$soname', expected $want_soname"
[ -e "$libdir/$soname" ] || fail "$libdir/$soname (the SONAME link) is missing"

# Every exported function is declared in an installed public header, and there are some.
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}')
[ -n "$exported" ] || fail "libdallevk.so exports no functions"
for f in $exported; do
  grep -q "[ *]$f(" "$prefix"/include/dallevk*.h || fail "exported symbol $f is not in the public headers"
done
grep -q "^#define DVK_VERSION \"$version\"$" "$prefix/include/dallevk_version.h" ||
  fail "dallevk_version.h does not say DVK_VERSION \"$version\""

# 1. pkg-config
export PKG_CONFIG_PATH=$(dirname "$pc")
[ "$(pkg-config --modversion dallevk)" = "$version" ] || fail "pkg-config --modversion is not $version"
mkdir "$tmp/pc"
# shellcheck disable=SC2046  # the flags are meant to split into words
cc -std=c11 -Wall -Wextra -Werror "$src/examples/generate.c" $(pkg-config --cflags --libs dallevk) \
  -Wl,-rpath,"$libdir" -o "$tmp/pc/generate"
# 2. CMake package
cmake -S "$src/tests/install" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DDVK_EXAMPLE="$src/examples/generate.c" \
  -DDVK_WANT_VERSION="$version" >/dev/null
cmake --build "$tmp/cmake" >/dev/null

[ -f "$prefix/share/dalle-vk/dalle-emoji.gguf" ] || fail "the default model is not installed in $prefix/share/dalle-vk"
model=$src/tests/data/parity/g7-paper-schedule-f32.gguf
mkdir "$tmp/tree"
for dir in pc cmake tree; do
  exe=$tmp/$dir/generate
  [ "$dir" = tree ] && exe=$build/example_generate
  if [ "$dir" != tree ]; then
    loads_installed "$exe" || { ldd "$exe"; fail "$dir: the program does not load the installed $libdir/$soname"; }
  fi
  (cd "$tmp/$dir" && "$exe" "$model" "red heart" 1 2>"$tmp/$dir.log") || { cat "$tmp/$dir.log"; fail "$dir: generate failed"; }
  [ "$(head -c 2 "$tmp/$dir/image-0.ppm")" = "P6" ] || fail "$dir: image-0.ppm is not a PPM"
done
cmp "$tmp/pc/image-0.ppm" "$tmp/tree/image-0.ppm" || fail "pkg-config build: a different image than the in-tree example"
cmp "$tmp/cmake/image-0.ppm" "$tmp/tree/image-0.ppm" || fail "find_package build: a different image than the in-tree example"

# 3. The installed command, run away from the source tree: version, model lookup, same bytes.
loads_installed "$prefix/bin/dalle-vk" || fail "the installed dalle-vk does not load the installed library (RUNPATH)"
[ "$(cd "$tmp" && "$prefix/bin/dalle-vk" --version)" = "dalle-vk $version" ] || fail "installed dalle-vk --version"
(cd "$tmp" && env -u DVK_MODEL "$prefix/bin/dalle-vk" "red heart" --candidates 1 --seed 3 -q -o "$tmp/installed.png")
(cd "$tmp" && env -u DVK_MODEL "$build/dalle-vk" "red heart" --candidates 1 --seed 3 -q -o "$tmp/tree.png")
cmp "$tmp/installed.png" "$tmp/tree.png" || fail "the installed dalle-vk writes other bytes than build/dalle-vk"
echo "test_install: ok ($prefix: libdallevk $version, SONAME $soname, $(echo "$exported" | wc -w) exported functions)"
