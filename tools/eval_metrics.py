#!/usr/bin/python3
"""Metrics of the trained default model, printed to stdout (and optionally as JSON).

1. dVAE reconstruction PSNR (dB, mean over images of per-image PSNR, 64x64 RGB in
   [0,1], hard argmax codes -> decoder) on the held-out images: "val" (emoji never
   trained) and "zeroshot" (emoji trained only in the other style), and on 512
   training images for comparison.       Bar: held-out PSNR >= 24 dB.
2. Transformer held-out image-token cross-entropy (nats/token) with each item's first
   caption, against the unconditional code-frequency baseline: CE of the held-out codes
   under the training-set code unigram distribution (add-one smoothed).
                                            Bar: model CE <= 0.75 * baseline.
3. Reranker (tools/train_clip.py run, or the model file's clip.* section), when present: held-out
   caption -> image retrieval over the dVAE codes of all held-out images (each image's first caption;
   top-1 / top-5 accuracy that the true image ranks first / in the first five), against chance 1/N, 5/N;
   the same from the images' first half (rows 0..G/2-1: the prefix scores that prune candidates mid-image).
Uses final.pt of each run when present, else the latest ckpt.pt (marked "partial").
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

from dallevk import data as D
from dallevk.checkpoints import load_clip, load_dalle, load_dvae
from dallevk.clip import retrieval
from dallevk.dvae import decode_pixels
from dallevk.transformer import caption_image_ce, pad_text


@torch.no_grad()
def dvae_psnr(enc, dec, images, idx, batch=64):
    ps = []
    for s in range(0, len(idx), batch):
        x = D.to_tensor(images[idx[s:s + batch]])
        rec = decode_pixels(dec.decode_codes(enc.encode_codes(x)))
        ps.append(D.psnr(rec, x))
    return float(torch.cat(ps).mean())


@torch.no_grad()
def model_ce(model, tok, items, codes, idx):
    """Mean image-token CE (nats/token) of items idx with their first caption."""
    return float(caption_image_ce(model, tok, [items[i]["captions"][0] for i in idx], codes[idx]).mean())


def unigram_ce(train_codes, held_codes, vocab):
    counts = np.bincount(train_codes.reshape(-1), minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[held_codes.reshape(-1)].mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dvae", default="auto",
                    help="dVAE run; auto = dvae_dec (decoder fine-tuned) if finished, else dvae")
    ap.add_argument("--dalle", default="auto",
                    help="transformer run; auto = the latest stage of tools/train_all.sh with a checkpoint "
                         "(dallevk/checkpoints.py resolve_dalle)")
    ap.add_argument("--clip", default="clip", help="reranker run (skipped when it has no checkpoint)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="", help="also write the numbers to this file")
    ap.add_argument("--model", default="",
                    help="evaluate a model file (e.g. assets/dalle-emoji.gguf, exported with its dVAE encoder) "
                         "instead of the training runs")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    images, items = D.load_dataset()
    idx = {s: D.split_indices(items, s) for s in ("train", "val", "zeroshot")}
    held = np.concatenate([idx["val"], idx["zeroshot"]])
    out = {}

    if a.model:
        from dallevk.from_gguf import load_model
        gm = load_model(a.model)
        if gm.encoder is None or gm.dalle is None:
            raise SystemExit("%s: needs the transformer and the dVAE encoder (export without --no-encoder)" % a.model)
        enc, dec, dcfg = gm.encoder, gm.decoder, gm.dvae_cfg
        dinfo = {"final": True, "path": a.model}
    else:
        enc, dec, dcfg, dinfo = load_dvae(a.dvae)
    tag = "" if dinfo["final"] else " (partial: %s)" % dinfo["path"]
    rs = np.random.default_rng(0)
    tr_sub = rs.choice(idx["train"], min(512, len(idx["train"])), replace=False)
    out["dvae_psnr_val"] = dvae_psnr(enc, dec, images, idx["val"])
    out["dvae_psnr_zeroshot"] = dvae_psnr(enc, dec, images, idx["zeroshot"])
    out["dvae_psnr_heldout"] = dvae_psnr(enc, dec, images, held)
    out["dvae_psnr_train512"] = dvae_psnr(enc, dec, images, tr_sub)
    print("dVAE%s: %dx%d grid, %d codes" % (tag, dcfg.grid, dcfg.grid, dcfg.vocab_size))
    print("  PSNR held-out %.2f dB (val %.2f, zero-shot %.2f), train %.2f   [bar >= 24]"
          % (out["dvae_psnr_heldout"], out["dvae_psnr_val"], out["dvae_psnr_zeroshot"],
             out["dvae_psnr_train512"]))

    if a.model:
        model, tok, info = gm.dalle, gm.bpe, {"run": "", "step": a.model, "final": True}
    else:
        try:
            model, tok, info = load_dalle(a.dalle)
        except FileNotFoundError as e:
            print("transformer: not trained yet (%s)" % e)
            model = None
    codes = None

    def get_codes(run):
        nonlocal codes
        if codes is None:
            cpath = os.path.join(run, "codes.npy") if run else ""
            codes = np.load(cpath).astype(np.int64) if cpath and os.path.exists(cpath) else D.encode_images(enc, images)
        return codes

    if model is not None:
        codes = get_codes(info["run"])
        V = model.cfg.image_vocab
        base = unigram_ce(codes[idx["train"]], codes[held], V)
        ce = model_ce(model, tok, items, codes, held)
        ce_val = model_ce(model, tok, items, codes, idx["val"])
        ce_zs = model_ce(model, tok, items, codes, idx["zeroshot"])
        out.update({"heldout_image_ce": ce, "val_image_ce": ce_val, "zeroshot_image_ce": ce_zs,
                    "unigram_baseline_ce": base, "ce_reduction": 1 - ce / base,
                    "dalle_step": info["step"], "dalle_final": info["final"]})
        tag = "" if info["final"] else " (partial: step %s)" % info["step"]
        print("transformer%s:" % tag)
        print("  held-out image CE %.4f nats/token (val %.4f, zero-shot %.4f)"
              % (ce, ce_val, ce_zs))
        print("  unigram code-frequency baseline %.4f nats/token; reduction %.1f%%   [bar >= 25%%]"
              % (base, 100 * (1 - ce / base)))

    clip = None
    if a.model:
        if gm.clip is not None:
            clip, ctok, cinfo = gm.clip, gm.bpe, {"final": True, "step": a.model, "dalle": ""}
    else:
        try:
            clip, ctok, cinfo = load_clip(a.clip)
        except FileNotFoundError:
            clip = None  # no reranker trained: nothing to report
    if clip is not None:
        c = get_codes(os.path.join(D.run_root(), cinfo["dalle"]) if cinfo["dalle"] else "")
        t = torch.stack([pad_text(ctok.encode(items[i]["captions"][0]), clip.cfg.text_len, clip.cfg.text_vocab)
                         for i in held])
        hc = torch.from_numpy(c[held].reshape(len(held), -1))
        r = retrieval(clip, t, hc)
        half = clip.cfg.grid // 2 - 1
        rh = retrieval(clip, t, hc, row=half)
        out.update({"clip_heldout_top1": r["top1"], "clip_heldout_top5": r["top5"], "clip_chance_top1": r["chance1"],
                    "clip_chance_top5": r["chance5"], "clip_heldout_mean_rank": r["mean_rank"],
                    "clip_step": cinfo["step"], "clip_final": cinfo["final"],
                    "clip_half_image_top1": rh["top1"], "clip_half_image_top5": rh["top5"]})
        tag = "" if cinfo["final"] else " (partial: step %s)" % cinfo["step"]
        print("reranker%s:" % tag)
        print("  held-out caption->image retrieval among %d images: top-1 %.3f, top-5 %.3f "
              "(chance %.4f / %.4f), mean rank %.1f"
              % (r["n"], r["top1"], r["top5"], r["chance1"], r["chance5"], r["mean_rank"]))
        print("  the same from rows 0-%d only (prefix features): top-1 %.3f, top-5 %.3f"
              % (half, rh["top1"], rh["top5"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
