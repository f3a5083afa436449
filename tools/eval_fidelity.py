#!/usr/bin/python3
"""Prompt fidelity of a model file as the CLI samples it, graded by the data-set judge (tools/dallevk/judge.py).

Cases (fixed: drawn with --case-seed from the pinned data set, see `cases`), --cases-per-group per group:
  train     (emoji, style) pairs trained on
  val       emoji held out in every style (assets/splits/val_emoji.txt), one style each
  zeroshot  (emoji, style) pairs trained only in the other style (assets/splits/zeroshot.json)
The prompt is the emoji's first caption in that style without skin tone ("NAME, twemoji style"). Each case runs
the CLI with its default settings: `dalle-vk --model M PROMPT -n 4 --separate --seed S` (the best 4 of the
candidates), S fixed per case. Per group: fidelity@4 = mean fraction of the 4 images that show the emoji;
any@4 = fraction of cases with at least one. The judge's reference set is the whole data set (both styles, all
splits, skin tones count as their emoji).
Judge validation (run with every evaluation unless --no-validate; --validate-only for it alone), on a seeded
sample of --validate-sample data set images: whether the judge finds its own emoji in the image itself, blurred
(Gaussian, sigma 1, 2, 3 px), with noise (Gaussian, sigma 0.1), moved by 2 px, and as the model's dVAE
reconstruction (its encoder's argmax codes decoded: what the model could at best draw) of the image and of its
2 px blur; per style. False accepts: each image judged with its own emoji's images removed from the reference set
(it shows none of the rest: an acceptance names a look-alike), and hand-made images (blank, flat colours, a yellow
disc, noise), judged against every emoji.
Diagnostics (not the default settings): --all-candidates M judges all M candidates (no final reranking);
--cli-option passes more options to the CLI; --images-from DIR re-judges a previous run's --keep-images PNGs.
Usage: /usr/bin/python3 tools/eval_fidelity.py [--model assets/dalle-emoji.gguf] [--cli build/dalle-vk]
       [--cases-per-group 24] [--max-cases N] [--groups train,val,zeroshot] [--json out.json] [--keep-images DIR]
Dataset: tools/fetch_emoji.py (~/.cache/dalle-vk/emoji, env DVK_DATA_DIR).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageFilter

from dallevk import data as D
from dallevk.dvae import decode_pixels
from dallevk.from_gguf import load_model
from dallevk.judge import Judge

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GROUPS = ("train", "val", "zeroshot")
STYLES = ("twitter", "google")
N_IMAGES = 4


def plain_items(items):
    """(base, style) -> index of its image without skin tone."""
    return {(it["base"], it["style"]): i for i, it in enumerate(items) if not it["tone"]}


def cases(items, per_group, seed):
    """Fixed case list: [{"group", "base", "style", "prompt", "seed"}], per_group cases per group, drawn with
    random.Random(seed) from the sorted candidates of each group (see the module doc)."""
    plain = plain_items(items)
    pools = {g: sorted((b, s) for (b, s), i in plain.items() if items[i]["split"] == g) for g in GROUPS}
    rng = random.Random(seed)
    drawn = []
    for g in GROUPS:
        pool = pools[g]
        if g == "val":  # one style per held-out emoji
            bases = sorted({b for b, _ in pool})
            pool = [(b, s) for b in bases for s in [rng.choice(STYLES)] if (b, s) in plain]
        drawn.append([{"group": g, "base": b, "style": s, "prompt": items[plain[(b, s)]]["captions"][0],
                       "seed": rng.randrange(1, 1 << 30)} for b, s in rng.sample(pool, min(per_group, len(pool)))])
    # interleaved: a partial run covers every group
    return [c for k in range(per_group) for cs in drawn for c in cs[k:k + 1]]


def load_png(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def run_cli(cli, model, case, tmp, n=N_IMAGES, extra=()):
    """The CLI's best n images for a case -> uint8 [n, 64, 64, 3] (extra: more CLI options)."""
    out = os.path.join(tmp, "img.png")
    subprocess.run([cli, "--model", model, case["prompt"], "-n", str(n), "--separate", "--seed",
                    str(case["seed"]), "-q", "-o", out, *extra], check=True)
    return np.stack([load_png(os.path.join(tmp, "img-%d.png" % k)) for k in range(n)])


def blur(images, sigma):
    return np.stack([np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(sigma))) for x in images])


