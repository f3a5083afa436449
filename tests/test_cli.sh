#!/usr/bin/env bash
# The dalle-vk command end to end on a small test model: a PNG of the right size, the same PNG bytes for
# the same seed, and every bad input with its message, exit code and no file left behind.
# Usage: tests/test_cli.sh BUILD_DIR (ctest passes it).
set -u
BIN="$1/dalle-vk"
DATA="${DVK_TEST_DATA:-tests/data}"
MODEL="$DATA/parity/g5-row-col-convwrap-f32.gguf"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0

# expect NAME EXIT_CODE MESSAGE_SUBSTRING -- ARGS... : runs the command, checks code + stderr, and that
# no PNG (nor temporary file) is left in $TMP/out.
expect() {
  local name=$1 code=$2 msg=$3; shift 4
  rm -rf "$TMP/out"; mkdir -p "$TMP/out"
  "$BIN" "$@" >"$TMP/stdout" 2>"$TMP/stderr"; local rc=$?
  local left; left=$(ls -A "$TMP/out")
  if [ "$rc" = "$code" ] && grep -qF -- "$msg" "$TMP/stderr" && [ -z "$left" ]; then
    pass=$((pass + 1)); echo "PASS $name (exit $rc)"
  else
    fail=$((fail + 1)); echo "FAIL $name: exit $rc (want $code), files left: '$left', stderr:"; sed 's/^/     /' "$TMP/stderr"
  fi
}

