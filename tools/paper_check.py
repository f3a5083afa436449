#!/usr/bin/python3
"""Full-size transformer checks: writes models with the shapes of the DALL-E paper or a public checkpoint,
random weights and only 1-2 layers, and the PyTorch reference's logits along a fixed code path, for
tests/test_paper.c (ctest label "slow").

  paper_check.py OUT_DIR [--model paper|malevich|malevich-v2|minidalle|mini|mega] [--break FIELD=VALUE]

Models (--model; each writes the cases listed, <case>.gguf + <case>-golden.gguf, and OUT_DIR/cases):
  paper        Ramesh et al. 2021, App. B.1: d_model 3968, 62 heads, T 256, G 32, text vocab 16384 (+256 pads),
               image vocab 8192, start-of-image token, pre-LN, erf GELU. Cases paper-rowcol (row, col) and
               paper-conv (conv 11 clipped); text_emb kept f32 (264 MB, over lavapipe's 128 MiB binding limit);
               prefill + 3 decode steps.
  malevich     ruDALL-E Malevich (v3): d_model 2048, 16 heads, d_ff 8192, T 128, G 32, text vocab 16384
               (+128 pads), image vocab 8192, no start token, sandwich LayerNorm, tanh GELU, two final norms,
               clamp 65504; layers row + conv 11 clipped (ruDALL-E's schedule for 2 layers). Cases malevich
               (f16) and malevich-q8_0 (the same weights as q8_0, compared with the same reference; its bound
               is loose, the error is stated).
  malevich-v2  ruDALL-E v2 (Emojich, Malevich_v2): as malevich with T 129, mask_image0 128, conv window wrapped.
  minidalle    minDALL-E: d_model 1536, 24 heads, d_ff 6144, T 64, G 16, vocabs 16384 / 16384, pre-LN, erf
               GELU, linear image positions, no start token, 2 full-attention layers.
  mini, mega   DALL-E Mini / Mega, the encoder-decoder of docs/model-format.md §9: Mini d_model 1024, 16 heads,
               GLU 2730, text vocab 50264, 2 encoder + 2 decoder layers; Mega d_model 2048, 32 heads, GLU 4096,
               text vocab 50272, 1 encoder + 1 decoder layer; both T 64, G 16, image vocab 16384. Written as
               min-dalle's own files (encoder.pt, decoder.pt: the keys of tests/data/min_dalle's tiny files, every
               dimension scaled to the full shape; its vocab.json, merges.txt and detoker.pt) and converted by
               tools/convert.py dalle-mini --type f16. The reference is tools/dallevk/bart.py on the converted
               file's own values (f32 arithmetic), two rows: a random caption (bos, 40 ids, eos, pads) and its
               unconditional row; the goldens hold both rows' logits at every step (engine order: caption,
               unconditional) and check.cond_scale 16 (min-dalle's super-conditioning factor).
The public shapes run the whole grid: prefill, then all G*G-1 decode steps through the engine's KV cache,
every step's logits compared (the masks at the grid's last rows and columns included). The reference is
Dalle.forward on the whole sequence (no KV cache), float32 on the f16-rounded weights; seed 2021.
--break FIELD=VALUE writes that architecture option into the model file while the reference keeps the
right one (e.g. --model malevich --break gelu=erf): the engine must then fail the check.
For mini / mega FIELD is a dalle.* key of the converted file (e.g. --model mini --break gelu=tanh).
--also-break FIELD=VALUE keeps the right file and writes one with the option beside it as <case>-broken.gguf,
so one reference serves the check that must pass and the one that must fail.
Golden files hold text_ids [T] (mini, mega: [2, T], the caption row then the unconditional row), codes (the
fed image tokens), logits [steps + 1, Vi] (mini, mega: [steps + 1, 2, Vi]) and check.tolerance.
Memory: paper ~6 GB, the public shapes ~2.5 GB, mega ~4 GB.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

from dallevk import bart as B
from dallevk.convert import cli as convert_cli
from dallevk.dvae import Decoder, DvaeConfig
from dallevk.export import add_dvae, add_tokenizer, add_transformer
from dallevk.gguf import GGMLType, GGUFReader, GGUFValueType, GGUFWriter, copy_fields, tensor_type
from dallevk.random_init import min_dalle_files
from dallevk.transformer import Dalle, DalleConfig, pad_text

# Relative logit error. The reference runs on the file's own f16 values, so only f32 arithmetic differs (measured
# <= 2e-6 on lavapipe at every shape); the f16 tolerance of the upstream goldens (3e-3) would pass a broken option
# (tanh GELU for erf: 1.1e-4 at the Malevich and minDALL-E shapes).
SAME_WEIGHTS_TOL = 2e-5
Q8_0_BOUND = 0.1  # a sanity bound for q8_0 weights against the f16 reference; the test prints the error
RUDALLE = dict(text_len=128, text_vocab=16384, grid=32, image_vocab=8192, d_model=2048, n_heads=16, d_ff=8192,
               conv_kernel=11, conv_wrap=False, image_start=False, norm="sandwich", gelu="tanh", final_norms=2,
               attn_out_clamp=65504.0)
# model: (shape and options, {case: (attn_types, file type, tolerance)}, decode steps (None: the whole grid),
#         tensors kept f32)
MODELS = {
    "paper": (dict(text_len=256, text_vocab=16384, grid=32, image_vocab=8192, d_model=3968, n_heads=62,
                   d_ff=4 * 3968, conv_kernel=11, conv_wrap=False),
              {"paper-rowcol": (["row", "col"], "f16", SAME_WEIGHTS_TOL),
               "paper-conv": (["conv"], "f16", SAME_WEIGHTS_TOL)}, 3,
              {"text_emb", "text_pos_emb"}),  # the text tables share a dtype (the embedding op adds them)
    "malevich": (RUDALLE, {"malevich": (["row", "conv"], "f16", SAME_WEIGHTS_TOL),
                           "malevich-q8_0": (["row", "conv"], "q8_0", Q8_0_BOUND)}, None, set()),
    "malevich-v2": (dict(RUDALLE, text_len=129, mask_image0=128, conv_wrap=True),
                    {"malevich-v2": (["row", "conv"], "f16", SAME_WEIGHTS_TOL)}, None, set()),
    "minidalle": (dict(text_len=64, text_vocab=16384, grid=16, image_vocab=16384, d_model=1536, n_heads=24,
                       d_ff=6144, image_start=False, image_pos="linear"),
                  {"minidalle": (["full", "full"], "f16", SAME_WEIGHTS_TOL)}, None, set()),
}

# DALL-E Mini / Mega (docs/model-format.md §9): case -> full shape, shipped decoder rows (min-dalle's files: Mini
# 16385, Mega 16416), layer counts, file type, tolerance
BART_MODELS = {
    "mini": {"mini": (dict(d_model=1024, n_heads=16, d_ff=2730, text_vocab=50264, rows=16385, enc_layers=2,
                           n_layers=2), "f16", SAME_WEIGHTS_TOL)},
    "mega": {"mega": (dict(d_model=2048, n_heads=32, d_ff=4096, text_vocab=50272, rows=16416, enc_layers=1,
                           n_layers=1), "f16", SAME_WEIGHTS_TOL)},
}
COND_SCALE = 16.0  # min-dalle's supercondition_factor


def break_key(path, text, out=None):
    """Rewrites the model file (or writes it to out) with dalle.FIELD = VALUE of --break (typed as the key's
    current value)."""
    field, _, value = text.partition("=")
    r = GGUFReader(path)
    key = "dalle." + field
    if key not in r.fields or not value:
        raise SystemExit("paper_check: --break %r: expected FIELD=VALUE with a dalle.* key of the file" % text)
    f = r.fields[key]
    new = (value == "true") if isinstance(f.value, bool) else type(f.value)(value)
    if new == f.value:
        raise SystemExit("paper_check: --break %s: the model already has %s = %r" % (text, key, f.value))
    w = GGUFWriter()
    copy_fields(w, r, keep=lambda k: k != key)
    if f.type == GGUFValueType.STRING:
        w.add_string(key, new)
    else:
        w.add_scalar(key, new, f.type)
    for name, t in r.tensors.items():
        w.add_tensor(name, t.data, "f16" if t.type == GGMLType.F16 else "f32")
    del r
    w.write(out or path)


def bart_case(out_dir, name, shape, file_type, tol, gen, mutation, also_break=None):
    """One DALL-E Mini / Mega case: min-dalle's files -> tools/convert.py dalle-mini -> NAME.gguf; the reference's
    guided logits along a random code path -> NAME-golden.gguf; with also_break, NAME-broken.gguf too (the same
    file with that option). Returns the decode steps."""
    path = os.path.join(out_dir, name + ".gguf")
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        min_dalle_files(tmp, shape, gen)
        rc = convert_cli.main(["dalle-mini", tmp, "--n-heads", str(shape["n_heads"]), "--type", file_type,
                               "-o", path])
        if rc:
            raise SystemExit("paper_check: tools/convert.py dalle-mini failed on the %s files" % name)
    model = B.from_gguf(GGUFReader(path))  # the file's own (f16) values, f32 arithmetic
    cfg = model.cfg
    caption = [0] + torch.randint(4, cfg.text_vocab, (40,), generator=gen).tolist() + [2]  # bos, ids, eos
    rows = B.text_rows(caption, cfg.text_len, cfg.pad_id)  # [unconditional, caption]
    n = cfg.n_image - 1
    codes = torch.randint(0, cfg.image_vocab, (cfg.n_image,), generator=gen)
    with torch.no_grad():  # one decoder step per token (bart.py's own KV cache, separate from the engine's)
        logits = model.logits_along(rows, codes[None].repeat(2, 1))  # [2, N, Vi]
    del model
    if mutation:
        break_key(path, mutation)
    if also_break:
        break_key(path, also_break, os.path.join(out_dir, name + "-broken.gguf"))
    g = GGUFWriter()
    g.add_string("general.architecture", "dalle-golden")
    g.add_scalar("check.tolerance", tol, GGUFValueType.FLOAT32)
    g.add_scalar("check.cond_scale", COND_SCALE, GGUFValueType.FLOAT32)
    g.add_tensor("text_ids", rows[[1, 0]].numpy().astype(np.float32), "f32")  # engine order: caption, unconditional
    g.add_tensor("codes", codes[:n].numpy().astype(np.float32), "f32")
    g.add_tensor("logits", logits[[1, 0]].transpose(0, 1).numpy().astype(np.float32), "f32")  # [N, 2, Vi]
    g.write(os.path.join(out_dir, name + "-golden.gguf"))
    return n


def build(shape, types, gen, f32_tensors):
    cfg = DalleConfig(n_layers=len(types), attn_types=types, **shape)
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=gen)))
    m = Dalle(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name == "text_logits.w":
                continue
            if p.dim() >= 2 and "emb" not in name:
                p.normal_(0, p.shape[1] ** -0.5)
            elif p.dim() >= 2 or name == "image_start":
                p.normal_(0, 1)
            elif name.endswith(".w"):
                p.normal_(1, 0.2)
            else:
                p.normal_(0, 0.2)
            if p.dim() >= 2 and name not in f32_tensors:
                p.copy_(p.half().float())  # the file holds f16 (or q8_0 of these values)
    return cfg, m


def write_model(path, cfg, model, file_type, f32_tensors):
    vcfg = DvaeConfig(group_count=1, n_hid=4, n_blk_per_group=1, vocab_size=cfg.image_vocab, n_init=4,
                      image_size=cfg.grid)  # a token dVAE: the config loader needs one; not checked here
    dec = Decoder(vcfg)
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.name", "full-size random model (tools/paper_check.py)")
    tensors = add_transformer(w, cfg.to_dict(), dict(model.state_dict()))
    tensors += add_dvae(w, vcfg.to_dict(), dec.state_dict(), None)
    add_tokenizer(w, [])
    for name, arr in tensors:
        w.add_tensor(name, arr, "f32" if name in f32_tensors else tensor_type(file_type, arr.shape))
    w.write(path)


def broken(cfg, text):
    """A copy of cfg with the option FIELD=VALUE of --break (typed as the field's current value)."""
    field, _, value = text.partition("=")
    d = cfg.to_dict()
    if field not in d or not value:
        raise SystemExit("paper_check: --break %r: expected FIELD=VALUE with a DalleConfig field" % text)
    old = d[field]
    d[field] = (value == "true") if isinstance(old, bool) else type(old)(value)
    if d[field] == old:
        raise SystemExit("paper_check: --break %s: the model already has %s = %r" % (text, field, old))
    return DalleConfig(**d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="where the <case>.gguf, <case>-golden.gguf and cases files go")
    ap.add_argument("--model", choices=sorted(MODELS) + sorted(BART_MODELS), default="paper")
    ap.add_argument("--break", dest="mutation", metavar="FIELD=VALUE",
                    help="write this option into the model files only (the check must then fail)")
    ap.add_argument("--also-break", metavar="FIELD=VALUE",
                    help="also write NAME-broken.gguf, the model file with this option (one set of "
                         "files and goldens for the check that must pass and the one that must fail)")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(2021)
    if a.model in BART_MODELS:
        for name, (shape, file_type, tol) in BART_MODELS[a.model].items():
            t0 = time.time()
            n = bart_case(a.out_dir, name, shape, file_type, tol, gen, a.mutation, a.also_break)
            print("%s: %d encoder + %d decoder layers, %s, %d decode steps, files + reference in %.0fs"
                  % (name, shape["enc_layers"], shape["n_layers"], file_type, n, time.time() - t0), flush=True)
        with open(os.path.join(a.out_dir, "cases"), "w") as f:
            f.write("".join(name + "\n" for name in BART_MODELS[a.model]))
        return 0
    shape, cases, steps, f32_tensors = MODELS[a.model]
    built = {}  # attn_types -> (cfg, golden path): cases that differ only in file type share weights and golden
    for name, (types, file_type, tol) in cases.items():
        t0 = time.time()
        key = tuple(types)
        if key not in built:
            cfg, m = build(shape, types, gen, f32_tensors)
            n = cfg.grid ** 2 - 1 if steps is None else steps
            caption = torch.randint(0, 256, (min(40, cfg.text_len - 8),), generator=gen).tolist()
            text_ids = pad_text(caption, cfg.text_len, cfg.text_vocab)
            codes = torch.randint(0, cfg.image_vocab, (n + 1,), generator=gen)
            with torch.no_grad():  # the whole sequence at once: an independent path from the engine's KV cache
                _, logits = m(text_ids.view(1, -1), codes.view(1, -1))
            built[key] = (cfg, m, text_ids, codes[:n], logits[0].numpy().astype(np.float32))
        cfg, m, text_ids, fed, logits = built[key]
        path = os.path.join(a.out_dir, name + ".gguf")
        write_model(path, broken(cfg, a.mutation) if a.mutation else cfg, m, file_type, f32_tensors)
        if a.also_break:
            write_model(os.path.join(a.out_dir, name + "-broken.gguf"), broken(cfg, a.also_break), m, file_type,
                        f32_tensors)
        g = GGUFWriter()
        g.add_string("general.architecture", "dalle-golden")
        g.add_scalar("check.tolerance", tol, GGUFValueType.FLOAT32)
        g.add_tensor("text_ids", text_ids.numpy().astype(np.float32), "f32")
        g.add_tensor("codes", fed.numpy().astype(np.float32), "f32")
        g.add_tensor("logits", logits, "f32")
        g.write(os.path.join(a.out_dir, name + "-golden.gguf"))
        print("%s: %d layers %s, %s, %d decode steps, reference + export in %.0fs"
              % (name, len(types), types, file_type, len(fed), time.time() - t0), flush=True)
    with open(os.path.join(a.out_dir, "cases"), "w") as f:
        f.write("".join(name + "\n" for name in cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