def noisy(images, sigma, seed=0):
    rng = np.random.default_rng(seed)
    x = images.astype(np.float32) + rng.normal(0.0, sigma * 255.0, images.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def shifted(images, px):
    """Moved px pixels right and down, white coming in."""
    padded = np.pad(images, ((0, 0), (px, 0), (px, 0), (0, 0)), constant_values=255)
    return padded[:, :images.shape[1], :images.shape[2]]


@torch.no_grad()
def reconstruct(model, images, batch=128):
    """The model's dVAE reconstruction (encoder argmax codes -> decoder) of uint8 images."""
    out = []
    for s in range(0, len(images), batch):
        codes = torch.from_numpy(D.encode_images(model.encoder, images[s:s + batch]))
        x = decode_pixels(model.decoder.decode_codes(codes))
        out.append((x.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8))
    return np.concatenate(out)


def handmade_images():
    """Hand-made images that show no emoji: name -> uint8 [64, 64, 3]."""
    yy, xx = np.mgrid[0:64, 0:64]
    disc = (yy - 31.5) ** 2 + (xx - 31.5) ** 2 < 28 ** 2
    out = {"white": np.full((64, 64, 3), 255, np.uint8), "black": np.zeros((64, 64, 3), np.uint8),
           "grey": np.full((64, 64, 3), 128, np.uint8)}
    for name, rgb in (("red", (220, 40, 40)), ("green", (60, 170, 60)), ("blue", (50, 90, 220))):
        out[name] = np.broadcast_to(np.array(rgb, np.uint8), (64, 64, 3)).copy()
    yellow = out["white"].copy()
    yellow[disc] = (255, 204, 77)
    out["yellow disc"] = yellow
    out["noise"] = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return out


def validate(judge, images, items, model, sample, log=print):
    """The judge's accuracy table (see the module doc) on `sample` data set images (seeded; 0 = all) -> dict."""
    idx = np.arange(len(images))
    if 0 < sample < len(images):
        idx = np.sort(np.random.default_rng(0).choice(len(images), sample, replace=False))
    images = images[idx]
    labels = judge.labels[idx]
    styles = np.array([items[i]["style"] for i in idx])
    log("judge validation on %d data set images (max_dist %g, tie %g)" % (len(idx), judge.max_dist, judge.tie))
    res = {}
    variants = [("real", images), ("blur 1px", blur(images, 1)), ("blur 2px", blur(images, 2)),
                ("blur 3px", blur(images, 3)), ("noise 0.1", noisy(images, 0.1)), ("moved 2px", shifted(images, 2))]
    if model is not None and model.encoder is not None:
        variants.append(("dVAE reconstruction", reconstruct(model, images)))
        variants.append(("dVAE rec. of blur 2px", reconstruct(model, blur(images, 2))))
    for name, x in variants:
        ok, _, dist = judge.verdicts(x, labels)
        row = {s: float(ok[styles == s].mean()) for s in STYLES}
        row["all"] = float(ok.mean())
        row["median_dist"] = float(np.median(dist))
        res[name] = row
        log("judge validation: %-20s shows its own emoji: all %.4f, twemoji %.4f, noto %.4f (median nearest "
            "distance %.3f)" % (name, row["all"], row["twitter"], row["google"], row["median_dist"]))
    # false accepts: each image with its own emoji removed from the reference set
    fa = []
    for i in range(0, len(images), 256):
        sl = slice(i, i + 256)
        d = judge.distances(images[sl])
        d[judge.labels[None, :] == labels[sl][:, None]] = np.inf
        fa.append(d.min(axis=1) <= judge.max_dist)
    fa = np.concatenate(fa)
    res["own emoji removed"] = {"false_accept": float(fa.mean())}
    log("judge validation: own emoji removed from the reference: accepted as another emoji %.4f (false accepts)"
        % fa.mean())
    hm = handmade_images()
    names, ld = judge.label_distances(np.stack(list(hm.values())))
    shown = {k: int(((ld[j] <= ld[j].min() + judge.tie) & (ld[j] <= judge.max_dist)).sum())
             for j, k in enumerate(hm)}
    res["handmade"] = shown
    log("judge validation: hand-made images, emoji each is judged to show (of %d): %s" % (len(names), shown))
    return res


def summarize(results, n=N_IMAGES):
    out = {}
    for g in GROUPS:
        rs = [r for r in results if r["group"] == g]
        if rs:
            out[g] = {"cases": len(rs), "fidelity@%d" % n: float(np.mean([r["shown"] / n for r in rs])),
                      "any@%d" % n: float(np.mean([r["shown"] > 0 for r in rs]))}
    return out


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "dalle-emoji.gguf"))
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "dalle-vk"))
    ap.add_argument("--cases-per-group", type=int, default=24)
    ap.add_argument("--case-seed", type=int, default=19)
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--max-cases", type=int, default=0, metavar="N",
                    help="run only the first N cases of the list (interleaved by group: N = 3k is the first k of "
                         "each group of the --cases-per-group list); 0 = all")
    ap.add_argument("--json", help="write the cases, verdicts, per-group scores and the validation here")
    ap.add_argument("--keep-images", help="keep the CLI's PNGs in this dir (case-index-k.png)")
    ap.add_argument("--all-candidates", type=int, default=0, metavar="M",
                    help="diagnostic: judge all M candidates (-n M --candidates M: no final reranking, pruning as "
                         "the model says) instead of the best 4: fidelity@M, any@M")
    ap.add_argument("--cli-option", action="append", default=[], metavar="OPT",
                    help="diagnostic: pass OPT to the CLI too (repeat for each word, e.g. --cli-option=--rerank-pool "
                         "--cli-option=1); the scores are then not those of the default settings")
    ap.add_argument("--images-from", metavar="DIR",
                    help="judge the PNGs a previous run kept (--keep-images) instead of running the CLI")
    ap.add_argument("--no-validate", action="store_true")
    ap.add_argument("--validate-only", action="store_true")
    ap.add_argument("--validate-sample", type=int, default=2000,
                    help="data set images the validation uses (a seeded sample; 0 = all %d)" % 7572)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    groups = a.groups.split(",")
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise SystemExit("eval_fidelity: unknown group(s) %s (choose from %s)" % (bad, ",".join(GROUPS)))
    images, items = D.load_dataset()
    judge = Judge(images, [it["base"] for it in items])
    report = {"model": a.model, "judge": {"max_dist": judge.max_dist, "tie": judge.tie}}
    if not a.no_validate or a.validate_only:
        report["validation"] = validate(judge, images, items, load_model(a.model), a.validate_sample)
    if not a.validate_only:
        if not a.images_from and not os.access(a.cli, os.X_OK):
            raise SystemExit("eval_fidelity: CLI %s is not an executable (build it: cmake --build build)" % a.cli)
        todo = [c for c in cases(items, a.cases_per_group, a.case_seed) if c["group"] in groups]
        if a.max_cases > 0:
            todo = todo[:a.max_cases]
        results = []
        n = a.all_candidates or N_IMAGES
        extra = (("--candidates", str(n)) if a.all_candidates else ()) + tuple(a.cli_option)
        report["cli_options"] = list(extra)
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            for k, c in enumerate(todo):
                if a.images_from:  # a previous run's --keep-images (the CLI's output is deterministic)
                    x = np.stack([load_png(os.path.join(a.images_from, "%03d-%d.png" % (k, j))) for j in range(n)])
                else:
                    x = run_cli(a.cli, a.model, c, tmp, n, extra)
                ok, nearest, dist = judge.verdicts(x, [c["base"]] * len(x))
                r = dict(c, shown=int(ok.sum()), verdicts=ok.tolist(), nearest=nearest.tolist(),
                         dist=[round(float(v), 4) for v in dist])
                results.append(r)
                print("%3d/%d %-8s %d/%d  %-50s nearest %s (%.0fs)" % (k + 1, len(todo), c["group"], r["shown"], n,
                      c["prompt"][:50], ",".join(nearest[:4]), time.time() - t0), flush=True)
                if a.json:  # after every case: an interrupted run keeps what it measured
                    write_json(a.json, dict(report, cases=results, scores=summarize(results, n)))
                if a.keep_images:
                    os.makedirs(a.keep_images, exist_ok=True)
                    for j, im in enumerate(x):
                        Image.fromarray(im).save(os.path.join(a.keep_images, "%03d-%d.png" % (k, j)))
        report["cases"] = results
        report["scores"] = summarize(results, n)
        for g, s in report["scores"].items():
            print("fidelity %-8s cases %3d  fidelity@%d %.3f  any@%d %.3f"
                  % (g, s["cases"], n, s["fidelity@%d" % n], n, s["any@%d" % n]))
    if a.json:
        write_json(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
