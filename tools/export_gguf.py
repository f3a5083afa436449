#!/usr/bin/python3
"""Export trained PyTorch checkpoints to one dalle-vk model file (GGUF v3, docs/model-format.md).

Inputs (any subset, at least one):
  --dalle CKPT   torch.save'd dict with "config" (DalleConfig fields) and the Dalle state_dict under
                 "model" (or "dalle" / "state_dict"); tools/dallevk/transformer.py
  --dvae CKPT    the dVAE checkpoint of tools/train_dvae.py: {"config", "decoder", "encoder"}
  --bpe FILE     the BPE JSON of tools/dallevk/bpe.py ({"format": "dalle-vk-bpe-1", "merges"})
  --clip CKPT    the reranker checkpoint of tools/train_clip.py: {"config" (ClipConfig fields), "model"};
                 needs --dalle (its text_len / text_vocab / grid / image_vocab must match)
Options: --f16 stores every tensor of 2+ dims as f16 (1-D tensors stay f32); --no-encoder leaves
the dVAE encoder out; --name/--license/--description fill general.*.

Tensor names and the checks on them: tools/dallevk/export.py.
Usage: /usr/bin/python3 tools/export_gguf.py --dalle run/final.pt --dvae dvae/final.pt
         --bpe bpe.json [--clip clip/final.pt] -o assets/model.gguf [--f16]
"""
import argparse
import os
import sys

from dallevk.bpe import BPE
from dallevk.export import export, load_checkpoint, model_state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dalle", help="transformer checkpoint (.pt)")
    ap.add_argument("--dvae", help="dVAE checkpoint (.pt) from tools/train_dvae.py")
    ap.add_argument("--bpe", help="BPE merges (JSON) from tools/dallevk/bpe.py")
    ap.add_argument("--clip", help="reranker checkpoint (.pt) from tools/train_clip.py (needs --dalle)")
    ap.add_argument("-o", "--out", required=True, help="output .gguf")
    ap.add_argument("--f16", action="store_true", help="store tensors of 2+ dims as f16")
    ap.add_argument("--no-encoder", action="store_true", help="leave the dVAE encoder out")
    ap.add_argument("--cond-scale", type=float,
                    help="recommended classifier-free guidance scale (dalle.cond_scale; for a transformer "
                         "trained with empty captions, train_dalle.py --null-cond-prob)")
    ap.add_argument("--temperature", type=float, help="recommended sampling temperature (dalle.temperature)")
    ap.add_argument("--top-p", type=float, help="recommended nucleus sampling mass (dalle.top_p)")
    ap.add_argument("--prune-rows", type=lambda v: [int(x) for x in v.split(",")],
                    help="recommended rows (0-based, comma-separated) after which the reranker prunes candidates "
                         "during sampling (clip.prune_rows); the reranker should be trained with "
                         "train_clip.py --prefix-weight")
    ap.add_argument("--name")
    ap.add_argument("--license")
    ap.add_argument("--description")
    a = ap.parse_args(argv)
    dalle = dvae = merges = clip = None
    if a.dalle:
        ck = load_checkpoint(a.dalle)
        dalle = (dict(ck["config"]), model_state(ck))
    if a.dvae:
        ck = load_checkpoint(a.dvae)
        dvae = (dict(ck["config"]), ck["decoder"], ck.get("encoder"))
    if a.bpe:
        merges = BPE.load(a.bpe).merges
    if a.clip:
        ck = load_checkpoint(a.clip)
        clip = (dict(ck["config"]), model_state(ck))
    n = export(a.out, dalle, dvae, merges, f16=a.f16, encoder=not a.no_encoder, name=a.name,
               license=a.license, description=a.description, clip=clip, cond_scale=a.cond_scale,
               temperature=a.temperature, top_p=a.top_p, prune_rows=a.prune_rows)
    print("export_gguf: wrote %s (%d tensors, %.1f MiB)" % (a.out, n, os.path.getsize(a.out) / 2**20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
