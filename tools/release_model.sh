#!/bin/bash
# Export the trained default model into assets/ and recompute what its card reports:
#   GGUF (f16, with the dVAE encoder and the reranker) -> metrics JSON -> sample sheet.
# Usage: [COND_SCALE=S] [TEMPERATURE=T] [TOP_P=P] [PRUNE_ROWS=L] [DECODING=D] [BEAM_WIDTH=W] [BEAM_SAMPLED_ROWS=K] [DALLE_RUN=R] [CLIP_RUN=C] tools/release_model.sh "NAME" "DESCRIPTION" [OUT]
#   OUT: default assets/dalle-emoji.gguf
#   COND_SCALE, TEMPERATURE, TOP_P: the recommended sampling settings stored in the file (dalle.cond_scale,
#   dalle.temperature, dalle.top_p); the engine, the CLI and the sample sheet use them unless told otherwise
#   PRUNE_ROWS: the recommended pruning rows (clip.prune_rows, comma-separated; default 1,3,5,7; "" = none)
#   DECODING, BEAM_WIDTH, BEAM_SAMPLED_ROWS: the recommended decoding (dalle.decoding "sample" | "beam",
#   dalle.beam_width, dalle.beam_sampled_rows); unset: the keys are left out (sampling)
#   DALLE_RUN: the transformer run to export (default dalle_wide3, the last transformer stage of tools/train_all.sh)
#   CLIP_RUN: the reranker run (default clip_prefix2, the last reranker stage of tools/train_all.sh)
#   DVAE_RUN: the dVAE run (default dvae_dec; shipped_dvae for runs rebuilt by tools/runs_from_gguf.py)
# Reads the finished runs in ~/.cache/dalle-vk/runs (env DVK_RUN_DIR): $DALLE_RUN/final.pt (falls back to
# $DALLE_RUN/ckpt.pt for an interim release), $DVAE_RUN/final.pt, $DALLE_RUN/bpe.json, $CLIP_RUN/final.pt (the reranker).
# Then: look at docs/sample-sheet.png, update assets/MODEL_CARD.md from build/release-metrics.json,
# and refresh the end-to-end golden: tests/test_e2e.sh build --default --update.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
RUNS=${DVK_RUN_DIR:-$HOME/.cache/dalle-vk/runs}
NAME=${1:?usage: tools/release_model.sh NAME DESCRIPTION [OUT]}
DESC=${2:?usage: tools/release_model.sh NAME DESCRIPTION [OUT]}
OUT=${3:-assets/dalle-emoji.gguf}
RUN=$RUNS/${DALLE_RUN:-dalle_wide3}
DALLE=$RUN/final.pt
PRUNE=${PRUNE_ROWS-1,3,5,7}
[ -f "$DALLE" ] || { DALLE=$RUN/ckpt.pt; echo "release: no final.pt, using $DALLE (interim)"; }
LICENSE="weights: CC-BY-4.0 (trained on Twemoji CC-BY 4.0 and Noto Emoji Apache-2.0; see MODEL_CARD.md)"
mkdir -p build
TMP=$OUT.tmp.$$
trap 'rm -f "$TMP"' EXIT
$PY tools/export_gguf.py --dalle "$DALLE" --dvae "$RUNS/${DVAE_RUN:-dvae_dec}/final.pt" --bpe "$RUN/bpe.json" \
  --clip "$RUNS/${CLIP_RUN:-clip_prefix2}/final.pt" ${COND_SCALE:+--cond-scale "$COND_SCALE"} \
  ${PRUNE:+--prune-rows "$PRUNE"} \
  ${TEMPERATURE:+--temperature "$TEMPERATURE"} ${TOP_P:+--top-p "$TOP_P"} ${DECODING:+--decoding "$DECODING"} \
  ${BEAM_WIDTH:+--beam-width "$BEAM_WIDTH"} ${BEAM_SAMPLED_ROWS:+--beam-sampled-rows "$BEAM_SAMPLED_ROWS"} -o "$TMP" --f16 --name "$NAME" --license "$LICENSE" --description "$DESC"
mv "$TMP" "$OUT"
ls -l "$OUT"
$PY tools/eval_metrics.py --model "$OUT" --threads 2 --json build/release-metrics.json
$PY tools/sample_sheet.py --model "$OUT" --threads 2 --out docs/sample-sheet.png  # the file's own sampling settings
