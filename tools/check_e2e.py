#!/usr/bin/python3
"""Checks end-to-end runs of the engine (written by tests/test_e2e.c) against the PyTorch reference.

  check_e2e.py RUN_DIR... [--golden-dir tests/data/e2e] [--update] [--model MODEL.gguf]

Each RUN_DIR holds run.txt (its "model" line names the model file, unless --model), logits.f32
[steps, n, Vi], codes.i32 [steps, n], pixels.u8 [n, H, W, 3], and optionally the CLI's --separate PNGs
of the same run as cli-0.png, cli-1.png, ... Checks, per run:
 1. tokenization: the prompt's BPE ids (reference tokenizer from the model file) give the engine's
    prompt_tokens / dropped_tokens counts (the ids themselves are checked by 2's first step);
 2. logits, teacher-forced: the reference (float64, weights exactly as in the file) prefills the padded
    prompt for n candidates (with cond_scale != 1 also the empty caption for n more sequences, the logits
    then being null + cond_scale * (cond - null)) and then decodes the engine's own sampled codes; every
    step's logits are compared per candidate by relative error ||engine - ref|| / ||ref||; the max over steps must be
    <= 1e-4 for f32 weights, <= 3e-3 when the file holds f16 tensors (--tol overrides);
 3. sampler replay: src/model/sample.c's draw (tools/dallevk/sampler.py) from the engine's logits with
    candidate b's stream (seed * 0x9e3779b97f4a7c15 + b) gives exactly the engine's code, every step;
 3b. pruning (prune.i32, run.txt's prune_rows): it happened after exactly the named rows, and each src is
    the rule (clip.prune_sources) applied to the reference reranker's scores of the candidates' prefixes
    (near-ties within the logits tolerance may order either way). Checks 2, 4, 5b and 6 use each
    candidate's history rewritten by the prunings (what its final image was sampled from), check 3 the
    records as sampled;
 3c. beam search (run.txt's decoding beam): check 3 covers the sampled rows only; from the search's first step
    on, the reference follows the engine's beams (prune.i32's moves, then the step's codes) and at every step
    the engine's picks are distinct extensions of distinct, extendable beams whose reference scores (summed log
    p, float64, guided like the run) are the n best, near-ties within --tol-nats excepted; each moved beam's
    parent keeps its own slot. No move happens before the search;
 4. pixels: the reference dVAE decodes the engine's codes; rounded to 8 bits (floor(v * 255 + 0.5))
    they are within --tol-pixels (default 2) of dvk_images' RGB8 in every channel;
 5. when cli-*.png exist: they equal the API's pixels exactly;
 5b. when the run has rerank_*.{f32,i32,u8} (the model has a reranker): the reference reranker's scores of
    the prompt against every candidate's final codes match the engine's (relative error, same tolerance
    as the logits), the engine's order is best first among distinct images, then the duplicates (codes
    equal to an earlier one's) best first, and its reranked pixels are exactly the candidates' pixels in
    that order;
 6. golden codes: the final codes [n, G*G] equal GOLDEN_DIR/<model file stem>-codes.txt. The golden
    records the model file's sha256, the settings and the device it was made on; another model file
    or other settings fail (regenerate with --update). On another device a difference is reported but
    does not fail: logits differ there in the last bits, which can move a draw across a bucket edge,
    and 2 and 3 already pin the codes to the logits.
 7. when the run has enc_*.{u8,i32,f32} (the model has a dVAE encoder): the reference encoder's logits of
    enc_pixels.u8 (float64, map_pixels) match the engine's enc_logits.f32 (max |diff| / max |ref| within the
    logits tolerance), enc_codes.i32 is their argmax, and equals the reference's argmax except where the
    reference's two best logits lie within twice the engine's largest logit error; the run's image_prompt/
    subdirectory (a run whose first image_prefix_len codes were given, not sampled) is checked like any run
    by 1-5b (its replay skips the given codes, which draw nothing), and every candidate's first
    image_prefix_len codes must equal the parent's enc_codes; it has no golden (its parent's golden and the
    checks above pin it).
--update writes the golden from a run, only when its checks 1-5 pass. One process checks every run
(importing torch once). Exit status 0 when every check of every run passes, 1 otherwise.
"""
import argparse
import hashlib
import os
import sys

