#!/usr/bin/python3
"""Writes a VQGAN-only model file (docs/model-format.md §8.2) with random weights at a released model's
sizes, for timing the engine's VQGAN (bench/bench_vqgan.c): speed does not depend on the weights' values.

  make_random_vqgan.py OUT.gguf [--config f16|sber-f8] [--f32] [--no-encoder] [--seed S]

Configs (tools/dallevk/vqgan.py, ../shared/reference/public-checkpoints.md §3): f16 = taming's / minDALL-E's
VQGAN (ch 128, ch_mult 1,1,2,2,4, attention at the 16x16 latent, 16384 codes, 256 px); sber-f8 = ruDALL-E's
Gumbel VQGAN (ch_mult 1,1,2,4, attention at the 32x32 latent, 8192 codes, 256 px). Tensors of 2+ dims are f16
unless --f32; PyTorch's default initialisation. The images are noise: use the file for timing only.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dallevk import vqgan as V  # noqa: E402
from dallevk.gguf import GGUFValueType, GGUFWriter  # noqa: E402

CONFIGS = {
    "f16": V.VqganConfig(),
    "sber-f8": V.VqganConfig(ch_mult=(1, 1, 2, 4), attn_levels=(3,), n_embed=8192, quantizer="gumbel"),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="f16")
    ap.add_argument("--f32", action="store_true", help="store every tensor as f32")
    ap.add_argument("--no-encoder", action="store_true")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    cfg = CONFIGS[a.config]
    model = V.Vqgan(cfg, with_encoder=not a.no_encoder)
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.name", "random-vqgan-" + a.config)
    w.add_uint32("general.file_type", 0 if a.f32 else 1)
    for key, field, vtype in V.GGUF_KEYS:
        value = getattr(cfg, field)
        if vtype == "array_uint32":
            w.add_array(key, list(value), GGUFValueType.UINT32)
        else:
            getattr(w, "add_" + vtype)(key, value)
    w.add_bool("vqgan.has_encoder", not a.no_encoder)
    for name, t in model.state_dict().items():
        w.add_tensor(V.PREFIX + name, t.numpy(), "f32" if a.f32 or t.dim() < 2 else "f16")
    w.write(a.out)
    print("wrote %s (%s, %s)" % (a.out, a.config, "f32" if a.f32 else "f16"))


if __name__ == "__main__":
    main()
