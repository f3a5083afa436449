#!/usr/bin/python3
"""Milliseconds per image token at the sizes of the public DALL-E transformers, random weights, every layer.

  bench_public_sizes.py [--model malevich minidalle] [--type f16] [--layers L] [--steps S] [--cache DIR]
                        [--bench build/bench/dalle-vk-bench] [--make-only]

For each model it writes (once; reused when present) a random-weight file of that size in the cache dir
(default $XDG_CACHE_HOME/dalle-vk/bench, else ~/.cache/dalle-vk/bench), then runs
`dalle-vk-bench decode --model FILE --batch 1 --steps S` (bench/bench_decode.c): the prefill of the T text
positions, 2 warm-up steps, S timed decode steps of one candidate, and the weight-read bound (the bytes every
step reads / this machine's measured streaming bandwidth) in the same run.

Sizes (docs/benchmarks.md):
  malevich   ruDALL-E Malevich: 24 layers x d_model 2048, 16 heads, d_ff 8192, T 128, G 32, image vocab 8192,
             text vocab 16384 (+128 pad rows); about 2.5 GB at f16
  minidalle  minDALL-E 1.3B: 42 layers x d_model 1536, 24 heads, d_ff 6144, T 64, G 16, image vocab 16384,
             text vocab 16384; about 2.4 GB at f16
The files carry each model's architecture options as its converted file does (docs/model-format.md §2:
Malevich sandwich LayerNorms, tanh GELU, two final norms, the clamp, no start token, ruDALL-E's row / col /
conv schedule; minDALL-E pre-LN, linear image positions, full attention, no start token). The image decoder is
a tiny dVAE (the bench loads only the transformer). --layers L writes a file with L layers instead (for
loading tests).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

from dallevk.export import (TRANSFORMER_KEYS, TRANSFORMER_OPTIONS, add_dvae, add_tokenizer, dvae_decoder_schema,
                            option, transformer_table)
from dallevk.gguf import GGUFError, GGUFValueType as T, GGUFWriter, tensor_type

SIZES = {
    "malevich": dict(text_len=128, text_vocab=16384, grid=32, image_vocab=8192, d_model=2048, n_heads=16,
                     n_layers=24, d_ff=8192, ln_eps=1e-5, conv_kernel=11, conv_wrap=False, schedule="rudalle",
                     image_start=False, norm="sandwich", gelu="tanh", final_norms=2, attn_out_clamp=65504.0),
    "minidalle": dict(text_len=64, text_vocab=16384, grid=16, image_vocab=16384, d_model=1536, n_heads=24,
                      n_layers=42, d_ff=6144, ln_eps=1e-5, conv_kernel=5, conv_wrap=False, schedule="full",
                      image_start=False, image_pos="linear"),
}
POOL = np.random.default_rng(20261207).standard_normal(1 << 20).astype(np.float32)  # values repeat: timing only


def attn_types(cfg):
    L = cfg["n_layers"]
    if cfg["schedule"] == "full":
        return ["full"] * L
    return ["col" if i % 4 == 1 else "conv" if i + 1 == L else "row" for i in range(L)]  # ruDALL-E's schedule


def random_tensor(gguf_name, shape):
    """O(1) activations: matrices scaled by 1 / sqrt(fan-in), LayerNorm weights near 1, biases small."""
    a = np.resize(POOL, shape)
    if len(shape) == 2:
        return a * np.float32(1 / np.sqrt(shape[1]))
    is_ln_weight = gguf_name.endswith(("ln1.w", "ln2.w", "post_ln.w", "ln_f.w", "ln_f2.w"))
    return a * np.float32(0.1) + np.float32(1 if is_ln_weight else 0)


def write_model(path, cfg, dtype):
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.name", "random-weights-%s" % os.path.basename(path))
    w.add_string("general.license", "test data")
    for key, field, vt in TRANSFORMER_KEYS:
        w.add_scalar(key, cfg[field], vt)
    for key, field, vt, default, _ in TRANSFORMER_OPTIONS:
        if option(cfg, field) != default:
            w.add_scalar(key, option(cfg, field), vt)
    w.add_array("dalle.attn_types", attn_types(cfg), T.STRING)
    for _, name, shape in transformer_table(cfg):
        w.add_tensor(name, random_tensor(name, shape), tensor_type(dtype, shape))
    vcfg = dict(group_count=2, n_hid=8, n_blk_per_group=1, vocab_size=cfg["image_vocab"], n_init=8,
                input_channels=3, output_channels=3, image_size=2 * cfg["grid"])
    dec = {name: np.resize(POOL, shape) * np.float32(0.1) for name, shape in dvae_decoder_schema(vcfg)}
    for name, arr in add_dvae(w, vcfg, dec, None):
        w.add_tensor(name, arr, "f32")
    add_tokenizer(w, [(97 + i % 26, 97 + (i * 11 + i // 26) % 26) for i in range(100)])
    w.write(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", nargs="+", choices=sorted(SIZES), default=["malevich", "minidalle"])
    ap.add_argument("--type", default="f16", help="weight type of the matrices: f16 (default), f32 or q8_0")
    ap.add_argument("--layers", type=int, help="layers (default: the model's)")
    ap.add_argument("--steps", type=int, default=4, help="timed decode steps (default 4)")
    default_cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dalle-vk",
                                 "bench")
    ap.add_argument("--cache", default=default_cache, help="where the random files live (default %s)" % default_cache)
    ap.add_argument("--bench", default="build/bench/dalle-vk-bench")
    ap.add_argument("--make-only", action="store_true", help="write the files, print their paths, run nothing")
    a = ap.parse_args(argv)
    if a.layers is not None and a.layers < 1:
        ap.error("--layers must be >= 1")
    os.makedirs(a.cache, exist_ok=True)
    paths = []
    for m in a.model:
        cfg = dict(SIZES[m], n_layers=a.layers or SIZES[m]["n_layers"])
        path = os.path.join(a.cache, "random-%s-L%d-%s.gguf" % (m, cfg["n_layers"], a.type))
        if not os.path.exists(path):
            print("writing %s ..." % path, flush=True)
            try:
                write_model(path, cfg, a.type)
            except GGUFError as e:
                raise SystemExit("bench_public_sizes: cannot write %s weights: %s" % (a.type, e))
        print("%s: %s (%.2f GB)" % (m, path, os.path.getsize(path) / 1e9), flush=True)
        paths.append(path)
    if a.make_only:
        return 0
    if not os.path.exists(a.bench):
        raise SystemExit("bench_public_sizes: no %s (cmake --build build --target dalle-vk-bench)" % a.bench)
    for m, path in zip(a.model, paths):
        print("\n%s, %s, N = 1, %d steps:" % (m, a.type, a.steps), flush=True)
        r = subprocess.run([a.bench, "decode", "--model", path, "--batch", "1", "--steps", str(a.steps)])
        if r.returncode:
            return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
