#!/usr/bin/python3
"""Turn a model file (GGUF) back into training run dirs, so that the training scripts can continue it.

The shipped model's training runs are not kept; this rebuilds what the training scripts read, from the file:
  <run root>/<prefix>_dvae/final.pt    dVAE encoder + decoder + config (the file's f16 weights as float32)
  <run root>/<prefix>_dalle/final.pt   transformer weights + config + BPE merges, dvae = <prefix>_dvae
  <run root>/<prefix>_dalle/bpe.json   the file's BPE merges
  <run root>/<prefix>_dalle/codes.npy  argmax codes int16 [N, G, G] of every dataset image (the file's encoder)
  <run root>/<prefix>_clip/final.pt    the reranker's weights + config + BPE merges, dalle = <prefix>_dalle
No optimizer state is in a model file: a continuation starts a fresh AdamW, e.g. the transformer with
  tools/train_dalle.py --name ft --grow-from <prefix>_dalle --lr 1e-4 ...   (same d_ff: nothing is widened)
The text-prediction head (training only, not in the file) starts at zero. Codes can differ from those the
model was trained on where the f16 encoder's argmax differs from the float32 one's.
Usage: /usr/bin/python3 tools/runs_from_gguf.py [--model assets/dalle-emoji.gguf] [--prefix shipped]
Run root: ~/.cache/dalle-vk/runs (env DVK_RUN_DIR); dataset: tools/fetch_emoji.py (env DVK_DATA_DIR).
"""
import argparse
import os
import sys

import numpy as np
import torch

from dallevk import data as D
from dallevk.from_gguf import load_model


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(here, "..", "assets", "dalle-emoji.gguf"))
    ap.add_argument("--prefix", default="shipped")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    m = load_model(a.model)
    if m.dalle is None or m.encoder is None or m.bpe is None or m.clip is None:
        raise SystemExit("runs_from_gguf: %s needs a transformer, a dVAE with its encoder, BPE merges and a "
                         "reranker" % a.model)
    names = {p: "%s_%s" % (a.prefix, p) for p in ("dvae", "dalle", "clip")}
    dirs = {p: os.path.join(D.run_root(), n) for p, n in names.items()}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    merges = [list(x) for x in m.bpe.merges]
    src = {"from_gguf": os.path.abspath(a.model)}

    D.atomic_save({"config": m.dvae_cfg.to_dict(), "encoder": m.encoder.state_dict(),
                   "decoder": m.decoder.state_dict(), "args": src, "metrics": {}},
                  os.path.join(dirs["dvae"], "final.pt"))
    m.bpe.save(os.path.join(dirs["dalle"], "bpe.json"))
    images, _ = D.load_dataset()
    codes = D.encode_images(m.encoder, images).astype(np.int16)
    np.save(os.path.join(dirs["dalle"], "codes.tmp.npy"), codes)
    os.replace(os.path.join(dirs["dalle"], "codes.tmp.npy"), os.path.join(dirs["dalle"], "codes.npy"))
    D.atomic_save({"model": m.dalle.state_dict(), "config": m.dalle.cfg.to_dict(), "bpe_merges": merges,
                   "dvae": names["dvae"], "dvae_config": m.dvae_cfg.to_dict(),
                   "args": dict(src, dvae=names["dvae"]), "metrics": {}},
                  os.path.join(dirs["dalle"], "final.pt"))
    D.atomic_save({"model": m.clip.state_dict(), "config": m.clip.cfg.to_dict(), "bpe_merges": merges,
                   "dalle": names["dalle"], "args": dict(src, dalle=names["dalle"]), "metrics": {}},
                  os.path.join(dirs["clip"], "final.pt"))
    print("runs_from_gguf: %s -> %s (codes %s)" % (a.model, ", ".join(dirs.values()), codes.shape))
    return 0


if __name__ == "__main__":
    sys.exit(main())
