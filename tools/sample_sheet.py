#!/usr/bin/python3
"""16-prompt sample sheet PNG from the PyTorch reference model.

Rows 1-8: captions seen in training; rows 9-16: held-out captions (4 from the val emoji,
4 zero-shot (emoji, style) pairs; see assets/splits/). Each row: the prompt, the
ground-truth emoji (when the caption comes from the dataset), its dVAE reconstruction,
then --n samples (KV-cache sampling), and, when the model has a reranker, the --keep best of
--candidates samples by the reranker's score (DALL-E's CLIP reranking, among the --rerank-pool most likely
candidates first, as the engine does; the first --n candidates are the raw samples shown, so raw and reranked
columns come from the same draws). With pruning (--prune-rows, by
default the model file's clip.prune_rows) the candidates, the first --n included, are pruned while sampled.
With beam search (--decoding beam, by default the model file's dalle.decoding) the candidates are the beams of
Dalle.generate(beam_from=...), the first --n of them the likeliest, and nothing is pruned.
Usage: /usr/bin/python3 tools/sample_sheet.py [--out sheet.png] [--n 4] [--temperature T]
       [--top-k 0] [--top-p P] [--prompts "a|b|..."]   (T, P: the model file's recommended values)
"""
import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

from dallevk import data as D
from dallevk.checkpoints import load_dalle, load_dvae
from dallevk.clip import Pruner, rerank_order, rerank_pool, rerank_pool_size
from dallevk.dvae import decode_pixels
from dallevk.transformer import mean_logprob, pad_text

SEEN = ["red heart, twemoji style", "grinning face, noto style", "dog face, twemoji style",
        "cat face, noto style", "fire, twemoji style", "rocket, noto style",
        "star, twemoji style", "red apple, noto style"]


def find_item(items, caption):
    for i, it in enumerate(items):
        if caption in it["captions"]:
            return i
    return None