import numpy as np
import torch

from dallevk import sampler
from dallevk.dvae import decode_pixels, map_pixels
from dallevk.clip import prune_sources, rerank_pool, rerank_pool_size
from dallevk.from_gguf import load_model
from dallevk.transformer import guide_logits, mean_logprob, pad_text

GOLDEN_DIR = os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "e2e"))
REGEN = "tests/test_e2e.sh BUILD_DIR --update MODEL.gguf (--default --update for the default model)"
SETTINGS = ("prompt", "seed", "n_images", "top_k", "temperature", "top_p", "cond_scale", "prune_rows", "decoding",
            "beam_sampled_rows")
# goldens written before a setting existed hold its default
SETTING_DEFAULTS = {"cond_scale": "1", "prune_rows": "0", "decoding": "sample", "beam_sampled_rows": "0"}


def read_run(d):
    """RUN_DIR -> (info dict of run.txt, logits [steps, n, Vi], codes [steps, n], pixels [n, H, W, 3],
    prunes: list of (step, src list) from prune.i32, [] when absent)."""
    info = {}
    with open(os.path.join(d, "run.txt"), encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line:
                k, _, v = line.partition(" ")
                info[k] = v
    for k in ("seed", "n_images", "top_k", "grid", "image_vocab", "steps", "width", "height", "prompt_tokens",
              "dropped_tokens"):
        info[k] = int(info[k])
    for k in ("temperature", "top_p"):
        info[k] = float(info[k])
    info.setdefault("cond_scale", "1")  # kept as written (%.9g) for the golden header; float() where used
    n, steps, vi = info["n_images"], info["steps"], info["image_vocab"]
    logits = np.fromfile(os.path.join(d, "logits.f32"), dtype="<f4").reshape(steps, n, vi)
    codes = np.fromfile(os.path.join(d, "codes.i32"), dtype="<i4").reshape(steps, n)
    pixels = np.fromfile(os.path.join(d, "pixels.u8"), dtype=np.uint8).reshape(n, info["height"], info["width"], 3)
    path = os.path.join(d, "prune.i32")
    ev = np.fromfile(path, dtype="<i4").reshape(-1, 1 + n) if os.path.exists(path) else np.zeros((0, 1 + n), int)
    info["prune_rows"] = int(info.get("prune_rows", "0"))
    info["image_prefix_len"] = int(info.get("image_prefix_len", "0"))
    info.setdefault("decoding", "sample")
    info["beam_sampled_rows"] = int(info.get("beam_sampled_rows", "0"))
    return info, logits, codes, pixels, [(int(e[0]), [int(x) for x in e[1:]]) for e in ev]


def histories(logits, codes, prunes):
    """What each candidate's final image was sampled from: the per-step records rewritten by the prunes
    (after event (step, src), candidate b's steps 0..step are candidate src[b]'s). -> (logits [steps, n, Vi],
    codes [steps, n], prefixes: for each event, the codes [n, step + 1] the engine scored)."""
    logits, codes = logits.copy(), codes.copy()
    ev = dict(prunes)
    prefixes = []
    for s in range(codes.shape[0]):
        if s in ev:
            src = ev[s]
            prefixes.append(codes[:s + 1].T.copy())
            logits[:s + 1] = logits[:s + 1, src]
            codes[:s + 1] = codes[:s + 1, src]
    return logits, codes, prefixes


def report(ok, what):
    print("%s %s" % ("PASS" if ok else "FAIL", what))
    return ok


def check_tokens(m, info):
    ids = m.bpe.encode(info["prompt"])
    T = m.dalle.cfg.text_len
    used, dropped = min(len(ids), T), max(len(ids) - T, 0)
    ok = (used, dropped) == (info["prompt_tokens"], info["dropped_tokens"])
    report(ok, "tokenization: %d prompt tokens, %d dropped (engine: %d, %d)"
           % (used, dropped, info["prompt_tokens"], info["dropped_tokens"]))
    return ok, pad_text(ids, T, m.dalle.cfg.text_vocab)


def rel_err(out, ref):
    """||out - ref|| / ||ref|| (inf when out is not finite), as tests/harness.c."""
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-300))


