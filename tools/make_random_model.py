#!/usr/bin/python3
"""Writes a random-weight model file with the default model's sizes (docs/training-log.md), for timing the
engine before (or besides) a trained model: speed does not depend on the weights' values.

  make_random_model.py OUT.gguf [--f16] [--seed S]

Sizes: transformer text_len 32, text_vocab 1536, grid 16, image_vocab 512, d_model 256, 4 heads,
6 layers (paper schedule), d_ff 1024, conv 5 clamped; dVAE group_count 3, n_hid 32, 1 block per group,
n_init 128, 64x64 pixels. Weights as tools/make_goldens.py draws them (activations O(1)); the BPE merges
are arbitrary letter pairs. The images are noise: never use the file for anything but timing.
"""
import argparse
import os
import sys

import torch

from dallevk.dvae import Decoder, DvaeConfig
from dallevk.export import export
from dallevk.random_init import randomize
from dallevk.transformer import Dalle, DalleConfig

DALLE = dict(text_len=32, text_vocab=1536, grid=16, image_vocab=512, d_model=256, n_heads=4, n_layers=6, d_ff=1024,
             conv_kernel=5, conv_wrap=False)
DVAE = dict(group_count=3, n_hid=32, n_blk_per_group=1, vocab_size=512, n_init=128, image_size=64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--f16", action="store_true", help="store tensors of 2+ dims as f16")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args(argv)
    g = torch.Generator().manual_seed(a.seed)
    cfg, vcfg = DalleConfig(**DALLE), DvaeConfig(**DVAE)
    dalle, dec = Dalle(cfg).double(), Decoder(vcfg).double()
    randomize(dalle, g)
    randomize(dec, g)
    merges = [(97 + i % 26, 97 + (i * 11 + i // 26) % 26) for i in range(100)]
    export(a.out, dalle=(cfg.to_dict(), {k: v.float() for k, v in dalle.state_dict().items()}),
           dvae=(vcfg.to_dict(), {k: v.float() for k, v in dec.state_dict().items()}, None),
           merges=merges, f16=a.f16, encoder=False, name="random-weights-default-sizes",
           license="test data", description="random weights for timing only (tools/make_random_model.py)")
    print("wrote %s (%.1f MiB)" % (a.out, os.path.getsize(a.out) / 2**20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
