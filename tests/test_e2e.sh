#!/usr/bin/env bash
# End to end: text -> codes -> pixels through the public API (tests/test_e2e.c) and the CLI, checked
# against the PyTorch reference by tools/check_e2e.py (teacher-forced logits of every step, sampler
# replay, dVAE pixels, CLI PNG == API pixels, codes == committed golden tests/data/e2e/<model>-codes.txt).
#
# Usage: tests/test_e2e.sh BUILD_DIR [--update] [--default | MODEL.gguf ...]
#   no model:   the committed parity models (tests/data/parity, tiny random weights; ctest test_e2e), and two of
#               them again with beam search (MODEL.gguf#beam: golden <stem>-beam-codes.txt)
#   --default:  assets/dalle-emoji.gguf; exit 77 (ctest: skipped) when it does not exist (test_e2e_emoji)
#   MODEL...:   those files, with the default settings below
#   --update:   rewrite the goldens of the models run (only from runs whose other checks pass)
# Needs /usr/bin/python3 with torch, numpy and PIL (scripts/setup.sh --dev); exit 77 without them.
set -u
BUILD=$1; shift
PY=/usr/bin/python3
GOLDEN_DIR=tests/data/e2e
UPDATE=() DEFAULT=0 MODELS=()
for a in "$@"; do
  case $a in
    --update) UPDATE=(--update) ;;
    --default) DEFAULT=1 ;;
    -*) echo "test_e2e.sh: unknown option $a"
        echo "usage: tests/test_e2e.sh BUILD_DIR [--update] [--default | MODEL.gguf ...]"; exit 2 ;;
    *) MODELS+=("$a") ;;
  esac
done

# Settings per model stem: prompt|seed|n|top_k|top_p|cond_scale|prune_rows|beam (top_p, cond_scale 0 and prune_rows
# "-": the option is left out, so the model's recommended value is used; temperature always so; beam "-": sampling,
# else the rows sampled before the search). Chosen to cover top-k, top-p, 2-3 candidates, classifier-free guidance,
# pruning with guidance (g6, the parity model with a reranker), guidance on models without a start token (r2, r3),
# the default model's own sampling settings (its pruning rows included), and beam search: after a sampled row with
# guidance and a reranker (g6#beam), from the first code with f16 weights, a VQGAN and an image prompt (g7 vqgan#beam).
settings() {
  case $1 in
    g6-full-convclamp-*#beam)  echo "a dog face, noto style|11|3|0|0.9|1.5|-|1" ;;
    g7-paper-schedule-vqgan-*#beam) echo "grinning face|3|4|0|0|2.5|-|0" ;;
    g5-row-col-convwrap-*) echo "red heart|7|2|16|1|0|-|-" ;;
    g6-full-convclamp-*)   echo "a dog face, noto style|11|3|0|0.9|1.5|1,3|-" ;;
    g7-paper-schedule-*)   echo "grinning face|3|2|8|1|2.5|-|-" ;;
    m1-mindalle-like-*)    echo "red heart|5|2|16|1|0|-|-" ;;
    r2-rudalle-v2-like-*)  echo "a cat face|13|2|0|0.95|1.5|-|-" ;;
    r3-rudalle-v3-like-*)  echo "grinning face|21|3|12|1|2|-|-" ;;
    *)                     echo "red heart, twemoji style|42|2|64|0|0|-|-" ;;
  esac
}

if [ "$DEFAULT" = 1 ]; then
  if [ ! -f assets/dalle-emoji.gguf ]; then
    echo "SKIP: assets/dalle-emoji.gguf does not exist yet (the default model is still being trained)"
    exit 77
  fi
  MODELS=(assets/dalle-emoji.gguf)
elif [ ${#MODELS[@]} = 0 ]; then
  for dt in f32 f16; do
    for c in g5-row-col-convwrap g6-full-convclamp g7-paper-schedule; do MODELS+=("tests/data/parity/$c-$dt.gguf"); done
  done
  MODELS+=(tests/data/parity/g7-paper-schedule-vqgan-f16.gguf)  # the g7 transformer with a VQGAN (image decoder)
  # the architecture options (docs/model-format.md §2): minDALL-E-, ruDALL-E v2- and v3-like layouts
  MODELS+=(tests/data/parity/m1-mindalle-like-f32.gguf tests/data/parity/r2-rudalle-v2-like-f16.gguf
           tests/data/parity/r3-rudalle-v3-like-f32.gguf)
  MODELS+=("tests/data/parity/g6-full-convclamp-f32.gguf#beam" "tests/data/parity/g7-paper-schedule-vqgan-f16.gguf#beam")
fi
if ! "$PY" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "SKIP: $PY lacks torch/numpy/PIL (scripts/setup.sh --dev installs them)"
  exit 77
fi

fail=0 runs=()
TMP=$(mktemp -d)
trap 'if [ "$fail" = 0 ]; then rm -rf "$TMP"; else echo "run files kept in $TMP"; fi' EXIT
for entry in "${MODELS[@]}"; do
  model=${entry%#beam}
  variant=${entry#"$model"}
  stem=$(basename "$model" .gguf)
  IFS='|' read -r prompt seed n topk topp cond prune beam <<<"$(settings "$stem$variant")"
  dir="$TMP/$stem$variant"
  mkdir -p "$dir"
  echo "--- $stem$variant: '$prompt' seed $seed, n $n, top-k $topk, top-p $topp, cond-scale $cond, prune rows $prune," \
       "beam search $beam"
  opts=(--seed "$seed" -n "$n" --top-k "$topk")
  [ "$topp" != 0 ] && opts+=(--top-p "$topp")
  [ "$cond" != 0 ] && opts+=(--cond-scale "$cond")
  [ "$beam" != - ] && opts+=(--decoding beam --beam-sampled-rows "$beam")
  api=() cli=()
  if [ "$prune" != - ]; then  # the CLI takes the row list, test_e2e the API's bit mask
    mask=0
    for r in ${prune//,/ }; do mask=$((mask | (1 << r))); done
    api=(--prune-rows "$mask") cli=(--prune-rows "$prune")
  fi
  if "$BUILD/tests/test_e2e" "$model" "$dir" --prompt "$prompt" "${opts[@]}" "${api[@]}" &&
     "$BUILD/dalle-vk" --model "$model" "$prompt" "${opts[@]}" "${cli[@]}" --candidates "$n" --separate -q \
       -o "$dir/cli.png"; then
    runs+=("$dir")
    [ -d "$dir/image_prompt" ] && runs+=("$dir/image_prompt")  # models with a dVAE encoder (test_e2e.c)
  else
    fail=1; echo "FAIL $stem: the engine run failed"
  fi
done
# one Python process checks every run (torch is imported once)
if [ ${#runs[@]} -gt 0 ]; then
  "$PY" tools/check_e2e.py "${runs[@]}" --golden-dir "$GOLDEN_DIR" "${UPDATE[@]}" || fail=1
fi
[ "$fail" = 0 ]