@torch.no_grad()
def check_logits(m, text_ids, logits, codes, tol, cond_scale=1.0):
    """Teacher forcing: the reference follows the engine's codes; per-candidate max error over steps."""
    steps, n, _ = logits.shape
    guided = cond_scale != 1.0
    ids = text_ids.view(1, -1).repeat(n, 1)
    if guided:
        null = pad_text([], m.dalle.cfg.text_len, m.dalle.cfg.text_vocab)
        ids = torch.cat([ids, null.view(1, -1).repeat(n, 1)])
    ref, cache = m.dalle.prefill(ids)
    worst = [(0.0, 0)] * n
    for s in range(steps):
        if s > 0:
            c = torch.from_numpy(codes[s - 1].astype(np.int64))
            ref = m.dalle.decode_step(cache, torch.cat([c, c]) if guided else c)
        r = (guide_logits(ref, cond_scale) if guided else ref).numpy()
        for b in range(n):
            e = rel_err(logits[s, b].astype(np.float64), r[b])
            if not e <= worst[b][0]:
                worst[b] = (e, s)
    ok = all(e <= tol for e, _ in worst)
    per = ", ".join("candidate %d %.3g (step %d)" % (b, e, s) for b, (e, s) in enumerate(worst))
    report(ok, "logits, teacher-forced over %d steps%s: max rel err %s (tol %.0e)"
           % (steps, ", cond_scale %g" % cond_scale if guided else "", per, tol))
    return ok


def beam_from(info):
    """The first searched step of a beam-search run (after the given and the sampled rows); steps otherwise."""
    if info["decoding"] != "beam":
        return info["steps"]
    return max(info["image_prefix_len"], info["beam_sampled_rows"] * info["grid"])


def check_replay(info, logits, codes):
    steps, n, _ = logits.shape
    steps = min(steps, beam_from(info))  # beam search: the sampled rows only
    bad = []
    for b in range(n):
        rng = sampler.Xoshiro256ss(sampler.candidate_seed(info["seed"], b))
        for s in range(info["image_prefix_len"], steps):  # given codes draw nothing
            c = sampler.sample(logits[s, b], rng, info["temperature"], info["top_k"], info["top_p"])
            if c != codes[s, b]:
                bad.append((b, s, c, int(codes[s, b])))
                break
    ok = not bad
    what = "sampler replay: %d codes equal src/model/sample.c's draws from the engine's logits" \
        % ((steps - info["image_prefix_len"]) * n)
    if bad:
        what = "sampler replay: " + "; ".join("candidate %d step %d: replay %d, engine %d" % x for x in bad)
    report(ok, what)
    return ok


@torch.no_grad()
def check_pixels(m, codes, pixels, tol):
    n, G = codes.shape[1], m.dalle.cfg.grid
    grid = torch.from_numpy(codes.T.reshape(n, G, G).astype(np.int64))
    if m.vqgan is not None:
        ref = m.vqgan.to_pixels(m.vqgan.decode_codes(grid)).numpy()
    else:
        ref = decode_pixels(m.decoder.decode_codes(grid), m.dvae_cfg.output_channels).numpy()
    ref8 = np.floor(ref.transpose(0, 2, 3, 1) * 255.0 + 0.5).astype(np.int64)
    diff = np.abs(ref8 - pixels.astype(np.int64))
    ok = ref8.shape == pixels.shape and int(diff.max()) <= tol
    report(ok, "pixels vs the reference %s on the engine's codes: max |diff| %d/255 (tol %d), %d of %d values "
           "differ" % ("VQGAN" if m.vqgan is not None else "dVAE", diff.max(), tol, int((diff > 0).sum()), diff.size))
    return ok