# --- success: PNG of the expected size, deterministic bytes for a fixed seed ---
"$BIN" --model "$MODEL" "red heart" -n 3 --seed 7 -q -o "$TMP/a.png" && "$BIN" --model "$MODEL" "red heart" -n 3 --seed 7 -q -o "$TMP/b.png"
if cmp -s "$TMP/a.png" "$TMP/b.png" && [ "$(head -c 8 "$TMP/a.png" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ]; then
  pass=$((pass + 1)); echo "PASS same seed -> identical PNG bytes"
else fail=$((fail + 1)); echo "FAIL same seed -> identical PNG bytes"; fi
# grid of 3 images of 10x10 with 2-pixel gutters: 2 columns x 2 rows -> 22 x 22
wh=$(od -An -tu1 -j16 -N8 "$TMP/a.png" | awk '{print $3*256+$4 "x" $7*256+$8}')
if [ "$wh" = "22x22" ]; then pass=$((pass + 1)); echo "PASS grid PNG is 22x22"; else fail=$((fail + 1)); echo "FAIL grid PNG is $wh, want 22x22"; fi
"$BIN" --model "$MODEL" "red heart" -n 2 --separate --seed 1 -q -o "$TMP/s.png"
if [ -f "$TMP/s-0.png" ] && [ -f "$TMP/s-1.png" ]; then pass=$((pass + 1)); echo "PASS --separate writes s-0.png, s-1.png"; else fail=$((fail + 1)); echo "FAIL --separate"; fi
"$BIN" --model "$MODEL" "" --seed 1 -o "$TMP/u.png" 2>"$TMP/stderr" >/dev/null
if grep -q "unconditionally" "$TMP/stderr" && [ -f "$TMP/u.png" ]; then pass=$((pass + 1)); echo "PASS empty prompt is unconditional and says so"; else fail=$((fail + 1)); echo "FAIL empty prompt"; fi
"$BIN" --model "$MODEL" "a very long prompt with many more words than seven tokens" --seed 1 -o "$TMP/l.png" 2>"$TMP/stderr" >/dev/null
if grep -q "tokens were dropped" "$TMP/stderr"; then pass=$((pass + 1)); echo "PASS long prompt warns about dropped tokens"; else fail=$((fail + 1)); echo "FAIL long prompt warning"; fi

# Reranking: a model with a reranker samples max(N, 32) candidates by default and keeps the N best; the
# kept images are the same as when those candidates are written without reranking.
RMODEL="$DATA/parity/g6-full-convclamp-f32.gguf"
"$BIN" --model "$RMODEL" "red heart" -n 2 --seed 3 -v -o "$TMP/r.png" 2>"$TMP/stderr" >/dev/null
if grep -q "reranked 32 candidates in .*, kept 2:" "$TMP/stderr" && [ -f "$TMP/r.png" ]; then
  pass=$((pass + 1)); echo "PASS reranking by default (32 candidates, kept 2)"
else fail=$((fail + 1)); echo "FAIL default reranking"; sed 's/^/     /' "$TMP/stderr"; fi
best=$("$BIN" --model "$RMODEL" "red heart" -n 1 --candidates 5 --seed 3 -v -o "$TMP/r1.png" 2>&1 >/dev/null |
       sed -n 's/.*kept 1: #\([0-9]*\).*/\1/p')
"$BIN" --model "$RMODEL" "red heart" -n 5 --candidates 5 --separate --seed 3 -q -o "$TMP/all.png"
"$BIN" --model "$RMODEL" "red heart" -n 1 --candidates 5 --separate --seed 3 -q -o "$TMP/one.png"
if [ -n "$best" ] && cmp -s "$TMP/one-0.png" "$TMP/all-$best.png"; then
  pass=$((pass + 1)); echo "PASS --candidates 5 -n 1 keeps candidate #$best, byte-identical to it unreranked"
else fail=$((fail + 1)); echo "FAIL --candidates: kept '$best' does not match"; fi

# Ctrl-C during generation: exit 130, "interrupted; nothing written", no PNG or temporary file left.
rm -rf "$TMP/int"; mkdir -p "$TMP/int"
"$BIN" --model "$DATA/parity/g7-paper-schedule-f32.gguf" "x" -n 1000 -o "$TMP/int/x.png" 2>"$TMP/stderr" >/dev/null &
pid=$!
for _ in $(seq 50); do grep -q "progress:" "$TMP/stderr" && break; sleep 0.1; done  # generation has started
kill -INT "$pid"; wait "$pid"; rc=$?
if [ "$rc" = 130 ] && grep -q "interrupted; nothing written" "$TMP/stderr" && [ -z "$(ls -A "$TMP/int")" ]; then
  pass=$((pass + 1)); echo "PASS Ctrl-C stops cleanly (exit 130, nothing written)"
else fail=$((fail + 1)); echo "FAIL Ctrl-C: exit $rc, files: $(ls -A "$TMP/int")"; sed 's/^/     /' "$TMP/stderr"; fi
# Ctrl-C while the images decode (seconds for this many images): the same, with the dVAE and with the VQGAN.
for mn in "g6-full-convclamp-f32 1000" "g7-paper-schedule-vqgan-f16 200"; do
  set -- $mn
  rm -rf "$TMP/int"; mkdir -p "$TMP/int"
  "$BIN" --model "$DATA/parity/$1.gguf" "x" -n "$2" -o "$TMP/int/x.png" 2>"$TMP/stderr" >/dev/null &
  pid=$!
  for _ in $(seq 300); do grep -q "decoding the images" "$TMP/stderr" && break; sleep 0.1; done
  kill -INT "$pid"; wait "$pid"; rc=$?
  if [ "$rc" = 130 ] && grep -q "interrupted; nothing written" "$TMP/stderr" && [ -z "$(ls -A "$TMP/int")" ]; then
    pass=$((pass + 1)); echo "PASS Ctrl-C while decoding ($1) stops cleanly (exit 130, nothing written)"
  else fail=$((fail + 1)); echo "FAIL Ctrl-C while decoding ($1): exit $rc, files: $(ls -A "$TMP/int")"; sed 's/^/     /' "$TMP/stderr"; fi
done

# -v with --preview: the previews' time on its own ("previews"), outside the decode and image decoder times.
"$BIN" --model "$MODEL" "red heart" --seed 1 -v --preview "$TMP/p.png" -o "$TMP/pv.png" 2>"$TMP/stderr" >/dev/null
"$BIN" --model "$MODEL" "red heart" --seed 1 -v -o "$TMP/nopv.png" 2>"$TMP/stderr2" >/dev/null
if grep -q "image decoder [0-9.]*s, previews [0-9.]*s$" "$TMP/stderr" && ! grep -q "previews" "$TMP/stderr2" &&
   cmp -s "$TMP/pv.png" "$TMP/nopv.png"; then
  pass=$((pass + 1)); echo "PASS -v --preview prints the previews' time apart; the PNG is unchanged"
else fail=$((fail + 1)); echo "FAIL -v --preview timings:"; sed 's/^/     /' "$TMP/stderr" "$TMP/stderr2"; fi

# --- bad input ---
O="$TMP/out/x.png"
printf '' > "$TMP/empty.gguf"
head -c 1000 "$MODEL" > "$TMP/trunc.gguf"
printf 'this is not a model file at all' > "$TMP/text.gguf"
expect "missing model" 1 "cannot open" -- --model "$TMP/none.gguf" "x" -o "$O"
expect "empty model" 1 "cannot load model" -- --model "$TMP/empty.gguf" "x" -o "$O"
expect "truncated model" 1 "cannot load model" -- --model "$TMP/trunc.gguf" "x" -o "$O"
expect "non-GGUF model" 1 "magic" -- --model "$TMP/text.gguf" "x" -o "$O"
# Well-formed copies of the default model with one metadata value overwritten: the loader names the key and
# what is allowed. patched NAME KEY VALUE_BYTES MESSAGE: VALUE_BYTES (printf escapes) replace the value that
# follows KEY and its 4-byte type id.
DEFAULT_MODEL="$(dirname "$0")/../assets/dalle-emoji.gguf"
patched() {
  cp "$DEFAULT_MODEL" "$TMP/patched.gguf"
  local off
  off=$(grep -obUaF "$2" "$TMP/patched.gguf" | head -1 | cut -d: -f1)
  if [ -n "$off" ]; then
    printf "$3" | dd of="$TMP/patched.gguf" bs=1 seek=$((off + ${#2} + 4)) conv=notrunc status=none
    expect "$1" 1 "$4" -- --model "$TMP/patched.gguf" "x" -o "$O"
  else fail=$((fail + 1)); echo "FAIL $DEFAULT_MODEL has no $2 key to corrupt"; fi
  rm -f "$TMP/patched.gguf"
}
patched "model's dalle.top_p out of range" dalle.top_p '\x00\x00\xc0\x3f' "dalle.top_p must be in (0, 1]"  # f32 1.5
# uint64 bit 15: the last row of a 16-row grid, which cannot be pruned after
patched "model's clip.prune_rows past the grid" clip.prune_rows '\x00\x80\x00\x00\x00\x00\x00\x00' \
  "clip.prune_rows names a row past grid - 2"

# The model file may recommend its candidate count (clip.candidates) and its top-k (dalle.top_k): a copy of the
# reranker model with the key uses it by default; out-of-range values are rejected. Needs numpy for the GGUF
# writer (tools/dallevk/gguf.py).
with_key() { # KEY N OUT: the reranker model with the uint32 KEY = N
  PYTHONPATH=tools /usr/bin/python3 - "$RMODEL" "$1" "$2" "$3" <<'PY'
import sys
from dallevk.gguf import GGUFReader, GGUFWriter, GGUFValueType as T
r, w = GGUFReader(sys.argv[1]), GGUFWriter()
for k, f in r.fields.items():
    if k == "general.alignment": continue
    if f.type == T.STRING: w.add_string(k, f.value)
    elif f.type == T.ARRAY: w.add_array(k, f.value, f.elem_type)
    else: w.add_scalar(k, f.value, f.type)
w.add_uint32(sys.argv[2], int(sys.argv[3]))
for n, t in r.tensors.items(): w.add_tensor(n, t.data, "f16" if t.type == 1 else "f32")
w.write(sys.argv[4])
PY
}
if with_key clip.candidates 3 "$TMP/c3.gguf" 2>"$TMP/stderr" && with_key clip.candidates 0 "$TMP/c0.gguf" 2>>"$TMP/stderr" &&
   with_key dalle.top_k 7 "$TMP/k7.gguf" 2>>"$TMP/stderr" && with_key dalle.top_k 0 "$TMP/k0.gguf" 2>>"$TMP/stderr"; then
  "$BIN" --model "$TMP/c3.gguf" "red heart" -n 1 --seed 3 -v -o "$TMP/c3.png" 2>"$TMP/stderr" >/dev/null
  if grep -q "candidates: 3 sampled (the model's), 1 kept" "$TMP/stderr"; then
    pass=$((pass + 1)); echo "PASS the model's clip.candidates sets the default candidate count"
  else fail=$((fail + 1)); echo "FAIL clip.candidates = 3:"; sed 's/^/     /' "$TMP/stderr"; fi
  expect "model's clip.candidates zero" 1 "clip.candidates must be 1..4096" -- --model "$TMP/c0.gguf" "x" -o "$O"
  for k in "" 3 0; do # the model's 7; the caller's 3; 0 = all
    "$BIN" --model "$TMP/k7.gguf" "red heart" -n 1 --candidates 1 --seed 3 ${k:+--top-k $k} -v -o "$TMP/k7.png" \
      2>"$TMP/stderr" >/dev/null
    want="top-k ${k:-7},"
    if grep -q "sampling: .*$want" "$TMP/stderr"; then
      pass=$((pass + 1)); echo "PASS dalle.top_k = 7 with --top-k '$k' samples with $want"
    else fail=$((fail + 1)); echo "FAIL dalle.top_k = 7, --top-k '$k': want '$want' in:"; sed 's/^/     /' "$TMP/stderr"; fi
  done
  expect "model's dalle.top_k zero" 1 "dalle.top_k must be in 1..dalle.image_vocab" -- --model "$TMP/k0.gguf" "x" -o "$O"
else echo "NOT RUN clip.candidates and dalle.top_k (no numpy for tools/dallevk/gguf.py)"; sed 's/^/     /' "$TMP/stderr"; fi

# The model's recommended decoding (dalle.decoding, beam_width, beam_sampled_rows; export_gguf.py --from-gguf)
if /usr/bin/python3 tools/export_gguf.py --from-gguf "$RMODEL" --type f32 --decoding beam --beam-width 3 \
     --beam-sampled-rows 1 -o "$TMP/beam.gguf" >/dev/null 2>"$TMP/stderr" &&
   with_key dalle.beam_width 0 "$TMP/w0.gguf" 2>>"$TMP/stderr"; then
  for flags in "" "--decoding sample"; do
    "$BIN" --model "$TMP/beam.gguf" "red heart" --seed 3 $flags -v -o "$TMP/beam.png" 2>"$TMP/stderr" >/dev/null
    if [ -z "$flags" ]; then want="candidates: 3 searched (the model's), 1 kept.*beam search (the model's) of width 3, .*sampled rows first: 1 (the model's)"
    else want="candidates: 32 sampled (the default), 1 kept.*sampling: temperature"; fi
    if tr '\n' ' ' <"$TMP/stderr" | grep -q "$want"; then
      pass=$((pass + 1)); echo "PASS dalle.decoding beam with '$flags': $want"
    else fail=$((fail + 1)); echo "FAIL dalle.decoding beam with '$flags': want '$want' in:"; sed 's/^/     /' "$TMP/stderr"; fi
  done
  expect "model's dalle.beam_width zero" 1 "dalle.beam_width must be 1..dalle.image_vocab" -- --model "$TMP/w0.gguf" "x" -o "$O"
else echo "NOT RUN the model's decoding (no numpy for tools/dallevk/gguf.py)"; sed 's/^/     /' "$TMP/stderr"; fi

# Architecture options (docs/model-format.md §2): copies of the ruDALL-E-v3-like parity model with one key set to a
# bad value, or an optional tensor its options need left out, are refused naming the file and the key or tensor.
# bad_option NAME MESSAGE KEY TYPE VALUE [TENSOR_TO_DROP]   (KEY "-": no key changed)
OMODEL="$DATA/parity/r3-rudalle-v3-like-f32.gguf"
bad_option() {
  if PYTHONPATH=tools /usr/bin/python3 - "$OMODEL" "$TMP/opt.gguf" "$3" "$4" "$5" "${6:-}" <<'PY' 2>"$TMP/stderr"
import sys
from dallevk.gguf import GGUFReader, GGUFWriter, GGUFValueType as T, copy_fields
src, out, key, typ, val, drop = sys.argv[1:]
r, w = GGUFReader(src), GGUFWriter()
copy_fields(w, r, keep=lambda k: k not in (key, "general.alignment"))
if key != "-":
    w.add_scalar(key, {"STRING": str, "FLOAT32": float, "BOOL": lambda v: v == "true"}.get(typ, int)(val), getattr(T, typ))
for n, t in r.tensors.items():
    if n != drop:
        w.add_tensor(n, t.data, "f16" if t.type == 1 else "f32")
w.write(out)
PY
  then expect "$1" 1 "$TMP/opt.gguf: $2" -- --model "$TMP/opt.gguf" "x" -o "$O"
  else echo "NOT RUN $1 (no numpy for tools/dallevk/gguf.py)"; sed 's/^/     /' "$TMP/stderr"; fi
}
bad_option "dalle.gelu unknown" 'dalle.gelu must be "erf" or "tanh" (got "relu")' dalle.gelu STRING relu
bad_option "dalle.norm unknown" 'dalle.norm must be "pre" or "sandwich"' dalle.norm STRING post
bad_option "dalle.image_pos unknown" 'dalle.image_pos must be "axial" or "linear"' dalle.image_pos STRING 2d
bad_option "dalle.final_norms 3" "dalle.final_norms must be 1 or 2" dalle.final_norms UINT32 3
bad_option "dalle.attn_out_clamp negative" "dalle.attn_out_clamp must be a finite number > 0" dalle.attn_out_clamp FLOAT32 -1
bad_option "dalle.mask_image0 too early" "dalle.mask_image0 must be image0 - 1" dalle.mask_image0 UINT32 6
bad_option "sandwich without its post-LN" "required tensor 'blk.1.mlp.post_ln.b' is missing" - - - blk.1.mlp.post_ln.b
bad_option "start token without its tensor" "required tensor 'image_start' is missing" dalle.image_start BOOL true
bad_option "dalle.layout unknown" 'dalle.layout must be "decoder-only" or "encoder-decoder" (got "seq2seq")' \
  dalle.layout STRING seq2seq
bad_option "encoder-decoder layout without its keys" "key 'dalle.enc_layers' is missing" dalle.layout STRING encoder-decoder
bad_option "pad id in a decoder-only file" "dalle.text_pad_id is only for dalle.layout" dalle.text_pad_id UINT32 1
bad_option "GLU in a decoder-only file" 'dalle.mlp must be "glu" in an encoder-decoder file' dalle.mlp STRING glu
expect "output is a directory" 1 "is a directory" -- --model "$MODEL" "x" -o "$TMP/out"
expect "output dir missing" 1 "does not exist" -- --model "$MODEL" "x" -o "$TMP/out/nodir/x.png"
mkdir -p "$TMP/ro"; chmod 555 "$TMP/ro"
if [ "$(id -u)" != 0 ]; then expect "unwritable output" 1 "not writable" -- --model "$MODEL" "x" -o "$TMP/ro/x.png"
else  # root may write anywhere; emulate with a path under a file
  expect "unwritable output" 1 "does not exist" -- --model "$MODEL" "x" -o "$MODEL/x.png"; fi
# a directory where access() says yes (to root) but no file can be made: refused before generating
if [ "$(id -u)" = 0 ] && [ -d /proc/self ]; then expect "output in /proc" 1 "no file can be created in '/proc'" -- --model "$MODEL" "x" -o /proc/x.png; fi
expect "invalid UTF-8 prompt" 1 "not valid UTF-8" -- --model "$MODEL" $'bad \xff' -o "$O"
expect "N = 0" 2 "--count must be" -- --model "$MODEL" "x" -n 0 -o "$O"
DVK_DEVICE_MEMORY_MB=64 expect "N too large for the device" 1 "candidates fit (--candidates" -- --model "$MODEL" "x" -n 4000 -o "$O"
DVK_DEVICE_MEMORY_MB=8 expect "weights too large for the device" 1 "out of device memory: the weights need" -- \
  --model "$DEFAULT_MODEL" "x" -o "$O"
expect "unknown option" 2 "unknown option" -- --frobnicate "x" -o "$O"
expect "top-p above 1" 2 "--top-p must be in (0, 1]" -- --model "$MODEL" "x" --top-p 1.5 -o "$O"
expect "top-p zero" 2 "--top-p must be in (0, 1]" -- --model "$MODEL" "x" --top-p 0 -o "$O"
expect "top-k above the image codes" 2 "--top-k: top_k (100000) must be at most" -- --model "$MODEL" "x" --top-k 100000 -o "$O"
expect "negative temperature" 2 "--temperature must be" -- --model "$MODEL" "x" --temperature -1 -o "$O"
expect "temperature beyond float" 2 "--temperature must be" -- --model "$MODEL" "x" --temperature 1e300 -o "$O"
expect "candidates below count" 2 "--candidates: candidates (2) must be at least the number of images (3)" -- --model "$RMODEL" "x" -n 3 --candidates 2 -o "$O"
expect "candidates without a reranker" 1 "needs a model with a reranker" -- --model "$MODEL" "x" --candidates 4 -o "$O"
expect "rerank-pool zero" 2 "--rerank-pool must be a number in (0, 1]" -- --model "$RMODEL" "x" --rerank-pool 0 -o "$O"
expect "rerank-pool above 1" 2 "--rerank-pool must be a number in (0, 1]" -- --model "$RMODEL" "x" --rerank-pool 1.5 -o "$O"
expect "cond-scale zero" 2 "--cond-scale must be a number in (0, 100]" -- --model "$MODEL" "x" --cond-scale 0 -o "$O"
expect "prune-rows not a list" 2 "--prune-rows must be 'none' or distinct comma-separated" -- --model "$RMODEL" "x" --prune-rows 1,x -o "$O"
expect "prune-rows empty item" 2 "--prune-rows must be 'none' or distinct comma-separated" -- --model "$RMODEL" "x" --prune-rows 1,,3 -o "$O"
expect "prune-rows repeated row" 2 "--prune-rows must be 'none' or distinct comma-separated" -- --model "$RMODEL" "x" --prune-rows 2,2 -o "$O"
expect "prune-rows past the grid" 2 "--prune-rows: prune rows must be in 0..4 (the grid has 6 rows" -- --model "$RMODEL" "x" -n 2 --prune-rows 5 -o "$O"
expect "prune-rows without a reranker" 1 "pruning needs a model with a reranker" -- --model "$MODEL" "x" --prune-rows 1 -o "$O"
expect "decoding unknown" 2 "--decoding must be 'sample' or 'beam', got 'greedy'" -- --model "$MODEL" "x" --decoding greedy -o "$O"
expect "beam rows without beam" 2 "--beam-sampled-rows: beam_sampled_rows needs beam search" -- --model "$MODEL" "x" --beam-sampled-rows 1 -o "$O"
expect "beam rows past the grid" 2 "--beam-sampled-rows: beam_sampled_rows must be at most 5" -- --model "$RMODEL" "x" --decoding beam --candidates 2 --beam-sampled-rows 6 -o "$O"
expect "beam with pruning" 2 "--prune-rows: pruning does not apply to beam search" -- --model "$RMODEL" "x" --decoding beam --candidates 2 --prune-rows 1 -o "$O"
expect "beam wider than the codes" 2 "--candidates: beam search: candidates (the beam width, 4000) must be at most" -- --model "$RMODEL" "x" --decoding beam --candidates 4000 -o "$O"
expect "missing prompt" 2 "missing PROMPT" -- --model "$MODEL" -o "$O"
expect "prompt-rows without an image" 2 "image_prompt_rows needs image_prompt" -- --model "$MODEL" "x" --prompt-rows 3 -o "$O"
expect "prompt-rows zero" 2 "--prompt-rows must be a positive integer" -- --model "$MODEL" "x" --image-prompt "$TMP/a.png" --prompt-rows 0 -o "$O"
expect "image prompt without an encoder" 1 "need a model with a dVAE encoder" -- --model "$MODEL" "x" --image-prompt "$TMP/a.png" -o "$O"
# image prompts on the default model (it has the dVAE encoder): bad files, too many rows, and one completion
EMODEL=assets/dalle-emoji.gguf
if [ -f "$EMODEL" ]; then
  echo "not an image" > "$TMP/text.png"
  expect "image prompt missing" 1 "cannot read image prompt '$TMP/none.png'" -- --model "$EMODEL" "x" --image-prompt "$TMP/none.png" -o "$O"
  expect "image prompt not an image" 1 "cannot read image prompt '$TMP/text.png'" -- --model "$EMODEL" "x" --image-prompt "$TMP/text.png" -o "$O"
  expect "prompt-rows past the grid" 2 "--prompt-rows: image_prompt_rows must be at most 15" -- --model "$EMODEL" "x" --image-prompt "$TMP/a.png" --prompt-rows 16 -o "$O"
  # a 22x22 PNG of the test model, resized to 64x64, its top 12 rows kept
  "$BIN" --model "$EMODEL" "red heart" --image-prompt "$TMP/a.png" --prompt-rows 12 -n 1 --candidates 2 --seed 3 -q -o "$TMP/ip.png"
  wh=$(od -An -tu1 -j16 -N8 "$TMP/ip.png" 2>/dev/null | awk '{print $3*256+$4 "x" $7*256+$8}')
  if [ "$wh" = "64x64" ]; then pass=$((pass + 1)); echo "PASS image prompt completion writes a 64x64 PNG"
  else fail=$((fail + 1)); echo "FAIL image prompt completion: PNG '$wh'"; fi
else
  echo "NOT RUN image prompts on the default model ($EMODEL is missing)"
fi
expect "no such device" 1 "no usable Vulkan device matches" -- --model "$MODEL" --device no-such-gpu "x" -o "$O"
VK_ICD_FILENAMES="$TMP/none.json" VK_DRIVER_FILES="$TMP/none.json" expect "no Vulkan device" 1 "Vulkan device" -- --model "$MODEL" "x" -o "$O"

# No Vulkan loader at all: hide libvulkan.so.1 in a private mount namespace (needs root and unshare;
# elsewhere this case is reported as not run).
lib=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64|libvulkan\.so\.1 / {print $NF; exit}')
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ -n "$lib" ] && unshare -m true 2>/dev/null; then
  rm -rf "$TMP/out"; mkdir -p "$TMP/out"
  unshare -m bash -c 'mount --bind /dev/null "$(readlink -f "$1")" && exec "$2" --model "$3" x -o "$4"' _ \
    "$lib" "$BIN" "$MODEL" "$TMP/out/x.png" >/dev/null 2>"$TMP/stderr"; rc=$?
  if [ "$rc" = 1 ] && grep -q "no Vulkan loader found: install" "$TMP/stderr" && [ -z "$(ls -A "$TMP/out")" ]; then
    pass=$((pass + 1)); echo "PASS no Vulkan loader (exit 1)"
  else fail=$((fail + 1)); echo "FAIL no Vulkan loader: exit $rc"; sed 's/^/     /' "$TMP/stderr"; fi
else
  echo "NOT RUN no Vulkan loader (needs root and unshare)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