def heldout_prompts(items, n_val=4, n_zs=4):
    out = []
    for split, n in (("val", n_val), ("zeroshot", n_zs)):
        idx, seen = [], set()
        for i in D.split_indices(items, split):
            if not items[i]["tone"] and items[i]["base"] not in seen:
                seen.add(items[i]["base"])
                idx.append(i)
        step = max(1, len(idx) // n)
        out += [items[i]["captions"][0] for i in idx[::step][:n]]
    return out


def to_img(px):
    """float [3, H, W] in [0,1] -> PIL RGB."""
    return Image.fromarray((px.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="sample_sheet.png")
    ap.add_argument("--dvae", default="auto",
                    help="dVAE run; auto = dvae_dec (decoder fine-tuned) if finished, else dvae")
    ap.add_argument("--dalle", default="auto",
                    help="transformer run; auto = the latest stage of tools/train_all.sh with a checkpoint "
                         "(dallevk/checkpoints.py resolve_dalle)")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="sampling temperature (0: the model file's dalle.temperature, else 1)")
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=0.0,
                    help="nucleus sampling mass (0: the model file's dalle.top_p, else 1 = off)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cond-scale", type=float, default=0.0,
                    help="classifier-free guidance scale (0: the model file's dalle.cond_scale, else 1)")
    ap.add_argument("--candidates", type=int, default=-1,
                    help="samples per prompt for reranking (0: no reranked columns; default 32, with the model "
                         "file's beam search its dalle.beam_width)")
    ap.add_argument("--decoding", choices=("sample", "beam"), help="default: the model file's dalle.decoding")
    ap.add_argument("--beam-sampled-rows", type=int, default=-1,
                    help="beam search: rows sampled first (default: the model file's dalle.beam_sampled_rows)")
    ap.add_argument("--keep", type=int, default=4, help="reranked samples shown per prompt")
    ap.add_argument("--rerank-pool", type=float, default=0.5,
                    help="the reranker picks first among this fraction of the candidates, the most likely by the "
                         "transformer's mean log-probability (the engine's --rerank-pool; 1 = plain reranking)")
    ap.add_argument("--prune-rows", default="",
                    help="rows after which the reranker prunes the candidates during sampling (clip.Pruner), "
                         "comma-separated, or 'none'; default: the model file's clip.prune_rows (runs: none)")
    ap.add_argument("--prompts", default="", help="'|'-separated prompts (default: 8+8)")
    ap.add_argument("--model", default="",
                    help="sample a model file (e.g. assets/dalle-emoji.gguf) instead of the runs")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    images, items = D.load_dataset()
    if a.model:
        from dallevk.from_gguf import load_model
        gm = load_model(a.model)
        enc, dec, model, tok, info = gm.encoder, gm.decoder, gm.dalle, gm.bpe, {"path": a.model}
        clip = gm.clip
        model_scale, model_temp, model_top_p = gm.cond_scale, gm.temperature, gm.top_p
        model_prune = gm.prune_rows
        model_decoding, model_width, model_rows = gm.decoding, gm.beam_width, gm.beam_sampled_rows
    else:
        enc, dec, _, _ = load_dvae(a.dvae)
        model, tok, info = load_dalle(a.dalle)
        try:
            from dallevk.checkpoints import load_clip
            clip = load_clip()[0]
        except (OSError, FileNotFoundError, KeyError):
            clip = None
        model_scale, model_temp, model_top_p = 1.0, 1.0, 1.0
        model_prune = ()
        model_decoding, model_width, model_rows = "sample", 0, 0
    beam = (a.decoding or model_decoding) == "beam"
    beam_rows = a.beam_sampled_rows if a.beam_sampled_rows >= 0 else model_rows if beam else 0
    if a.candidates < 0:
        a.candidates = model_width if beam and model_width else 32
    scale = a.cond_scale if a.cond_scale > 0 else model_scale
    temp = a.temperature if a.temperature > 0 else model_temp
    top_p = a.top_p if a.top_p > 0 else model_top_p
    prune = (() if a.prune_rows == "none" else tuple(int(r) for r in a.prune_rows.split(","))) if a.prune_rows \
        else model_prune
    M = max(a.n, a.candidates) if clip is not None and a.candidates > 0 else a.n
    K = min(a.keep, M) if clip is not None and a.candidates > 0 else 0
    prompts = a.prompts.split("|") if a.prompts else SEEN + heldout_prompts(items)
    cfg = model.cfg
    text = torch.stack([pad_text(tok.encode(p), cfg.text_len, cfg.text_vocab) for p in prompts])
    prune = prune if K and M >= 2 and not beam else ()
    G = cfg.grid
    with torch.no_grad():
        if beam:  # one search per prompt
            codes = torch.stack([model.generate(t, n=M, seed=a.seed, temperature=temp, top_k=a.top_k, top_p=top_p,
                                                cond_scale=scale, beam_from=beam_rows * G) for t in text])
        else:
            codes = model.generate(text, n=M, seed=a.seed, temperature=temp, top_k=a.top_k, top_p=top_p,
                                   cond_scale=scale, on_row=Pruner(clip, text, prune) if prune else None
                                   ).view(len(prompts), M, -1)
        shown = [codes[:, :a.n]]
        if K:
            best = []
            for r in range(len(prompts)):
                pool = rerank_pool(mean_logprob(model, text[r], codes[r], scale).tolist(),
                                   rerank_pool_size(a.rerank_pool, M))
                best.append(rerank_order(clip.scores(text[r], codes[r]).tolist(), pool)[:K])
            best = torch.tensor(best)
            shown.append(torch.gather(codes, 1, best.unsqueeze(-1).expand(-1, -1, codes.shape[-1])))
        shown = torch.cat(shown, dim=1)
        px = decode_pixels(dec.decode_codes(shown.reshape(-1, G, G)))
    cols = a.n + K
    cell, label_w, gap = 66, 300, (12 if K else 0)
    W = label_w + cell * (2 + cols) + gap
    sheet = Image.new("RGB", (W, cell * len(prompts) + 28), "white")
    draw = ImageDraw.Draw(sheet)
    rows = "%d sampled row%s" % (beam_rows, "" if beam_rows == 1 else "s")
    how = "beam search of width %d after %s" % (M, rows) if beam else "one batch of %d" % M
    title = "%s: %s per prompt%s; T %g, top-k %d, top-p %g, cfg %g" % (
        os.path.basename(info["path"]), how, ", pruned after rows %s (0-based)" % ",".join(map(str, prune)) if prune
        else "", temp, a.top_k, top_p, scale)
    title += "\nprompt | ground truth | dVAE recon | %d %s%s" % (
        a.n, "likeliest beams" if beam else "of the batch",
        " | best %d of the %d by the reranker (among the %d most likely)"
        % (K, M, rerank_pool_size(a.rerank_pool, M))
        if K else "")
    draw.text((4, 2), title, fill="black")
    for r, p in enumerate(prompts):
        y = 28 + r * cell
        label = ("[held-out] " if r >= len(SEEN) and not a.prompts else "") + p
        label = label.replace("\u2019", "'").encode("latin-1", "replace").decode("latin-1")
        if len(label) > 48:  # two lines for long captions
            cut = label.rfind(" ", 0, 48)
            label = label[:cut] + "\n  " + label[cut + 1:]
        draw.text((4, y + 20), label, fill="black")
        gi = find_item(items, p)
        if gi is not None and enc is not None:
            x = D.to_tensor(images[gi:gi + 1])
            with torch.no_grad():
                rec = decode_pixels(dec.decode_codes(enc.encode_codes(x)))
            sheet.paste(to_img(x[0]), (label_w, y))
            sheet.paste(to_img(rec[0]), (label_w + cell, y))
        for k in range(cols):
            sheet.paste(to_img(px[r * cols + k]), (label_w + cell * (2 + k) + (gap if k >= a.n else 0), y))
    sheet.save(a.out)
    print("wrote", a.out, "(%d prompts x %d samples%s, model %s)"
          % (len(prompts), a.n, ", best %d of %d reranked" % (K, M) if K else "", info["path"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
