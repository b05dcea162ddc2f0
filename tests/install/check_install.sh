#!/usr/bin/env bash
# cmake --install into a temporary prefix, then: a consumer builds with find_package(loom) and
# with pkg-config, libloom.so exports only loom* symbols, and the installed tools run.
#   check_install.sh BUILD_DIR
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

lib=$(ls "$prefix"/lib*/libloom.so* | head -n 1)
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^loom' || true)
if [ -n "$bad" ]; then echo "libloom.so exports non-loom symbols:"; echo "$bad" | head; exit 1; fi
echo "exports: $(nm -D --defined-only "$lib" | grep -c ' T loom') loom* functions, nothing else"

mkdir -p "$work/consumer"
cat >"$work/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(loom REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE loom::loom)
CM
cat >"$work/consumer/main.c" <<'C'
#include <loom/loom.h>
#include <stdio.h>
int main(void) {
  loomComm_t comm;
  if (loomCommInitAll(&comm, 1) != loomSuccess) return 1;
  int x[4] = {1, 2, 3, 4}, y[4];
  if (loomAllReduce(x, y, 4, loomInt32, loomSum, comm, NULL) != loomSuccess || y[3] != 4) return 2;
  loomCommDestroy(comm);
  int v;
  loomGetVersion(&v);
  printf("consumer ok, loom %d\n", v);
  return 0;
}
C
cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer/build" >/dev/null
LD_LIBRARY_PATH=$(dirname "$lib") "$work/consumer/build/consumer"

pc=$(dirname "$(find "$prefix" -name loom.pc | head -n 1)")
flags=$(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs loom)
cc "$work/consumer/main.c" $flags -o "$work/consumer/pc_consumer"
LD_LIBRARY_PATH=$(dirname "$lib") "$work/consumer/pc_consumer"

"$prefix/bin/loomrun" --help >/dev/null
"$prefix/bin/loom" --list-params >/dev/null
"$prefix/bin/loom" version
echo "install check passed"
