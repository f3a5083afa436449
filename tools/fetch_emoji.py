#!/usr/bin/python3
"""Fetch the emoji training set and build the dataset cache.

Sources (all MIT licensed, versions pinned below, fetched with `npm pack`):
  emoji-datasource-twitter  -> img/twitter/64/*.png  (Twemoji artwork, CC-BY 4.0 images)
  emoji-datasource-google   -> img/google/64/*.png   (Noto Emoji artwork, Apache 2.0 images)
  emojibase-data            -> en/data.json          (CLDR labels and tags for captions)
emoji-datasource's emoji.json ships inside each style package and is used for the
image list, short names and skin-tone variations.

Output in the cache dir (default ~/.cache/dalle-vk/emoji, env DVK_DATA_DIR):
  dataset.npz   images: uint8 [N, 64, 64, 3] RGB, alpha composited on white
  dataset.json  {"items": [{"key", "base", "style", "tone", "split", "captions": [...]}, ...]}
               item i describes images[i]; split is "train", "val" or "zeroshot".
Split files in assets/splits/ (deterministic, seed 1234):
  val_emoji.txt   base emoji (unified code, FE0F removed) held out in every style and tone
  zeroshot.json   [[base, style], ...]: that emoji is trained only in the other style
Usage: /usr/bin/python3 tools/fetch_emoji.py [--data-dir DIR] [--splits-dir DIR]
"""
import argparse
import io
import json
import os
import random
import subprocess
import sys
import tarfile

import numpy as np
from PIL import Image

PACKAGES = {
    "twitter": ("emoji-datasource-twitter", "16.0.0"),
    "google": ("emoji-datasource-google", "16.0.0"),
}
EMOJIBASE = ("emojibase-data", "17.0.0")
STYLE_WORD = {"twitter": "twemoji", "google": "noto"}
TONE_WORD = {"1F3FB": "light skin tone", "1F3FC": "medium-light skin tone",
             "1F3FD": "medium skin tone", "1F3FE": "medium-dark skin tone",
             "1F3FF": "dark skin tone"}
# Emoji the sample sheet and the acceptance prompts rely on: never held out.
KEEP_IN_TRAIN = {"2764", "1F600", "1F436", "1F431", "1F34E", "2B50", "1F525", "1F680"}
VAL_FRACTION = 0.05
ZEROSHOT_FRACTION = 0.03
SEED = 1234


def data_dir_default():
    return os.environ.get("DVK_DATA_DIR",
                          os.path.expanduser("~/.cache/dalle-vk/emoji"))


def npm_pack(name, version, dest):
    """Download name@version as a tarball into dest (kept as a cache); return its path."""
    path = os.path.join(dest, "%s-%s.tgz" % (name, version))
    if not os.path.exists(path):
        subprocess.run(["npm", "pack", "%s@%s" % (name, version)], cwd=dest, check=True,
                       stdout=subprocess.DEVNULL)
    return path


def norm_code(unified):
    """Canonical key: uppercase code points joined by '-', without FE0F selectors."""
    return "-".join(c for c in unified.upper().split("-") if c != "FE0F")


def clean_text(s):
    return " ".join(s.replace("_", " ").replace(":", ",").lower().split())


def load_png_rgb(data):
    """PNG bytes -> uint8 [64, 64, 3], alpha composited on white."""
    im = Image.open(io.BytesIO(data)).convert("RGBA")
    if im.size != (64, 64):
        im = im.resize((64, 64), Image.LANCZOS)
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(bg, im).convert("RGB"), dtype=np.uint8)


def emojibase_index(tgz):
    """norm_code -> (label, tags) from emojibase-data en/data.json (skins included)."""
    with tarfile.open(tgz) as tf:
        data = json.load(tf.extractfile("package/en/data.json"))
    out = {}
    for e in data:
        out[norm_code(e["hexcode"])] = (e.get("label", ""), e.get("tags", []) or [])
        for s in e.get("skins", []) or []:
            out[norm_code(s["hexcode"])] = (s.get("label", ""), e.get("tags", []) or [])
    return out


