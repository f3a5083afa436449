#!/usr/bin/env bash
# The device VQGAN against upstream goldens: converts the tiny upstream checkpoints of tests/data/taming_vqgan
# (taming VQModel f16 and ruDALL-E's Gumbel f8) with tools/convert.py, f32 and f16, into BUILD_DIR/vqgan_test,
# and runs tests/test_vqgan.c on each (pixels within 1/255, encoder codes equal); then checks that a file with a
# tensor left out or misshaped is refused with a message naming the file and the tensor.
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
# Bad files: a tensor left out, a tensor misshaped -> load fails naming the file and the tensor.
src=$OUT/vq_f16-f32.gguf
"$PY" - "$src" "$OUT" <<'PYEOF' || { echo "FAIL writing the bad files"; rc=1; }
import sys
sys.path.insert(0, "tools")
from dallevk.gguf import GGUFReader, GGUFWriter, copy_fields
r = GGUFReader(sys.argv[1])
for out, drop, transpose in (("missing", "vqgan.dec.conv_out.weight", None),
                             ("misshaped", None, "vqgan.post_quant_conv.weight")):
    w = GGUFWriter()
    copy_fields(w, r)
    for name, t in r.tensors.items():
        if name != drop:
            w.add_tensor(name, t.data.transpose(1, 0, 2, 3) if name == transpose else t.data, "f32")
    w.write("%s/%s.gguf" % (sys.argv[2], out))
PYEOF
for bad in "missing|required tensor 'vqgan.dec.conv_out.weight' is missing" \
           "misshaped|tensor 'vqgan.post_quant_conv.weight' has shape [8, 16, 1, 1], expected [16, 8, 1, 1]"; do
  name=${bad%%|*} want=${bad#*|}
  if "$BUILD/tests/test_vqgan" "$OUT/$name.gguf" "$DATA/vq_f16.gguf" >"$OUT/$name.log" 2>&1; then
    echo "FAIL the $name file loaded"; rc=1
  elif ! grep -qF "$OUT/$name.gguf: $want" "$OUT/$name.log"; then
    echo "FAIL the $name file: expected '$want', got:"; cat "$OUT/$name.log"; rc=1
  else
    echo "PASS the $name file is refused: $want"
  fi
done
exit $rc
