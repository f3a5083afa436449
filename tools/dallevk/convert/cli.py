"""Command line of tools/convert.py: public checkpoints -> one dalle-vk model file (GGUF).

  convert.py openai-dvae [DIR] [--decoder decoder.pkl] [--encoder encoder.pkl] [--image-size 256] -o dvae.gguf
  convert.py vqgan CKPT_OR_DIR [--no-encoder] [--resolution 256] [--norm-eps 1e-6] [--output-range -1,1] -o vqgan.gguf
  convert.py rudalle MODEL.bin --model Malevich|Malevich_v2|Emojich|Surrealist_XL (or --version v2|v3)
      --vqgan vqgan.gumbelf8-sber.model.ckpt --bpe bpe.model [--n-heads N] -o malevich.gguf
  convert.py mindalle DIR -o mindalle.gguf     # DIR: the unpacked 1.3B.tar.gz
  convert.py dalle-mini DIR [--detoker detoker.pt] [--n-heads N] -o mini.gguf   # DALL-E Mini / Mega (min-dalle)
Common: --type f16 (default: tensors of 2+ dims as f16, 1-D as f32), f32, or q8_0 (as f16, but 2-D tensors whose
last dim is a multiple of 32 as q8_0); --name, --license,
--description fill general.*. Errors name the input file, the key and the expected shape; the exit
status is then 1 and no output file is left behind (it is written to a temp file and renamed).
"""
import argparse
import contextlib
import os
import sys

from ..gguf import GGUFError
from . import ConvertError, min_dalle, mindalle, openai_dvae, rudalle, taming_vqgan
from .plan import write_plan

VQGAN_DIR_FILES = ("stage1_last.ckpt", "last.ckpt", "model.ckpt")  # minDALL-E tarball, taming logs


def _dvae_inputs(a):
    dec, enc = a.decoder, a.encoder
    if a.folder:
        if not os.path.isdir(a.folder):
            raise ConvertError("%s: not a folder (give the files with --decoder / --encoder)" % a.folder)
        dec = dec or os.path.join(a.folder, "decoder.pkl")
        cand = os.path.join(a.folder, "encoder.pkl")
        enc = enc or (cand if os.path.exists(cand) else None)
    if not dec:
        raise ConvertError("openai-dvae: give a folder with decoder.pkl, or --decoder FILE")
    return dec, enc


def _vqgan_input(path):
    if os.path.isdir(path):
        for name in VQGAN_DIR_FILES:
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise ConvertError("%s: a folder without %s" % (path, " / ".join(VQGAN_DIR_FILES)))
    return path


def _range(text):
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LO,HI (e.g. -1,1), got %r" % text) from None
    if not lo < hi:
        raise argparse.ArgumentTypeError("LO must be below HI, got %r" % text)
    return lo, hi


