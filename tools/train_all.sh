#!/bin/bash
# Train the default emoji model end to end on one CPU thread, resumably:
#   data cache -> dVAE -> transformer (5000 steps, then 6000 balanced, 1776 with input noise,
#   4724 loss-weighted, then MLPs widened: 3500 + 3500) -> reranker (CLIP) -> dVAE decoder fine-tune -> metrics. Rerunning resumes whichever stage is unfinished
#   (each stage skips itself when its run dir holds final.pt).
# Launch:  mkdir -p ~/.cache/dalle-vk && nohup setsid bash tools/train_all.sh \
#              > ~/.cache/dalle-vk/train.log 2>&1 &
# Env: DVK_DATA_DIR (dataset cache), DVK_RUN_DIR (run root), DVK_THREADS (default 1),
#      DVK_DEVICE (default cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
THREADS=${DVK_THREADS:-1}
DEVICE=${DVK_DEVICE:-cpu}
DATA=${DVK_DATA_DIR:-$HOME/.cache/dalle-vk/emoji}
# (no OMP_NUM_THREADS: with it set to 1, Debian torch 1.13 ran the same steps ~45% slower here;
#  the scripts call torch.set_num_threads(--threads) themselves)

# Braces: bash parses the whole body before running it, so editing this file while a
# run is in progress cannot corrupt that run.
{
echo "== $(date -u +%FT%TZ) train_all start (threads=$THREADS device=$DEVICE)"
if [ ! -f "$DATA/dataset.npz" ] || [ ! -f "$DATA/dataset.json" ]; then
  $PY tools/fetch_emoji.py
fi

echo "== $(date -u +%FT%TZ) dVAE"
$PY tools/train_dvae.py --resume --name dvae --device "$DEVICE" --threads "$THREADS" \
  --n-hid 32 --n-blk 1 --group-count 3 --vocab 512 --n-init 128 \
  --steps 2200 --batch 32 --lr 2e-3 --hard 1 --tau-start 1 --tau-end 0.25 --loss mse \
  --kl-weight 1e-3 --eval-every 200

echo "== $(date -u +%FT%TZ) transformer"
# transformer hyperparameters: the defaults in tools/train_dalle.py (see its --help)
$PY tools/train_dalle.py --resume --name dalle --dvae dvae --device "$DEVICE" --threads "$THREADS" \
  --steps 5000 --null-cond-prob 0.1

RUNS=${DVK_RUN_DIR:-$HOME/.cache/dalle-vk/runs}
# branch FROM TO: start run TO from run FROM's last checkpoint (weights, optimizer state, BPE, codes, log),
# once; later calls leave TO alone so that it resumes where it stopped
branch() {
  if [ ! -f "$RUNS/$2/ckpt.pt" ] && [ ! -f "$RUNS/$2/final.pt" ]; then
    mkdir -p "$RUNS/$2"
    cp "$RUNS/$1/ckpt.pt" "$RUNS/$1/bpe.json" "$RUNS/$1/codes.npy" "$RUNS/$1/log.csv" "$RUNS/$2/"
  fi
}

echo "== $(date -u +%FT%TZ) transformer, balanced continuation (run dalle_bal)"
# From the step-5000 checkpoint (with its optimizer state), 6000 more steps that draw a base emoji
# uniformly and then one of its images (--sample-by base): skin-tone variants are half of the images,
# and drawn by image they crowd out rare concepts ("dog face": 2 of ~7000 images). The cosine schedule
# restarts over the new total (as in every continuation below).
branch dalle dalle_bal
$PY tools/train_dalle.py --resume --name dalle_bal --device "$DEVICE" --threads "$THREADS" \
  --steps 11000 --sample-by base

echo "== $(date -u +%FT%TZ) transformer, input noise (run dalle_noise, to step 12776)"
# 10% of the input codes replaced by random ones (targets clean): less memorisation, less drift when
# sampling. Its schedule ran to 14000; the next stage branched from it at step 12776.
branch dalle_bal dalle_noise
$PY tools/train_dalle.py --resume --name dalle_noise --device "$DEVICE" --threads "$THREADS" \
  --steps 14000 --input-noise 0.1 --stop-at 12776

echo "== $(date -u +%FT%TZ) transformer, loss-weighted draws (run dalle_loss)"
# A base emoji drawn half uniformly, half in proportion to its running image CE (--sample-by loss): the
# concepts memorised worst (animals, objects) are drawn most. Input noise 0.1 carries over.
branch dalle_noise dalle_loss
$PY tools/train_dalle.py --resume --name dalle_loss --device "$DEVICE" --threads "$THREADS" \
  --steps 17500 --sample-by loss

echo "== $(date -u +%FT%TZ) transformer, MLPs widened (run dalle_wide)"
# The finished dalle_loss with every MLP widened 1024 -> 2048 units (the new ones output zero at first, so
# the model starts where dalle_loss ended), 3500 more steps with a fresh optimizer: the 5.8 M-parameter model
# was at capacity (rare detailed images such as "dog face" stayed expensive while memorised ones got cheaper).
$PY tools/train_dalle.py --resume --name dalle_wide --grow-from dalle_loss --d-ff 2048 --steps 3500 \
  --lr 2e-4 --warmup 100 --sample-by loss --input-noise 0.1 --null-cond-prob 0.1 --device "$DEVICE" --threads "$THREADS"

echo "== $(date -u +%FT%TZ) transformer, widened model continued (run dalle_wide2)"
# dalle_wide's last checkpoint (optimizer state and settings kept) continued to 7000 steps, its cosine schedule
# stretched over the new total: its loss was still falling.
branch dalle_wide dalle_wide2
$PY tools/train_dalle.py --resume --name dalle_wide2 --steps 7000 --device "$DEVICE" --threads "$THREADS"

echo "== $(date -u +%FT%TZ) transformer, MLPs widened again (run dalle_wide3)"
# The finished dalle_wide2 widened 2048 -> 3072 units the same way, 3500 more steps with a fresh optimizer: rare
# detailed images ("dog face") were still the expensive ones. Held-out CE rose slightly (2.385 -> 2.408) while the
# captions' hold on their images grew (tools/caption_gap.py: "dog face" 36 -> 11 nats). This run is the shipped
# transformer (assets/MODEL_CARD.md).
$PY tools/train_dalle.py --resume --name dalle_wide3 --grow-from dalle_wide2 --d-ff 3072 --steps 3500 \
  --lr 2e-4 --warmup 100 --sample-by loss --input-noise 0.1 --null-cond-prob 0.1 --device "$DEVICE" --threads "$THREADS"

echo "== $(date -u +%FT%TZ) reranker (CLIP-style, on the transformer run's bpe.json + codes.npy)"
# reranker hyperparameters: the defaults in tools/train_clip.py (see its --help), plus the prefix loss that
# lets it prune candidates mid-image (--prefix-weight 0.5): 700 steps (run clip_prefix), then continued to
# 1400 (run clip_prefix2, the cosine schedule stretched over the new total): the shipped reranker.
$PY tools/train_clip.py --resume --name clip_prefix --prefix-weight 0.5 --device "$DEVICE" --threads "$THREADS"
if [ ! -f "$RUNS/clip_prefix2/ckpt.pt" ] && [ ! -f "$RUNS/clip_prefix2/final.pt" ]; then
  mkdir -p "$RUNS/clip_prefix2"
  cp "$RUNS/clip_prefix/ckpt.pt" "$RUNS/clip_prefix/log.csv" "$RUNS/clip_prefix2/"
fi
$PY tools/train_clip.py --resume --name clip_prefix2 --steps 1400 --device "$DEVICE" --threads "$THREADS"

echo "== $(date -u +%FT%TZ) dVAE decoder fine-tune (encoder frozen: the codes stay those the transformer learned)"
$PY tools/train_dvae.py --resume --name dvae_dec --init-from dvae --decoder-only 1 \
  --device "$DEVICE" --threads "$THREADS" --steps 3000 --batch 32 --lr 1e-3 --warmup 50 \
  --loss mse --eval-every 250

echo "== $(date -u +%FT%TZ) metrics"
$PY tools/eval_metrics.py || true
echo "== $(date -u +%FT%TZ) train_all done"
exit 0
}
