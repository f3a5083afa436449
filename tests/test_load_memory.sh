#!/usr/bin/env bash
# Loading a real-size model (one layer of ruDALL-E Malevich's size: d_model 2048, text vocab 16384, 8192 codes;
# about 240 MB of random f16 weights, written once into BUILD_DIR/load_test by tools/bench_public_sizes.py):
# tests/test_load_memory.c says what it checks.
# Usage: tests/test_load_memory.sh BUILD_DIR. Needs /usr/bin/python3 with numpy; exit 77 (skipped) without it.
set -u
BUILD=$1
PY=/usr/bin/python3
if ! "$PY" -c "import numpy" 2>/dev/null; then
  echo "test_load_memory.sh: $PY with numpy is needed to write the model; skipped"
  exit 77
fi
PYTHONPATH=tools "$PY" tools/bench_public_sizes.py --model malevich --layers 1 --cache "$BUILD/load_test" --make-only \
  || exit 1
exec "$BUILD/tests/test_load_memory" "$BUILD/load_test/random-malevich-L1-f16.gguf"
