#!/usr/bin/env bash
# Full-size transformer checks (ctest label "slow"; a few minutes on 2 cores): tools/paper_check.py writes the
# models of one shape (paper, malevich, malevich-v2, minidalle, mini, mega) + PyTorch goldens, tests/test_paper.c
# compares the engine. With --break FIELD=VALUE the model files carry a wrong option and every case must fail its
# tolerance (the check can fail). With --also-break FIELD=VALUE one set of files serves both: the
# check must pass on the right files, then fail every case on copies with the option. Memory: paper ~6 GB, the
# public shapes ~2.5 GB, mega ~4 GB.
# Usage: tests/test_paper.sh BUILD_DIR [MODEL [--break | --also-break FIELD=VALUE]]. Exit 77 (skipped) without torch.
set -euo pipefail
build=$1
model=${2:-paper}
shift $(($# < 2 ? $# : 2))
py=/usr/bin/python3
if ! "$py" -c "import torch, numpy" 2>/dev/null; then
  echo "test_paper.sh: $py with torch and numpy is needed; skipped"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$py" tools/paper_check.py "$dir" --model "$model" "$@"
if [ $# -eq 0 ]; then
  exec "$build/tests/test_paper" "$dir"
fi
check=$dir
if [ "$1" = --also-break ]; then # the right files first, then the broken copies with the same goldens
  "$build/tests/test_paper" "$dir"
  check=$dir/broken
  mkdir "$check"
  cp "$dir/cases" "$check/"
  while read -r case; do
    ln -s "$dir/$case-golden.gguf" "$check/$case-golden.gguf"
    ln -s "$dir/$case-broken.gguf" "$check/$case.gguf"
  done <"$dir/cases"
fi
# A broken option: each case must load, run and fail on its error (not on a load or device error).
rc=0
"$build/tests/test_paper" "$check" | tee "$dir/log" || rc=$?
cases=$(wc -l <"$dir/cases")
failed=$(grep -c '^FAIL full-size .* err .* (tol' "$dir/log" || true)
if [ "$rc" -ne 0 ] && [ "$failed" -eq "$cases" ]; then
  echo "OK: with $* in the model files all $cases case(s) fail their tolerance"
  exit 0
fi
echo "FAIL: with $* in the model files $failed of $cases case(s) failed their tolerance (test_paper exit $rc)"
exit 1
