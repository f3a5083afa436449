#!/usr/bin/python3
"""How much the caption decides the image, teacher-forced (assets/MODEL_CARD.md, "Where samples go wrong").

1. On 96 training images without a skin tone (fixed sample, seed 1): the mean image-token CE (nats/token)
   with each image's own first caption, with another image's first caption (the image 7 places on in the
   sample), and with the empty caption. A model that follows the text has own << other; own ~ empty means the
   text is ignored.
2. Where that CE sits, on the same images with their own caption: the share of tokens with CE > 1 nat and their
   share of the CE, the mean of each image's largest token CE, and the fraction of images whose every code is
   the argmax of its logits (greedy decoding would redraw them). A sampler that misses one of the few expensive
   tokens, where one memorised image parts from another, goes on to draw another image.
3. Whole-image NLL (nats, summed over the 256 codes) of named emoji images (--names, in --style) under each
   of their captions and the empty one: the row of an image shows which caption makes it likeliest; the
   "dog face" column shows which image the model finds likeliest for "dog face" (memorised yellow faces
   cost far fewer nats than a dog).
4. With --beam W: search errors against model errors. Beam search (transformer.beam_search, width W) under the
   own caption of the first --beam-images of the 96 images: a search error when the own image is likelier than
   every image the search found (a better sampler could reach it), a model error when the search found a likelier
   image (no decoding rule that follows the likelihood draws the own image).
Usage: /usr/bin/python3 tools/caption_gap.py [--dalle auto | --model assets/dalle-emoji.gguf] [--beam 32]
"""
import argparse
import os
import random
import sys

import numpy as np
import torch

from dallevk import data as D
from dallevk.checkpoints import load_dalle
from dallevk.transformer import beam_search, caption_image_ce, caption_token_ce, pad_text

NAMES = "grinning face|dog face|cat face|neutral face|red heart"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dalle", default="auto", help="transformer run (auto: checkpoints.resolve_dalle)")
    ap.add_argument("--model", default="", help="a model file (with the dVAE encoder) instead of the runs")
    ap.add_argument("--names", default=NAMES, help="'|'-separated emoji names for the NLL matrix")
    ap.add_argument("--style", default="twemoji", choices=("twemoji", "noto"))
    ap.add_argument("--beam", type=int, default=0, metavar="W", help="beam width for part 4 (0: skip it)")
    ap.add_argument("--beam-images", type=int, default=24, metavar="N", help="training images part 4 searches")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    images, items = D.load_dataset()
    if a.model:
        from dallevk.from_gguf import load_model
        gm = load_model(a.model)
        if gm.encoder is None or gm.dalle is None:
            raise SystemExit("%s: needs the transformer and the dVAE encoder" % a.model)
        model, tok, what = gm.dalle, gm.bpe, a.model
        codes = D.encode_images(gm.encoder, images)
    else:
        model, tok, info = load_dalle(a.dalle)
        what = "%s (%s)" % (info["path"], "final" if info["final"] else "step %s" % info["step"])
        codes = np.load(os.path.join(info["run"], "codes.npy"))
    codes = codes.reshape(len(codes), -1)
    print("model:", what)

    train = [i for i, it in enumerate(items) if it["split"] == "train" and not it["tone"]]
    idx = random.Random(1).sample(train, 96)
    first = [items[i]["captions"][0] for i in idx]
    ce, top = caption_token_ce(model, tok, first, codes[idx])  # own caption, token by token
    other, empty = (caption_image_ce(model, tok, caps, codes[idx]).mean()
                    for caps in (first[7:] + first[:7], [""] * len(idx)))
    print("96 training images, image CE (nats/token): own caption %.3f, another's %.3f, empty %.3f"
          % (ce.mean(), other, empty))
    hard = ce > 1.0
    print("own caption: %.1f%% of the tokens have CE > 1 nat and hold %.1f%% of the CE; largest token CE per image "
          "%.2f nats (mean); every code the argmax in %.1f%% of the images"
          % (100 * hard.mean(), 100 * ce[hard].sum() / ce.sum(), ce.max(1).mean(), 100 * top.all(1).mean()))

    names = a.names.split("|")
    caps = ["%s, %s style" % (n, a.style) for n in names]
    rows = []
    for c in caps:
        hit = [i for i, it in enumerate(items) if c in it["captions"]]
        if not hit:
            raise SystemExit("no image has the caption %r" % c)
        rows.append(hit[0])
    w = max(len(n) for n in names) + 2
    print("whole-image NLL (nats): rows = images, columns = captions ('%s style'), last = empty caption" % a.style)
    print(" " * w + " ".join("%9.9s" % n for n in names) + "     empty")
    for n, i in zip(names, rows):
        vals = caption_image_ce(model, tok, caps + [""], codes[[i] * (len(caps) + 1)]) * codes.shape[1]
        print(n.ljust(w) + " ".join("%9.0f" % v for v in vals))
    if a.beam > 0:
        search_vs_model(model, tok, first[:a.beam_images], codes[idx[:a.beam_images]], -ce.sum(1), a.beam)
    return 0


def search_vs_model(model, tok, captions, codes, own_lp, width):
    """Part 4 of the module doc: own_lp [n] = log p(own image | own caption), summed over the codes."""
    model.eval()
    cfg, margins, found = model.cfg, [], 0
    for cap, c, own in zip(captions, codes, own_lp):
        beams, lp = beam_search(model, pad_text(tok.encode(cap), cfg.text_len, cfg.text_vocab), width)
        margins.append(lp[0].item() - own)
        found += any(b == c.tolist() for b in beams.tolist())
    m = np.array(margins)
    tol = 0.01  # nats: the two passes round differently
    print("beam search, width %d, %d training images under their own caption: the best beam is the own image in %d, "
          "search errors (own image likelier than every beam) %d, model errors (a beam likelier) %d; own image among "
          "the beams %d; log p(best beam) - log p(own image) median %.1f nats; log p(own image) median %.1f nats"
          % (width, len(m), (abs(m) <= tol).sum(), (m < -tol).sum(), (m > tol).sum(), found, np.median(m),
             np.median(own_lp)))


if __name__ == "__main__":
    sys.exit(main())
