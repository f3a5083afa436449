#!/usr/bin/python3
"""Prompt fidelity of a decoding rule run in Python on a model file, judged as tools/eval_fidelity.py judges the CLI.

Decoders (the transformer, reranker and dVAE of --model; the case list, judge and scores of eval_fidelity.py):
  sample  a replica of the CLI's default rule: --candidates images sampled with the file's top-p and temperature
          (Dalle.generate), pruned after the file's rows (clip.Pruner), then the best 4 by the reranker among the
          likelier half (clip.rerank_pool by the mean log-probability; the CLI's duplicate rule is left out)
  beam    beam search of width --candidates after --beam-sampled-rows sampled rows (Dalle.generate(beam_from),
          the engine's --decoding beam), then the same final pick
It compares decoders before one goes into the engine (docs/training-log.md, "Decoding by the likelihood"); the
engine's own scores come from eval_fidelity.py. fidelity@4 and any@4 as there; fidelity@all: the fraction of all
candidates that show the emoji.
Usage: /usr/bin/python3 tools/eval_decoding.py --decoder beam [--candidates 16] [--beam-sampled-rows 0]
       [--case-seed 19] [--json out.json]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

from dallevk import clip as C
from dallevk import data as D
from dallevk.dvae import decode_pixels
from dallevk.from_gguf import load_model
from dallevk.judge import Judge
from dallevk.transformer import mean_logprob, pad_text
import eval_fidelity as EF


@torch.no_grad()
def decode(gm, decoder, text, n, seed, beam_rows=0):
    """-> (codes [n, G*G], mean log-probability of each image's codes [n])."""
    if decoder == "beam":
        codes = gm.dalle.generate(text, n=n, seed=seed, temperature=gm.temperature, top_p=gm.top_p,
                                  beam_from=beam_rows * gm.dalle.cfg.grid)
        return codes, mean_logprob(gm.dalle, text, codes)
    pruner = C.Pruner(gm.clip, text, gm.prune_rows) if gm.prune_rows else None
    codes = gm.dalle.generate(text, n=n, seed=seed, temperature=gm.temperature, top_p=gm.top_p, on_row=pruner)
    return codes, mean_logprob(gm.dalle, text, codes)


@torch.no_grad()
def best4(gm, text, codes, mean_lp):
    pool = C.rerank_pool(mean_lp.tolist(), C.rerank_pool_size(0.5, len(codes)))
    return codes[C.rerank_order(gm.clip.scores(text, codes).tolist(), pool)[:EF.N_IMAGES]]


@torch.no_grad()
def pixels(gm, codes):
    G = gm.dalle.cfg.grid
    x = decode_pixels(gm.decoder.decode_codes(codes.view(-1, G, G)))
    return (x.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(EF.ROOT, "assets", "dalle-emoji.gguf"))
    ap.add_argument("--decoder", choices=("sample", "beam"), default="sample")
    ap.add_argument("--candidates", type=int, default=32)
    ap.add_argument("--beam-sampled-rows", type=int, default=0, help="beam: rows sampled per candidate first")
    ap.add_argument("--cases-per-group", type=int, default=24)
    ap.add_argument("--case-seed", type=int, default=19)
    ap.add_argument("--max-cases", type=int, default=0, metavar="N", help="the first N cases only (0: all)")
    ap.add_argument("--json", help="write the cases and verdicts here")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    gm = load_model(a.model)
    if gm.clip is None or gm.decoder is None:
        raise SystemExit("eval_decoding: %s needs a reranker and a dVAE decoder" % a.model)
    cfg = gm.dalle.cfg
    images, items = D.load_dataset()
    judge = Judge(images, [it["base"] for it in items])
    todo = EF.cases(items, a.cases_per_group, a.case_seed)[:a.max_cases or None]
    results, t0 = [], time.time()
    for k, c in enumerate(todo):
        text = pad_text(gm.bpe.encode(c["prompt"]), cfg.text_len, cfg.text_vocab)
        codes, mean_lp = decode(gm, a.decoder, text, a.candidates, c["seed"], a.beam_sampled_rows)
        ok, nearest, _ = judge.verdicts(pixels(gm, best4(gm, text, codes, mean_lp)), [c["base"]] * EF.N_IMAGES)
        ok_all = judge.verdicts(pixels(gm, codes), [c["base"]] * len(codes))[0]
        results.append(dict(c, shown=int(ok.sum()), shown_all=int(ok_all.sum()), candidates=len(codes),
                            nearest=nearest.tolist()))
        print("%3d/%d %-8s %d/4 (all %2d/%d) %-45s nearest %s (%.0fs)" % (
            k + 1, len(todo), c["group"], ok.sum(), ok_all.sum(), len(codes), c["prompt"][:45],
            ",".join(nearest[:2]), time.time() - t0), flush=True)
    scores = EF.summarize(results)
    for g, s in scores.items():
        rs = [r for r in results if r["group"] == g]
        print("%-8s cases %2d  fidelity@4 %.3f  any@4 %.3f  fidelity@all %.3f" % (
            g, s["cases"], s["fidelity@4"], s["any@4"], np.mean([r["shown_all"] / r["candidates"] for r in rs])))
    if a.json:
        EF.write_json(a.json, dict(model=a.model, decoder=a.decoder, candidates=a.candidates,
                                   beam_sampled_rows=a.beam_sampled_rows, cases=results, scores=scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
