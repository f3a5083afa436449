#!/usr/bin/python3
"""Export trained PyTorch checkpoints to one dalle-vk model file (GGUF v3, docs/model-format.md).

Inputs (any subset, at least one):
  --dalle CKPT   torch.save'd dict with "config" (DalleConfig fields) and the Dalle state_dict under
                 "model" (or "dalle" / "state_dict"); tools/dallevk/transformer.py
  --dvae CKPT    the dVAE checkpoint of tools/train_dvae.py: {"config", "decoder", "encoder"}
  --bpe FILE     the BPE JSON of tools/dallevk/bpe.py ({"format": "dalle-vk-bpe-1", "merges"})
  --clip CKPT    the reranker checkpoint of tools/train_clip.py: {"config" (ClipConfig fields), "model"};
                 needs --dalle (its text_len / text_vocab / grid / image_vocab must match)
  --from-gguf FILE  instead of checkpoints: a dalle-vk model file, written again with --type's tensor types
                 (its own types: the tensors byte-identical), with any of --cond-scale, --temperature, --top-p,
                 --name, --license, --description set (the other keys kept)
Options: --type f16 (= --f16) stores every tensor of 2+ dims as f16 (1-D tensors stay f32); --type q8_0 also
stores 2-D tensors whose last dim is a multiple of 32 as q8_0 (ggml's 8-bit blocks); default f32;
--no-encoder leaves the dVAE encoder out; --name/--license/--description fill general.*.

Tensor names and the checks on them: tools/dallevk/export.py.
Usage: /usr/bin/python3 tools/export_gguf.py --dalle run/final.pt --dvae dvae/final.pt
         --bpe bpe.json [--clip clip/final.pt] -o assets/model.gguf [--type f16|q8_0]
       /usr/bin/python3 tools/export_gguf.py --from-gguf assets/dalle-emoji.gguf --type q8_0 -o emoji-q8_0.gguf
       /usr/bin/python3 tools/export_gguf.py --from-gguf assets/dalle-emoji.gguf --type f16 --top-p 0.5 -o new.gguf
"""
import argparse
import os
import sys

from dallevk.bpe import BPE
from dallevk.export import export, load_checkpoint, model_state, reencode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dalle", help="transformer checkpoint (.pt)")
    ap.add_argument("--dvae", help="dVAE checkpoint (.pt) from tools/train_dvae.py")
    ap.add_argument("--bpe", help="BPE merges (JSON) from tools/dallevk/bpe.py")
    ap.add_argument("--clip", help="reranker checkpoint (.pt) from tools/train_clip.py (needs --dalle)")
    ap.add_argument("-o", "--out", required=True, help="output .gguf")
    ap.add_argument("--from-gguf", help="a dalle-vk model file to write again with --type's tensor types")
    ap.add_argument("--f16", action="store_true", help="store tensors of 2+ dims as f16 (= --type f16)")
    ap.add_argument("--type", choices=("f32", "f16", "q8_0"),
                    help="tensor types: f32; f16 (2+ dims); q8_0 (2-D with a last dim that is a multiple of 32, "
                         "other 2+ dims f16); 1-D tensors are always f32 (default f32, or f16 with --f16)")
    ap.add_argument("--no-encoder", action="store_true", help="leave the dVAE encoder out")
    ap.add_argument("--cond-scale", type=float,
                    help="recommended classifier-free guidance scale (dalle.cond_scale; for a transformer "
                         "trained with empty captions, train_dalle.py --null-cond-prob)")
    ap.add_argument("--temperature", type=float, help="recommended sampling temperature (dalle.temperature)")
    ap.add_argument("--top-p", type=float, help="recommended nucleus sampling mass (dalle.top_p)")
    ap.add_argument("--decoding", choices=("sample", "beam"), help="recommended decoding (dalle.decoding)")
    ap.add_argument("--beam-width", type=int, help="recommended candidates with beam search (dalle.beam_width)")
    ap.add_argument("--beam-sampled-rows", type=int,
                    help="recommended image rows sampled before the beam search (dalle.beam_sampled_rows)")
    ap.add_argument("--prune-rows", type=lambda v: [int(x) for x in v.split(",")],
                    help="recommended rows (0-based, comma-separated) after which the reranker prunes candidates "
                         "during sampling (clip.prune_rows); the reranker should be trained with "
                         "train_clip.py --prefix-weight")
    ap.add_argument("--name")
    ap.add_argument("--license")
    ap.add_argument("--description")
    a = ap.parse_args(argv)
    dtype = a.type or ("f16" if a.f16 else "f32")
    if a.from_gguf:
        if a.dalle or a.dvae or a.bpe or a.clip or a.prune_rows or a.no_encoder:
            ap.error("--from-gguf takes no checkpoints, --prune-rows or --no-encoder")
        n = reencode(a.from_gguf, a.out, dtype, name=a.name, license=a.license, description=a.description,
                     cond_scale=a.cond_scale, temperature=a.temperature, top_p=a.top_p, decoding=a.decoding,
                     beam_width=a.beam_width, beam_sampled_rows=a.beam_sampled_rows)
        print("export_gguf: wrote %s (%d tensors, %s, %.1f MiB)" % (a.out, n, dtype, os.path.getsize(a.out) / 2**20))
        return 0
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
    n = export(a.out, dalle, dvae, merges, dtype=dtype, encoder=not a.no_encoder, name=a.name,
               license=a.license, description=a.description, clip=clip, cond_scale=a.cond_scale,
               temperature=a.temperature, top_p=a.top_p, prune_rows=a.prune_rows, decoding=a.decoding,
               beam_width=a.beam_width, beam_sampled_rows=a.beam_sampled_rows)
    print("export_gguf: wrote %s (%d tensors, %.1f MiB)" % (a.out, n, os.path.getsize(a.out) / 2**20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