def parser():
    ap = argparse.ArgumentParser(prog="convert.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="family", required=True)
    d = sub.add_parser("openai-dvae", help="OpenAI's dVAE: encoder.pkl / decoder.pkl of openai/DALL-E")
    d.add_argument("folder", nargs="?", help="folder with decoder.pkl (and encoder.pkl)")
    d.add_argument("--decoder", help="decoder.pkl")
    d.add_argument("--encoder", help="encoder.pkl (optional: image prompts)")
    d.add_argument("--image-size", type=int, default=256, help="pixels per side (dvae.image_size; default 256)")
    v = sub.add_parser("vqgan", help="taming-transformers VQGAN .ckpt (taming, minDALL-E stage 1, Gumbel)")
    v.add_argument("ckpt", help=".ckpt file, or a folder with %s" % " / ".join(VQGAN_DIR_FILES))
    v.add_argument("--no-encoder", action="store_true", help="leave the encoder out")
    v.add_argument("--resolution", type=int, default=256, help="training image size (default 256)")
    v.add_argument("--norm-eps", type=float, default=1e-6, help="GroupNorm epsilon (taming: 1e-6)")
    v.add_argument("--output-range", type=_range, default=(-1.0, 1.0),
                   help="decoder output range mapped to pixels 0..1 (taming, minDALL-E, ruDALL-E: -1,1)")
    r = sub.add_parser("rudalle", help="ruDALL-E: transformer .bin + Sber VQGAN .ckpt + YTTM bpe.model")
    r.add_argument("transformer", help="the transformer state_dict (pytorch_model_v3.bin, pytorch_model.bin, ...)")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", choices=sorted(rudalle.MODELS),
                       help="which released model (sets the version: %s)"
                       % ", ".join("%s %s" % kv for kv in sorted(rudalle.MODELS.items())))
    which.add_argument("--version", choices=("v2", "v3"), help="the layout, when --model does not name it")
    r.add_argument("--vqgan", required=True, help="vqgan.gumbelf8-sber.model.ckpt (sberbank-ai/rudalle-utils)")
    r.add_argument("--bpe", required=True, help="bpe.model (YouTokenToMe; shonenkov/rudalle-utils)")
    r.add_argument("--n-heads", type=int, help="attention heads (default d_model / %d: 16 for the 2048-wide models)"
                   % rudalle.HEAD_DIM)
    m = sub.add_parser("mindalle", help="minDALL-E: the folder of the unpacked 1.3B.tar.gz")
    m.add_argument("folder", help="folder with %s" % ", ".join(mindalle.FILES))
    k = sub.add_parser("dalle-mini", help="DALL-E Mini / Mega as kuprel/min-dalle keeps them (encoder.pt, "
                       "decoder.pt, vocab.json, merges.txt, detoker.pt)")
    k.add_argument("folder", help="folder with encoder.pt, decoder.pt, vocab.json, merges.txt "
                   "(dalle_bart_mini / _mega)")
    k.add_argument("--detoker", help="the VQGAN's detoker.pt (default: in the folder or in ../vqgan/)")
    k.add_argument("--n-heads", type=int,
                   help="attention heads (not in the files; default d_model / 64: Mini 16, Mega 32)")
    for p in (d, v, r, m, k):
        p.add_argument("-o", "--out", required=True, help="output .gguf")
        p.add_argument("--type", choices=("f16", "f32", "q8_0"), default="f16",
                       help="tensor type (f16: 2+ dim tensors as f16, 1-D as f32; q8_0: also 2-D tensors with a "
                            "last dim that is a multiple of 32 as q8_0; default f16)")
        p.add_argument("--name")
        p.add_argument("--license")
        p.add_argument("--description")
    return ap


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        with contextlib.ExitStack() as stack:
            if a.family == "openai-dvae":
                dec, enc = _dvae_inputs(a)
                plan = openai_dvae.plan(stack, dec, enc, a.image_size)
                license = a.license or openai_dvae.LICENSE
            elif a.family == "rudalle":
                version = a.version or rudalle.MODELS[a.model]
                plan = rudalle.plan(stack, a.transformer, version, a.vqgan, a.bpe, a.n_heads)
                license = a.license or rudalle.LICENSE
                a.name = a.name or "ruDALL-E %s" % (a.model or version)
            elif a.family == "mindalle":
                plan = mindalle.plan(stack, a.folder)
                license = a.license or mindalle.LICENSE
                a.name = a.name or "minDALL-E"
            elif a.family == "dalle-mini":
                plan, notes = min_dalle.plan(stack, min_dalle.find_inputs(a.folder, a.detoker), a.n_heads)
                for note in notes:
                    print("convert: note: %s" % note)
                license = a.license or min_dalle.LICENSE
                a.name = a.name or min_dalle.model_name(plan)
            else:
                plan = taming_vqgan.plan(stack, _vqgan_input(a.ckpt), not a.no_encoder, a.resolution,
                                         a.norm_eps, a.output_range)
                license = a.license
            n = write_plan(a.out, plan, a.type, a.name, license, a.description)
    except (ConvertError, GGUFError) as e:
        print("convert: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("convert: %s: %s" % (e.filename or a.out, e.strerror), file=sys.stderr)
        return 1
    print("convert: wrote %s (%d tensors, %s, %.2f MiB)" % (a.out, n, a.type, os.path.getsize(a.out) / 2**20))
    return 0
