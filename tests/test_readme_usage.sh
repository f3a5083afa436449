#!/usr/bin/env bash
# README.md's usage block (the first fenced block after "## Usage") must be exactly what
# `dalle-vk --help` prints, so the README cannot drift from the command.
# Usage: tests/test_readme_usage.sh BUILD_DIR            compare (ctest: test_readme_usage)
#        tests/test_readme_usage.sh BUILD_DIR --update   rewrite the block from the live --help
set -euo pipefail
build=$1
readme=$(cd "$(dirname "$0")/.." && pwd)/README.md
help=$("$build/dalle-vk" --help)

# Prints README with the usage block's body replaced by the file $1 (or, without $1, only that body).
usage_block() {
  awk -v repl="${1:-}" '
    /^## Usage/ { in_sec = 1 }
    in_sec == 1 && /^```/ { if (repl == "") { in_sec = 2; next } print; while ((getline l < repl) > 0) print l; in_sec = 3; next }
    in_sec == 3 && /^```/ { in_sec = 4 }
    in_sec == 2 && /^```/ { exit }
    in_sec == 2 { print; next }
    in_sec == 3 { next }
    repl != "" { print }' "$readme"
}

if [ "${2:-}" = "--update" ]; then
  tmp=$(mktemp); trap 'rm -f "$tmp" "$tmp.md"' EXIT
  printf '%s\n' "$help" >"$tmp"
  usage_block "$tmp" >"$tmp.md" && cat "$tmp.md" >"$readme"
  echo "README.md: usage block rewritten from $build/dalle-vk --help"
  exit 0
fi
block=$(usage_block)
[ -n "$block" ] || { echo "test_readme_usage: README.md has no fenced block after '## Usage'" >&2; exit 1; }
if ! diff -u --label "README.md (## Usage)" --label "dalle-vk --help" <(printf '%s\n' "$block") \
     <(printf '%s\n' "$help"); then
  echo "test_readme_usage: README.md's usage block differs from dalle-vk --help;" \
       "refresh it with: tests/test_readme_usage.sh $build --update" >&2
  exit 1
fi
echo "test_readme_usage: README.md's usage block matches dalle-vk --help ($(printf '%s\n' "$help" | wc -l) lines)"
