#!/usr/bin/python3
"""Writes a random-weight model file with the default model's sizes (docs/training-log.md), for timing the
engine before (or besides) a trained model: speed does not depend on the weights' values.

  make_random_model.py OUT.gguf [--f16] [--seed S] [--option FIELD=VALUE ...]

Sizes: transformer text_len 32, text_vocab 1536, grid 16, image_vocab 512, d_model 256, 4 heads,
6 layers (paper schedule), d_ff 1024, conv 5 clamped; dVAE group_count 3, n_hid 32, 1 block per group,
n_init 128, 64x64 pixels. Weights as tools/make_goldens.py draws them (activations O(1)); the BPE merges
are arbitrary letter pairs. The images are noise: never use the file for anything but timing.
--option sets an architecture option of docs/model-format.md §2 by its DalleConfig field (image_start=false,
image_pos=linear, norm=sandwich, gelu=tanh, final_norms=2, attn_out_clamp=65504, mask_image0=32), e.g. for a
ruDALL-E-like layout: --option image_start=false --option norm=sandwich --option gelu=tanh --option final_norms=2.
"""
import argparse
import os
import sys

import torch

from dallevk.dvae import Decoder, DvaeConfig
from dallevk.export import TRANSFORMER_OPTIONS, check_options, export
from dallevk.random_init import randomize
from dallevk.transformer import Dalle, DalleConfig

DALLE = dict(text_len=32, text_vocab=1536, grid=16, image_vocab=512, d_model=256, n_heads=4, n_layers=6, d_ff=1024,
             conv_kernel=5, conv_wrap=False)
DVAE = dict(group_count=3, n_hid=32, n_blk_per_group=1, vocab_size=512, n_init=128, image_size=64)


def parse_option(text):
    """'field=value' -> (field, value typed as the option's default); SystemExit naming the option when bad."""
    field, _, value = text.partition("=")
    for _, f, _, default, _ in TRANSFORMER_OPTIONS:
        if f == field:
            if isinstance(default, bool):
                if value not in ("true", "false"):
                    raise SystemExit("make_random_model: --option %s must be true or false" % field)
                return field, value == "true"
            try:
                return field, type(default)(value)
            except ValueError:
                raise SystemExit("make_random_model: --option %s=%r is not a %s"
                                 % (field, value, type(default).__name__))
    raise SystemExit("make_random_model: unknown --option %r (fields: %s)"
                     % (field, ", ".join(f for _, f, _, _, _ in TRANSFORMER_OPTIONS)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--f16", action="store_true", help="store tensors of 2+ dims as f16")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--option", action="append", default=[], metavar="FIELD=VALUE",
                    help="an architecture option (docs/model-format.md §2), by its DalleConfig field")
    a = ap.parse_args(argv)
    g = torch.Generator().manual_seed(a.seed)
    options = dict(parse_option(o) for o in a.option)

    def fail(msg):
        raise SystemExit("make_random_model: " + msg)
    check_options(dict(DALLE, **options), fail)
    cfg, vcfg = DalleConfig(**DALLE, **options), DvaeConfig(**DVAE)
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
