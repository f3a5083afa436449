#!/usr/bin/python3
"""Milliseconds per image token at the sizes of the public DALL-E transformers, random weights, every layer.

  bench_public_sizes.py [--model malevich minidalle mini mega] [--type f16] [--layers L] [--steps S]
                        [--cache DIR] [--bench build/bench/dalle-vk-bench] [--make-only]

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
  mini       DALL-E Mini: 12 decoder layers x d_model 1024, 16 heads, GLU 2730, T 64, G 16, image vocab 16384,
             text vocab 50264 (docs/model-format.md §9)
  mega       DALL-E Mega: 24 decoder layers x d_model 2048, 32 heads, GLU 4096, text vocab 50272
mini and mega are written as min-dalle's files (tools/dallevk/random_init.py min_dalle_files) and converted by
tools/convert.py dalle-mini (needs torch), with 1 encoder layer (a decode step does not read the encoder) and
4 decoder layers (--layers: another count); each such run prints a second row scaled to the full decoder:
every time and the bound times (bytes read per full step) / (bytes read per measured step), the bytes of a layer
and of the image logits being those of the measured file (a step of these models is its weight read: the
attention reads at most 256 keys of the image and the 64 of the text).
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
import tempfile

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
# DALL-E Mini / Mega: the full shape (n_layers = the decoder's), rows = decoder embedding rows min-dalle ships
BART_SIZES = {
    "mini": dict(d_model=1024, n_heads=16, d_ff=2730, text_vocab=50264, rows=16385, n_layers=12),
    "mega": dict(d_model=2048, n_heads=32, d_ff=4096, text_vocab=50272, rows=16416, n_layers=24),
}
BART_BENCH_LAYERS = 4
IMAGE_CODES = 16384  # columns of the image logits (Mini and Mega)
BYTES_PER_WEIGHT = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32}
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


def write_bart_model(path, shape, layers, dtype):
    """A DALL-E Mini / Mega file: min-dalle's files at shape with 1 encoder and `layers` decoder layers, converted."""
    import torch  # only these models need it

    from dallevk.convert import cli
    from dallevk.random_init import min_dalle_files
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        min_dalle_files(tmp, dict(shape, enc_layers=1, n_layers=layers), torch.Generator().manual_seed(20261207))
        if cli.main(["dalle-mini", tmp, "--n-heads", str(shape["n_heads"]), "--type", dtype, "-o", path]):
            raise SystemExit("bench_public_sizes: tools/convert.py dalle-mini failed")


def scaled_row(line, model, dtype, layers):
    """The bench's table row of a file with `layers` decoder layers, scaled to the model's full decoder."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    full, d = BART_SIZES[model]["n_layers"], BART_SIZES[model]["d_model"]
    mib = float(cells[2])
    head = IMAGE_CODES * d * BYTES_PER_WEIGHT[dtype] / (1 << 20)  # the image logits matrix
    k = (head + (mib - head) * full / layers) / mib
    v = [float(c) for c in cells[3:]]
    return "| %s (%d x %d), scaled from %d layers | %s | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f | %.1f |" % (
        model, full, d, layers, cells[1], mib * k, v[0] * k, v[1] * k, v[2], v[3] * k, v[4] * k, v[5])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", nargs="+", choices=sorted(SIZES) + sorted(BART_SIZES),
                    default=["malevich", "minidalle", "mini", "mega"])
    ap.add_argument("--type", default="f16", help="weight type of the matrices: f16 (default), f32 or q8_0")
    ap.add_argument("--layers", type=int, help="layers (default: the model's; mini, mega: %d decoder layers)"
                    % BART_BENCH_LAYERS)
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
        if m in BART_SIZES:
            layers = a.layers or BART_BENCH_LAYERS
        else:
            cfg = dict(SIZES[m], n_layers=a.layers or SIZES[m]["n_layers"])
            layers = cfg["n_layers"]
        path = os.path.join(a.cache, "random-%s-L%d-%s.gguf" % (m, layers, a.type))
        if not os.path.exists(path):
            print("writing %s ..." % path, flush=True)
            try:
                if m in BART_SIZES:
                    write_bart_model(path, BART_SIZES[m], layers, a.type)
                else:
                    write_model(path, cfg, a.type)
            except GGUFError as e:
                raise SystemExit("bench_public_sizes: cannot write %s weights: %s" % (a.type, e))
        print("%s: %s (%.2f GB)" % (m, path, os.path.getsize(path) / 1e9), flush=True)
        paths.append((path, layers))
    if a.make_only:
        return 0
    if not os.path.exists(a.bench):
        raise SystemExit("bench_public_sizes: no %s (cmake --build build --target dalle-vk-bench)" % a.bench)
    for m, (path, layers) in zip(a.model, paths):
        print("\n%s, %s, N = 1, %d steps:" % (m, a.type, a.steps), flush=True)
        r = subprocess.run([a.bench, "decode", "--model", path, "--batch", "1", "--steps", str(a.steps)],
                           stdout=subprocess.PIPE, universal_newlines=True)
        print(r.stdout, end="", flush=True)
        if r.returncode:
            return r.returncode
        if m in BART_SIZES and layers != BART_SIZES[m]["n_layers"]:
            for line in r.stdout.splitlines():
                if line.startswith("| file "):
                    print(scaled_row(line, m, a.type, layers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
