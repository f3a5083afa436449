#!/usr/bin/env bash
# Builds dalle-vk with AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) into build-asan and
# runs the test suite (without the slow label, the pure-Python tool tests and the install check, whose programs
# are built without the sanitizers, and without test_e2e_emoji and test_page: the same host code as test_e2e and
# test_server with a larger model or a browser in front, minutes under the sanitizers for no new path), then one CLI
# generation, all with the Khronos validation layer. Any sanitizer report fails the run; LeakSanitizer
# reports inside the Vulkan loader, drivers and layers are suppressed by tests/lsan.supp (docs/design.md §8).
#
# Usage: scripts/sanitize.sh [extra ctest arguments, e.g. -R test_cli]
# Env: BUILD (default build-asan), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-asan}
JOBS=${JOBS:-2}

cmake -S . -B "$BUILD" -DDVK_SANITIZE=ON -DDVK_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$JOBS"

# exitcode=23: a leak or memory error is told apart from the CLI's own exit codes (1, 2), so the bad-input
# cases of test_cli fail when they leak.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

start=$(date +%s)
ctest --test-dir "$BUILD" -LE slow -E '^(test_python_tools|test_install|test_e2e_emoji|test_page)$' --output-on-failure "$@"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DVK_VALIDATION=1 "$BUILD/dalle-vk" --model tests/data/parity/g7-paper-schedule-f32.gguf "red heart" -n 3 --seed 1 \
  -q -o "$tmp/x.png"
echo "sanitize.sh: CLI generation clean"
echo "sanitize.sh: all clean in $(( $(date +%s) - start ))s"
