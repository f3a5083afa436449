#!/usr/bin/python3
"""Image-prompt sheet: what the engine's --image-prompt adds, next to text alone, one row per emoji.

  image_prompt_sheet.py [--model assets/dalle-emoji.gguf] [--out docs/image-prompts.png] [--rows 8] [--seed 1]
                        [--prompts "cat face, twemoji style|..."] [--bin build/dalle-vk]

Per row: the emoji's dataset image (first caption = the prompt; [val] / [zero-shot] marks the held-out
splits), the part the image prompt keeps (its top --rows of the 16 code rows, the rest grey), the CLI's best 4
with the file's settings for the text alone (`dalle-vk PROMPT -n 4 --seed S`), then with the image prompt
(`... --image-prompt IMG --prompt-rows R`). Needs build/dalle-vk and the emoji cache (tools/fetch_emoji.py);
~15 s per row on 2 cores.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from dallevk import data as D

PROMPTS = ("cat face, twemoji style|star, twemoji style|fire, twemoji style|dog face, noto style|"
           "thinking face, twemoji style|bear, noto style")


def run_cli(a, prompt, out, extra=()):
    """The CLI's best 4 (the file's settings) as 4 PIL images (--separate writes OUT-0.png .. OUT-3.png)."""
    cmd = [a.bin, "--model", a.model, prompt, "-n", "4", "--seed", str(a.seed), "-q", "--separate", "-o", out, *extra]
    subprocess.run(cmd, check=True)
    stem = os.path.splitext(out)[0]
    return [Image.open("%s-%d.png" % (stem, q)).convert("RGB") for q in range(4)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="assets/dalle-emoji.gguf")
    ap.add_argument("--out", default="docs/image-prompts.png")
    ap.add_argument("--rows", type=int, default=8, help="code rows kept from the image (of 16)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prompts", default=PROMPTS, help="'|'-separated dataset captions")
    ap.add_argument("--bin", default="build/dalle-vk")
    a = ap.parse_args(argv)
    images, items = D.load_dataset()
    first = {it["captions"][0]: i for i, it in enumerate(items)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, prompt in enumerate(a.prompts.split("|")):
            if prompt not in first:
                sys.exit("image_prompt_sheet: no dataset image has the first caption %r" % prompt)
            i = first[prompt]
            src = Image.fromarray(images[i])
            src_path = os.path.join(tmp, "src%d.png" % k)
            src.save(src_path)
            kept = np.asarray(src).copy()
            cut = kept.shape[0] * a.rows // 16
            kept[cut:] = 200
            text = run_cli(a, prompt, os.path.join(tmp, "t%d.png" % k))
            comp = run_cli(a, prompt, os.path.join(tmp, "c%d.png" % k),
                           ("--image-prompt", src_path, "--prompt-rows", str(a.rows)))
            split = {"val": " [val]", "zeroshot": " [zero-shot]"}.get(items[i]["split"], "")
            rows.append((prompt + split, [src, Image.fromarray(kept)] + text + comp))
    cell, label_w, gap = 64, 250, 8
    W = label_w + 10 * cell + 2 * gap
    sheet = Image.new("RGB", (W, 28 + cell * len(rows)), "white")
    d = ImageDraw.Draw(sheet)
    d.text((4, 2), "%s, seed %d: prompt | image | kept (top %d of 16 code rows) | text only: best 4 | "
           "with --image-prompt: best 4 (the file's decoding)" % (os.path.basename(a.model), a.seed, a.rows),
           fill="black")
    for r, (label, tiles) in enumerate(rows):
        y = 28 + r * cell
        d.text((4, y + cell // 2 - 6), label, fill="black")
        for c, tile in enumerate(tiles):
            x = label_w + c * cell + (gap if c >= 2 else 0) + (gap if c >= 6 else 0)
            sheet.paste(tile.resize((cell, cell)), (x, y))
    tmp_out = a.out + ".tmp.png"
    sheet.save(tmp_out)
    os.replace(tmp_out, a.out)
    print("wrote %s (%d prompts)" % (a.out, len(rows)))


if __name__ == "__main__":
    main()