def captions_for(entry, tone_key, style, eb):
    """Several lowercase captions for one (emoji, tone, style) image."""
    sw = STYLE_WORD[style] + " style"
    base_label, tags = eb.get(norm_code(entry["unified"]), ("", []))
    name = clean_text(base_label or entry.get("name") or entry["short_name"])
    tone = ""
    if tone_key:
        tone = ", ".join(TONE_WORD.get(t, "") for t in tone_key.split("-") if t in TONE_WORD)
    full = name + (", " + tone if tone else "")
    caps = [full + ", " + sw, full, "an emoji of " + full + ", " + sw]
    shorts = [clean_text(s) for s in entry.get("short_names", [])]
    for s in shorts[:2]:
        if s and s != name:
            caps.append(s + (", " + tone if tone else "") + ", " + sw)
    tg = [clean_text(t) for t in tags if clean_text(t) not in name.split()][:4]
    if tg:
        caps.append(full + ", " + ", ".join(tg) + ", " + sw)
    seen, out = set(), []
    for c in caps:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def make_splits(bases, splits_dir):
    """Deterministic val / zero-shot split over base emoji; writes and returns them."""
    rng = random.Random(SEED)
    pool = sorted(b for b in bases if b not in KEEP_IN_TRAIN)
    rng.shuffle(pool)
    n_val = int(round(VAL_FRACTION * len(bases)))
    n_zs = int(round(ZEROSHOT_FRACTION * len(bases)))
    val = sorted(pool[:n_val])
    zs = sorted([b, rng.choice(["twitter", "google"])] for b in pool[n_val:n_val + n_zs])
    os.makedirs(splits_dir, exist_ok=True)
    with open(os.path.join(splits_dir, "val_emoji.txt"), "w") as f:
        f.write("".join(b + "\n" for b in val))
    with open(os.path.join(splits_dir, "zeroshot.json"), "w") as f:
        json.dump(zs, f, indent=0)
        f.write("\n")
    return set(val), {tuple(p) for p in zs}


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=data_dir_default())
    ap.add_argument("--splits-dir", default=os.path.join(here, "..", "assets", "splits"))
    args = ap.parse_args(argv)
    os.makedirs(args.data_dir, exist_ok=True)

    eb = emojibase_index(npm_pack(*EMOJIBASE, args.data_dir))
    images, items = [], []
    for style, (pkg, ver) in PACKAGES.items():
        with tarfile.open(npm_pack(pkg, ver, args.data_dir)) as tf:
            meta = json.load(tf.extractfile("package/emoji.json"))
            names = set(tf.getnames())
            for e in sorted(meta, key=lambda e: e["sort_order"]):
                variants = [("", e)] + sorted((e.get("skin_variations") or {}).items())
                for tone_key, v in variants:
                    member = "package/img/%s/64/%s" % (style, v["image"])
                    if not v.get("has_img_" + style, True) or member not in names:
                        continue
                    images.append(load_png_rgb(tf.extractfile(member).read()))
                    items.append({"key": norm_code(v["unified"]),
                                  "base": norm_code(e["unified"]), "style": style,
                                  "tone": tone_key,
                                  "captions": captions_for(e, tone_key, style, eb)})
    val, zs = make_splits({it["base"] for it in items}, args.splits_dir)
    for it in items:
        if it["base"] in val:
            it["split"] = "val"
        elif (it["base"], it["style"]) in zs:
            it["split"] = "zeroshot"
        else:
            it["split"] = "train"
    arr = np.stack(images)
    np.savez(os.path.join(args.data_dir, "dataset.npz.tmp.npz"), images=arr)
    os.replace(os.path.join(args.data_dir, "dataset.npz.tmp.npz"),
               os.path.join(args.data_dir, "dataset.npz"))
    with open(os.path.join(args.data_dir, "dataset.json.tmp"), "w") as f:
        json.dump({"sources": {**{s: "%s@%s" % p for s, p in PACKAGES.items()},
                               "captions": "%s@%s" % EMOJIBASE},
                   "items": items}, f)
    os.replace(os.path.join(args.data_dir, "dataset.json.tmp"),
               os.path.join(args.data_dir, "dataset.json"))
    counts = {}
    for it in items:
        counts[it["split"]] = counts.get(it["split"], 0) + 1
    print("images", arr.shape, "splits", counts, "->", args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