def check_cli_png(prefix, pixels):
    from PIL import Image
    stem, ext = os.path.splitext(prefix)
    bad = []
    for i in range(pixels.shape[0]):
        path = "%s-%d%s" % (stem, i, ext)
        img = np.asarray(Image.open(path).convert("RGB")) if os.path.exists(path) else None
        if img is None or img.shape != pixels[i].shape or not np.array_equal(img, pixels[i]):
            bad.append(os.path.basename(path))
    return report(not bad, "CLI PNGs %s-{0..%d}%s equal the API's pixels%s"
                  % (os.path.basename(stem), pixels.shape[0] - 1, ext, " (differ: %s)" % bad if bad else ""))


@torch.no_grad()
def check_logprob(m, run_dir, text_ids, logits, codes, tol, cond_scale):
    """dvk_images.mean_logprob (logprob.f32) against (a) the mean log-softmax of the logits the engine reported
    for each candidate's final history, in float64 (tight: the same logits), and (b) the reference's
    teacher-forced mean_logprob (guided like the run), within tol nats per code."""
    lp = np.fromfile(os.path.join(run_dir, "logprob.f32"), dtype="<f4").astype(np.float64)
    lg = logits.astype(np.float64)  # [steps, n, Vi], histories applied
    lse = lg.max(-1) + np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1))
    own = (np.take_along_axis(lg, codes[..., None].astype(np.int64), -1)[..., 0] - lse).mean(0)
    err_own = float(np.abs(lp - own).max()) if lp.shape == own.shape else float("inf")
    ref = mean_logprob(m.dalle, text_ids, torch.from_numpy(codes.T.astype(np.int64)), cond_scale).numpy()
    err_ref = float(np.abs(lp - ref).max()) if lp.shape == ref.shape else float("inf")
    return report(err_own <= 1e-5 and err_ref <= tol,
                  "mean log-probability of %d images (%s nats/code): vs the reported logits max err %.2g (tol 1e-05), "
                  "vs the reference %.2g (tol %.0e)" % (lp.size, np.round(lp, 3).tolist(), err_own, err_ref, tol))


@torch.no_grad()
def check_rerank(m, run_dir, text_ids, codes, pixels, tol):
    n = codes.shape[1]
    scores = np.fromfile(os.path.join(run_dir, "rerank_scores.f32"), dtype="<f4")
    cand = np.fromfile(os.path.join(run_dir, "rerank_candidates.i32"), dtype="<i4")
    rpx = np.fromfile(os.path.join(run_dir, "rerank_pixels.u8"), dtype=np.uint8).reshape(pixels.shape)
    rlp = np.fromfile(os.path.join(run_dir, "rerank_logprob.f32"), dtype="<f4")
    lp = np.fromfile(os.path.join(run_dir, "logprob.f32"), dtype="<f4")
    with open(os.path.join(run_dir, "rerank.txt"), encoding="utf-8") as f:
        pool_size = int(f.read().split()[1])
    if m.clip is None:
        return report(False, "rerank files exist but the model file has no reranker")
    ref = m.clip.scores(text_ids, torch.from_numpy(codes.T.astype(np.int64))).numpy()
    ok_perm = sorted(cand.tolist()) == list(range(n))
    err = rel_err(scores.astype(np.float64), ref[cand]) if ok_perm else float("inf")
    # distinct images first, then the duplicates (codes equal to an earlier kept one's), each part best first
    final = codes.T
    dup = [any(np.array_equal(final[cand[k]], final[cand[q]]) for q in range(k)) for k in range(n)] if ok_perm else []
    first_dup = dup.index(True) if True in dup else n
    # the pool: the pool_size most likely candidates of the first run (the same draws), clip.rerank_pool's rule
    pool_ok = pool_size == rerank_pool_size(0.5, n)  # test_e2e leaves rerank_pool at its default
    pool = rerank_pool(lp.tolist(), pool_size)
    same_lp = ok_perm and np.array_equal(rlp, lp[cand])
    key = [(not pool[cand[k]], -float(scores[k])) for k in range(n)] if ok_perm else []
    ordered = ok_perm and not any(dup[:first_dup]) and all(dup[first_dup:]) and \
        key[:first_dup] == sorted(key[:first_dup]) and key[first_dup:] == sorted(key[first_dup:])
    same_px = ok_perm and all(np.array_equal(rpx[k], pixels[cand[k]]) for k in range(n))
    return report(ok_perm and err <= tol and ordered and same_px and same_lp and pool_ok,
                  "reranker: %d scores vs the reference rel err %.3g (tol %.0e), best first (pool of the %d most "
                  "likely first%s, distinct images first: %d) %s, candidates %s, their log-probabilities = the first "
                  "run's %s, reranked pixels = candidates' pixels %s"
                  % (n, err, tol, pool_size, "" if pool_ok else " WRONG SIZE", first_dup if ok_perm else 0, ordered,
                     cand.tolist(), same_lp, same_px))


