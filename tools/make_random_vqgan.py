#!/usr/bin/python3
"""Writes a model file with a random-weight VQGAN (docs/model-format.md §8.2): at a released model's sizes, for
timing the engine's VQGAN (bench/bench_vqgan.c; speed does not depend on the weights' values), or tiny, next to
another file's transformer (--attach), for testing generation through a VQGAN.

  make_random_vqgan.py OUT.gguf [--config f16|sber-f8|tiny] [--f32] [--no-encoder] [--seed S] [--attach T.gguf]
                      [--num-res-blocks N] [--goldens G.gguf]

Configs (tools/dallevk/vqgan.py; the released models' sizes): f16 = taming's / minDALL-E's
VQGAN (ch 128, ch_mult 1,1,2,2,4, attention at the 16x16 latent, 16384 codes, 256 px); sber-f8 = ruDALL-E's
Gumbel VQGAN (ch_mult 1,1,2,4, attention at the 32x32 latent, 8192 codes, 256 px); tiny = ch 32, ch_mult 1,1,
one res block, attention at level 1, z_channels = embed_dim = 8. --attach copies every key and tensor of T.gguf
except its dvae.* ones and sizes the VQGAN to T's grid and image vocabulary (resolution = 2^(L-1) * dalle.grid,
n_embed = dalle.image_vocab). --num-res-blocks overrides the config's (fewer: a faster full-size check).
--goldens also writes, in the layout of tests/data/taming_vqgan's goldens (tests/test_vqgan.c reads them),
dec.codes [1, G, G] (seeded random codes, as f32) and dec.output [1, 3, R, R]: the reference's decoder output
computed from the weights as stored (f16 included), in float64. Tensors of 2+ dims are f16 unless --f32;
PyTorch's default initialisation.
"""
import argparse
import dataclasses
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dallevk import vqgan as V  # noqa: E402
from dallevk.gguf import GGMLType, GGUFReader, GGUFValueType, GGUFWriter, copy_fields  # noqa: E402

CONFIGS = {
    "f16": V.VqganConfig(),
    "sber-f8": V.VqganConfig(ch_mult=(1, 1, 2, 4), attn_levels=(3,), n_embed=8192, quantizer="gumbel"),
    "tiny": V.VqganConfig(ch=32, ch_mult=(1, 1), num_res_blocks=1, attn_levels=(1,), resolution=16, z_channels=8,
                          embed_dim=8, n_embed=64),
}


def copy_section(w, path):
    """Copies path's keys and tensors except dvae.* into the writer; returns its (grid, image_vocab)."""
    r = GGUFReader(path)
    copy_fields(w, r, lambda key: not key.startswith("dvae.") and key not in ("general.name", "general.file_type"))
    for name, t in r.tensors.items():
        if not name.startswith("dvae."):
            w.add_tensor(name, t.data, "f16" if t.type == GGMLType.F16 else "f32")
    return int(r.get("dalle.grid")), int(r.get("dalle.image_vocab"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="f16")
    ap.add_argument("--f32", action="store_true", help="store every tensor as f32")
    ap.add_argument("--no-encoder", action="store_true")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--attach", metavar="T.gguf", help="copy this file's transformer, tokenizer and reranker")
    ap.add_argument("--num-res-blocks", type=int, help="override the config's")
    ap.add_argument("--goldens", metavar="G.gguf", help="also write decoder goldens (see above)")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    cfg = CONFIGS[a.config]
    if a.num_res_blocks is not None:
        cfg = dataclasses.replace(cfg, num_res_blocks=a.num_res_blocks)
    w = GGUFWriter()
    if a.attach:
        grid, vocab = copy_section(w, a.attach)
        cfg = dataclasses.replace(cfg, resolution=grid << (cfg.levels - 1), n_embed=vocab)
    else:
        w.add_string("general.architecture", "dalle")
    model = V.Vqgan(cfg, with_encoder=not a.no_encoder)
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
    if a.goldens:
        write_goldens(a.out, a.goldens, a.seed)


@torch.no_grad()
def write_goldens(model_path, out, seed):
    vq = V.from_gguf(GGUFReader(model_path), dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, vq.cfg.n_embed, (1, vq.cfg.grid, vq.cfg.grid), generator=g)
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.description", "goldens of tools/dallevk/vqgan.py on %s" % os.path.basename(model_path))
    w.add_tensor("dec.codes", codes.float().numpy(), "f32")
    w.add_tensor("dec.output", vq.decode_codes(codes).float().numpy(), "f32")
    w.write(out)
    print("wrote %s" % out)


if __name__ == "__main__":
    main()
