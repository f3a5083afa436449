#!/usr/bin/env bash
# q8_0 weights at model level: writes the default model (assets/dalle-emoji.gguf, f16) again as q8_0 with
# tools/export_gguf.py --from-gguf into BUILD_DIR/q8_test, then runs tests/test_q8_model.c on the pair (logit
# error and argmax agreement along sampled code paths, dVAE pixels). Extra arguments go to test_q8_model
# (CAPTIONS, --seed N). Usage: tests/test_q8_model.sh BUILD_DIR [CAPTIONS] [--seed N].
# Exit 77 (skipped) without the default model or without /usr/bin/python3 with numpy.
set -u
BUILD=$1; shift
PY=/usr/bin/python3
REF=assets/dalle-emoji.gguf
OUT=$BUILD/q8_test
if [ ! -f "$REF" ]; then echo "test_q8_model.sh: $REF not found; skipped"; exit 77; fi
if ! "$PY" -c "import numpy" 2>/dev/null; then echo "test_q8_model.sh: $PY with numpy is needed; skipped"; exit 77; fi
mkdir -p "$OUT"
"$PY" tools/export_gguf.py --from-gguf "$REF" --type q8_0 -o "$OUT/emoji-q8_0.gguf" || exit 1
echo "sizes: $(stat -c %s "$REF") bytes f16, $(stat -c %s "$OUT/emoji-q8_0.gguf") bytes q8_0"
exec "$BUILD/tests/test_q8_model" "$REF" "$OUT/emoji-q8_0.gguf" "$@"
