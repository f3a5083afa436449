#!/usr/bin/python3
"""Caption -> image retrieval of reranker checkpoints on a seeded sample of one split's images (each image's first
caption; whole images and the row prefixes the engine prunes on), e.g. to see what a reranker run learned of its
training images (train_clip.py logs the held-out split only).

  clip_retrieval.py CKPT.pt [CKPT.pt ...] [--split train|val|zeroshot] [--n 512] [--seed 7] [--dalle shipped_dalle]

--dalle: the transformer run whose bpe.json and codes.npy the rerankers were trained on (tools/train_clip.py).
Prints top-1 / top-5 among the --n images for rows 0-1, 0-3, 0-7 and the whole image (rows 0-15 of 16).
"""
import argparse
import os

import numpy as np
import torch

from dallevk import data as D
from dallevk import training as TR
from dallevk.bpe import BPE
from dallevk.clip import Clip, ClipConfig, retrieval


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ckpt", nargs="+", help="final.pt or ckpt.pt of tools/train_clip.py runs")
    ap.add_argument("--split", default="train", choices=["train", "val", "zeroshot"])
    ap.add_argument("--n", type=int, default=512, help="images drawn from the split (without replacement)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dalle", default="shipped_dalle")
    a = ap.parse_args()
    torch.set_num_threads(1)
    _, items = D.load_dataset()
    run = os.path.join(D.run_root(), a.dalle)
    codes = np.load(os.path.join(run, "codes.npy"))
    tok = BPE.load(os.path.join(run, "bpe.json"))
    pool = D.split_indices(items, a.split)
    idx = np.sort(np.random.default_rng(a.seed).choice(pool, min(a.n, len(pool)), replace=False))
    c = torch.from_numpy(codes[idx].reshape(len(idx), -1).astype(np.int64))
    for path in a.ckpt:
        st = torch.load(path, map_location="cpu")
        cfg = ClipConfig(**st["config"])
        model = Clip(cfg)
        model.load_state_dict(st["model"])
        t = TR.text_batch(tok, [items[i]["captions"][0] for i in idx], cfg)
        G = cfg.grid
        with torch.no_grad():
            rows = [(r, retrieval(model, t, c, row=r)) for r in (1, 3, 7, G - 1)]
        print("%s: %s %d images: %s" % (path, a.split, len(idx), ", ".join(
            "rows 0-%d top-1 %.3f top-5 %.3f" % (r, q["top1"], q["top5"]) for r, q in rows)), flush=True)


if __name__ == "__main__":
    main()
