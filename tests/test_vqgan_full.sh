#!/usr/bin/env bash
# The device VQGAN at the released models' full sizes (256 px; tools/make_random_vqgan.py: the f16 config of
# taming / minDALL-E and ruDALL-E's Gumbel f8, random f16 weights, one res block per level instead of 2-3 to
# save time, no encoder) against the PyTorch reference (tools/dallevk/vqgan.py, float64 on the stored weights):
# pixels within 1/255 (tests/test_vqgan.c). Slow on lavapipe (minutes); ctest label "slow".
# Usage: tests/test_vqgan_full.sh BUILD_DIR. Needs /usr/bin/python3 with torch; exit 77 (skipped) without it.
set -u
BUILD=$1
PY=/usr/bin/python3
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
  echo "test_vqgan_full.sh: $PY with torch and numpy is needed; skipped"
  exit 77
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
rc=0
for config in f16 sber-f8; do
  "$PY" tools/make_random_vqgan.py "$OUT/$config.gguf" --config "$config" --num-res-blocks 0 --no-encoder \
    --goldens "$OUT/$config-goldens.gguf" >/dev/null || { echo "FAIL make_random_vqgan.py --config $config"; rc=1; continue; }
  "$BUILD/tests/test_vqgan" "$OUT/$config.gguf" "$OUT/$config-goldens.gguf" || rc=1
done
exit $rc
