#!/usr/bin/env bash
# The engine on converted public checkpoints against the upstream projects' goldens: converts the tiny ruDALL-E
# (v3, v2) and minDALL-E checkpoints of tests/data/rudalle and tests/data/mindalle (made by the upstream model code,
# tests/data/README.md) with tools/convert.py, f32 and f16, into BUILD_DIR/public_test, then runs
# tests/test_parity.c on each (teacher-forced image logits, prefill + one decode step per code: relative error
# <= 1e-4 f32, 3e-3 f16) and tests/test_vqgan.c (VQGAN pixels of a code grid within 1/255).
# Usage: tests/test_public.sh BUILD_DIR. Needs /usr/bin/python3 with numpy; exit 77 (skipped) without it.
set -u
BUILD=$1
PY=/usr/bin/python3
"$PY" -c "import numpy, yaml" 2>/dev/null || { echo "test_public.sh: $PY with numpy and yaml is needed; skipped"; exit 77; }
RD=tests/data/rudalle MD=tests/data/mindalle OUT=$BUILD/public_test rc=0
mkdir -p "$OUT"
# name|goldens|convert arguments (the tiny ruDALL-E models have 4 heads: the file does not say)
for entry in "rudalle-v3|$RD/v3.gguf|rudalle $RD/v3.bin --version v3 --n-heads 4 --vqgan $RD/vqgan.ckpt --bpe $RD/bpe.model" \
             "rudalle-v2|$RD/v2.gguf|rudalle $RD/v2.bin --model Emojich --n-heads 4 --vqgan $RD/vqgan.ckpt --bpe $RD/bpe.model" \
             "mindalle|$MD/goldens.gguf|mindalle $MD/tiny"; do
  IFS='|' read -r name goldens args <<<"$entry"
  for type in f32 f16; do
    model=$OUT/$name-$type.gguf
    # shellcheck disable=SC2086  # args is a word list
    if ! "$PY" tools/convert.py $args --type "$type" -o "$model" >/dev/null; then
      echo "FAIL convert $name --type $type"; rc=1; continue
    fi
    "$BUILD/tests/test_parity" "$model" "$goldens" || rc=1
    "$BUILD/tests/test_vqgan" "$model" "$goldens" || rc=1
  done
done
exit $rc
