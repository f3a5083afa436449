#!/usr/bin/env bash
# The bart-bpe tokenizer of the file tools/convert.py dalle-mini writes for tests/data/min_dalle (min-dalle's own
# tiny vocabulary and merges, the installed emoji package's table) against min-dalle's ids (tokenizer.json), next to
# the committed fixture: tests/test_tokenizer_bart.c on both. The converted file goes to BUILD_DIR/bart_tokenizer
# and is removed after the run.
# Usage: tests/test_tokenizer_bart.sh BUILD_DIR. Needs /usr/bin/python3 with numpy and emoji; exit 77 (skipped)
# without them.
set -u
BUILD=$1
PY=/usr/bin/python3
"$PY" -c "import numpy, emoji" 2>/dev/null || { echo "test_tokenizer_bart.sh: $PY with numpy and emoji is needed; skipped"; exit 77; }
OUT=$BUILD/bart_tokenizer
mkdir -p "$OUT"
model=$OUT/min_dalle.gguf
if ! "$PY" tools/convert.py dalle-mini tests/data/min_dalle --n-heads 4 -o "$model" >/dev/null; then
  echo "FAIL convert dalle-mini tests/data/min_dalle"; exit 1
fi
"$BUILD/tests/test_tokenizer_bart" "$model" tests/data/tokenizer/bart/tokenizer.gguf
rc=$?
rm -f "$model"
exit $rc