@torch.no_grad()
def check_prunes(m, info, text_ids, prunes, prefixes, tol):
    """Each pruning: the rows are those run.txt names, and src is the rule (clip.prune_sources) applied to the
    reference reranker's prefix scores; where two scores lie within tol (relative to the largest), either
    order is accepted as long as no replaced candidate outscores a kept one by more than that."""
    G, n = info["grid"], info["n_images"]
    rows = [r for r in range(64) if info["prune_rows"] >> r & 1]
    steps_expected = [(r + 1) * G - 1 for r in rows] if n >= 2 else []
    if [s for s, _ in prunes] != steps_expected:
        return report(False, "pruning steps %s, expected %s (prune_rows %#x)"
                      % ([s for s, _ in prunes], steps_expected, info["prune_rows"]))
    if m.clip is None:
        return report(not prunes, "no pruning without a reranker")
    worst = 0.0
    for (step, src), pre in zip(prunes, prefixes):
        ref = m.clip.prefix_scores(text_ids, torch.from_numpy(pre.astype(np.int64)), step // G).numpy()
        if src == prune_sources(ref.tolist()):
            continue
        replaced = [b for b in range(n) if src[b] != b]
        kept = [b for b in range(n) if src[b] == b]
        shape_ok = len(replaced) == n // 2 and all(src[b] in kept for b in replaced)
        gap = max(ref[replaced].max() - ref[kept].min(), 0.0) / max(np.abs(ref).max(), 1e-30)
        worst = max(worst, gap if shape_ok else float("inf"))
    return report(worst <= tol, "pruning after rows %s: %d events, src = the rule on the reference prefix scores "
                  "(largest near-tie reorder %.3g, tol %.0e)" % (rows, len(prunes), worst, tol))


@torch.no_grad()
def check_beam(m, info, text_ids, codes, prunes, tol_nats):
    """3c: codes [steps, n] as recorded (before any rewriting), prunes the moves (step, src)."""
    steps, n = codes.shape
    start, cond = beam_from(info), float(info["cond_scale"])
    moves = dict(prunes)
    early = [s for s in moves if s + 1 < start or s + 1 >= steps]
    if early:
        return report(False, "beam search: moves announced outside the search (steps %s; the search is steps %d..%d)"
                      % (early, start, steps - 1))
    ids = text_ids.view(1, -1).repeat(n, 1)
    if cond != 1.0:
        null = pad_text([], m.dalle.cfg.text_len, m.dalle.cfg.text_vocab)
        ids = torch.cat([ids, null.view(1, -1).repeat(n, 1)])
    ref, cache = m.dalle.prefill(ids)
    hist, sums = np.zeros((n, 0), np.int64), np.zeros(n)
    worst, problems = 0.0, []
    for s in range(steps):
        if s > 0:
            c = torch.from_numpy(codes[s - 1].astype(np.int64))
            ref = m.dalle.decode_step(cache, torch.cat([c, c]) if cond != 1.0 else c)
        lp = torch.log_softmax(guide_logits(ref, cond) if cond != 1.0 else ref, -1).double().numpy()
        # the moves announced before step s; at step 0 none can be (every beam is the empty prefix, beam 0's copy)
        src = np.asarray(moves.get(s - 1, [0] * n if s == start == 0 else range(n)))
        if s >= start:
            scores = sums[:, None] + lp  # [n, V]: every extension of every beam
            if s == start:  # beams that repeat an earlier one are not extended
                for b in range(n):
                    if any(np.array_equal(hist[a], hist[b]) for a in range(b)):
                        scores[b] = -np.inf
            picked = np.zeros_like(scores, dtype=bool)
            picked[src, codes[s]] = True
            if picked.sum() != n or any(src[src[b]] != src[b] for b in range(n)):
                problems.append("step %d: the picks repeat, or a parent lost its slot (src %s)" % (s, src.tolist()))
                break
            low = scores[picked].min()
            high = scores[~picked].max() if (~picked).any() else -np.inf
            worst = max(worst, high - low if np.isfinite(low) else np.inf)  # a pick of a beam not extendable: inf
            sums = scores[src, codes[s]]
        else:
            sums = sums + lp[np.arange(n), codes[s]]
        hist = np.concatenate([hist[src], codes[s].astype(np.int64)[:, None]], 1)
        full = np.concatenate([src, src + n]) if cond != 1.0 else src
        for li in range(len(cache["k"])):
            cache["k"][li], cache["v"][li] = cache["k"][li][full], cache["v"][li][full]
    ok = not problems and worst <= tol_nats
    return report(ok, "beam search from step %d: the engine's %d beams are the best extensions of the reference's "
                  "scores at every step (largest near-tie overtaken by %.3g nats, tol %.0e)%s"
                  % (start, n, max(worst, 0.0), tol_nats, "; " + "; ".join(problems) if problems else ""))


@torch.no_grad()
def check_encoder(m, run_dir, tol):
    G, V = m.dalle.cfg.grid, m.dalle.cfg.image_vocab
    px = np.fromfile(os.path.join(run_dir, "enc_pixels.u8"), dtype=np.uint8)
    codes = np.fromfile(os.path.join(run_dir, "enc_codes.i32"), dtype="<i4")
    logits = np.fromfile(os.path.join(run_dir, "enc_logits.f32"), dtype="<f4").astype(np.float64)
    if m.encoder is None and not has_vqgan_encoder(m):
        return report(False, "encoder files exist but the model file has no image encoder")
    R = int(round((px.size / 3) ** 0.5))
    x = torch.from_numpy(px.reshape(1, R, R, 3).transpose(0, 3, 1, 2).astype(np.float64) / 255.0)
    if m.vqgan is not None:
        ref = vqgan_logits(m.vqgan, x).reshape(V, G * G).numpy()
    else:
        ref = m.encoder(map_pixels(x))[0].reshape(V, G * G).numpy()
    if logits.size != ref.size or codes.size != G * G:
        return report(False, "encoder: engine logits %d / codes %d values, expected %d / %d"
                      % (logits.size, codes.size, ref.size, G * G))
    logits = logits.reshape(V, G * G)
    diff = float(np.abs(logits - ref).max())
    err = diff / float(np.abs(ref).max())
    own = bool(np.array_equal(codes, logits.argmax(0)))  # numpy: the first index on ties, like the engine
    top2 = np.sort(ref, axis=0)[-2:]
    clear = (top2[1] - top2[0]) > 2 * diff  # only there can logits within `diff` of ref not change the argmax
    agree = codes == ref.argmax(0)
    ok = err <= tol and own and bool(agree[clear].all())
    return report(ok, "%s encoder on a %dx%d image: logits max err %.2g of the largest (tol %.0e), codes = their "
                  "argmax %s, = the reference's at %d of %d cells (%d near-ties exempt)"
                  % ("VQGAN" if m.vqgan is not None else "dVAE", R, R, err, tol, own, int(agree.sum()), G * G,
                     int((~clear).sum())))


def has_vqgan_encoder(m):
    return m.vqgan is not None and hasattr(m.vqgan, "enc")


def vqgan_logits(vq, x):
    """The engine's VQGAN encoder logits (src/model/vqgan.h) of pixels x [1, 3, R, R] in [0, 1]: gumbel_proj's
    output, or (vq) minus the squared distance of the quant_conv output to each codebook row -> [n_embed, G, G]."""
    h = vq.encode(x)
    if vq.cfg.quantizer == "gumbel":
        return vq.gumbel_proj(h)[0]
    d = ((h[0].unsqueeze(0) - vq.codebook[:, :, None, None]) ** 2).sum(1)
    return -d


def check_image_prefix(run_dir, info, raw_codes, codes):
    L = info["image_prefix_len"]
    enc = np.fromfile(os.path.join(os.path.dirname(os.path.normpath(run_dir)), "enc_codes.i32"), dtype="<i4")
    ok = enc.size >= L and all(np.array_equal(c[:L, b], enc[:L]) for c in (raw_codes, codes)
                               for b in range(codes.shape[1]))
    return report(ok, "image prompt: the first %d codes of all %d candidates are the parent run's encoded codes"
                  % (L, codes.shape[1]))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_golden(path):
    """-> (header dict, codes int [n, G*G])."""
    head, rows = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("# "):
                k, _, v = line[2:].partition(" ")
                head[k] = v
            elif line.strip():
                rows.append([int(x) for x in line.split()])
    return head, np.array(rows, dtype=np.int64)


def write_golden(path, info, model_path, codes):
    lines = ["# dalle-vk end-to-end golden: final image codes, one candidate per line (tools/check_e2e.py --update)",
             "# model_sha256 %s" % sha256(model_path), "# model_file %s" % os.path.basename(model_path),
             "# device %s" % info["device"]]
    lines += ["# %s %s" % (k, info[k]) for k in SETTINGS]
    lines += [" ".join(str(int(c)) for c in codes[:, b]) for b in range(codes.shape[1])]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    print("wrote %s" % path)


def check_golden(path, info, model_path, codes):
    if not os.path.exists(path):
        return report(False, "golden %s does not exist: create it with %s" % (path, REGEN))
    head, want = read_golden(path)
    if head.get("model_sha256") != sha256(model_path):
        return report(False, "golden %s was made for another model file (%s); regenerate: %s"
                      % (path, head.get("model_file"), REGEN))
    stale = [k for k in SETTINGS if head.get(k, SETTING_DEFAULTS.get(k)) != str(info[k])]
    if stale:
        return report(False, "golden %s has other settings (%s); regenerate: %s"
                      % (path, ", ".join("%s %r vs %r" % (k, head.get(k), str(info[k])) for k in stale), REGEN))
    got = codes.T.astype(np.int64)
    if want.shape == got.shape and np.array_equal(want, got):
        return report(True, "final codes [%d, %d] equal the golden %s" % (*got.shape, path))
    where = "shape %s vs %s" % (got.shape, want.shape)
    if want.shape == got.shape:
        b, s = map(int, np.argwhere(want != got)[0])
        where = "first at candidate %d step %d" % (b, s)
    if head.get("device") != info["device"]:
        print("NOTE final codes differ from the golden (%s), made on '%s'; this device is '%s': not a failure, "
              "the logits and sampler checks above hold the codes" % (where, head.get("device"), info["device"]))
        return True
    return report(False, "final codes differ from the golden %s (%s)" % (path, where))


def check_run(run_dir, a):
    """All checks of one run; True when they pass."""
    info, raw_logits, raw_codes, pixels, prunes = read_run(run_dir)
    logits, codes, prefixes = histories(raw_logits, raw_codes, prunes)
    model = a.model or info["model"]
    m = load_model(model, dtype=torch.float64)
    tol = a.tol if a.tol is not None else (3e-3 if m.f16 else 1e-4)
    print("=== %s (%s weights), device %s; prompt %r, seed %d, n %d, top_k %d, temperature %g, top_p %g, "
          "cond_scale %s, prune_rows %#x"
          % (model, "f16" if m.f16 else "f32", info["device"], info["prompt"], info["seed"], info["n_images"],
             info["top_k"], info["temperature"], info["top_p"], info["cond_scale"], info["prune_rows"]))
    ok, text_ids = check_tokens(m, info)
    ok &= check_logits(m, text_ids, logits, codes, tol, float(info["cond_scale"]))
    ok &= check_replay(info, raw_logits, raw_codes)  # every candidate's own stream, pruned or not
    if info["decoding"] == "beam":
        ok &= check_beam(m, info, text_ids, raw_codes, prunes, a.tol_nats if a.tol_nats is not None else 20 * tol)
    elif info["prune_rows"] or prunes:
        ok &= check_prunes(m, info, text_ids, prunes, prefixes, tol)
    ok &= check_pixels(m, codes, pixels, a.tol_pixels)
    ok &= check_logprob(m, run_dir, text_ids, logits, codes, tol, float(info["cond_scale"]))
    if os.path.exists(os.path.join(run_dir, "cli-0.png")):
        ok &= check_cli_png(os.path.join(run_dir, "cli.png"), pixels)
    if os.path.exists(os.path.join(run_dir, "rerank_scores.f32")):
        ok &= check_rerank(m, run_dir, text_ids, codes, pixels, tol)
    elif m.clip is not None:
        ok &= report(False, "the model has a reranker but the run has no rerank_* files")
    if os.path.exists(os.path.join(run_dir, "enc_codes.i32")):
        ok &= check_encoder(m, run_dir, tol)
    elif (m.encoder is not None or has_vqgan_encoder(m)) and not info["image_prefix_len"]:
        ok &= report(False, "the model has an image encoder but the run has no enc_* files")
    if info["image_prefix_len"]:
        return ok & check_image_prefix(run_dir, info, raw_codes, codes)  # no golden: see 7
    stem = os.path.splitext(os.path.basename(model))[0] + ("-beam" if info["decoding"] == "beam" else "")
    golden = os.path.join(a.golden_dir, stem + "-codes.txt")
    if a.update:
        if ok:
            write_golden(golden, info, model, codes)
        else:
            print("golden not written: the checks above failed")
    else:
        ok &= check_golden(golden, info, model, codes)
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--model", help="model file (default: the one named in run.txt)")
    ap.add_argument("--golden-dir", default=GOLDEN_DIR, help="where <model stem>-codes.txt live")
    ap.add_argument("--update", action="store_true", help="write the goldens from these runs")
    ap.add_argument("--tol", type=float, help="logits tolerance (default 1e-4 f32, 3e-3 f16 weights)")
    ap.add_argument("--tol-pixels", type=int, default=2)
    ap.add_argument("--tol-nats", type=float, help="beam search: how far an extension the engine dropped may score "
                    "above one it kept, in summed nats (default 20 x the logits tolerance)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)  # batch-of-n decode steps are tiny ops: threads only add sync cost
    failed = [d for d in a.run_dirs if not check_run(d, a)]
    print("%d of %d runs passed%s" % (len(a.run_dirs) - len(failed), len(a.run_dirs),
                                      "; failed: %s" % ", ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
