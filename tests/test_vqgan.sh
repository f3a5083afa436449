#!/usr/bin/env bash
# The device VQGAN against upstream goldens: converts the tiny upstream checkpoints of tests/data/taming_vqgan
# (taming VQModel f16 and ruDALL-E's Gumbel f8) with tools/convert.py, f32 and f16, into BUILD_DIR/vqgan_test,
# and runs tests/test_vqgan.c on each (pixels within 1/255, encoder codes equal).
# Usage: tests/test_vqgan.sh BUILD_DIR. Needs /usr/bin/python3 with numpy; exit 77 (skipped) without it.
set -u
BUILD=$1
PY=/usr/bin/python3
DATA=tests/data/taming_vqgan
OUT=$BUILD/vqgan_test
if ! "$PY" -c "import numpy" 2>/dev/null; then
  echo "test_vqgan.sh: $PY with numpy is needed to convert the checkpoints; skipped"
  exit 77
fi
mkdir -p "$OUT"
rc=0
# name|resolution of the checkpoint (the converter cannot read it from the tensors)
for entry in vq_f16\|64 gumbel_f8\|32; do
  name=${entry%%|*} res=${entry#*|}
  for type in f32 f16; do
    model=$OUT/$name-$type.gguf
    if ! "$PY" tools/convert.py vqgan "$DATA/$name.ckpt" --resolution "$res" --type "$type" -o "$model" >/dev/null; then
      echo "FAIL convert $DATA/$name.ckpt --type $type"; rc=1; continue
    fi
    "$BUILD/tests/test_vqgan" "$model" "$DATA/$name.gguf" || rc=1
  done
done
exit $rc
