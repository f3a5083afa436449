"""Makes the tiny OpenAI dVAE test files of this folder with the upstream `dall_e` package itself.

Needs openai/DALL-E (the `dall_e` package) and its `attrs` dependency importable; dalle-vk's own code
is used only to write the golden GGUF. tests/data/README.md records the commit and the command.

Writes (into --out, default: this folder):
  encoder.pkl, decoder.pkl  torch.save(module) of upstream's Encoder / Decoder, as OpenAI ships them
  goldens.gguf              tensors (float32, PyTorch order):
      dec.codes     [B, G, G]        the codes decoded (integers stored as f32)
      dec.x_stats   [B, 6, R, R]     Decoder(one_hot(codes)) (upstream forward, CPU float32)
      dec.pixels    [B, 3, R, R]     unmap_pixels(sigmoid(x_stats[:, :3])) in [0, 1]
      enc.pixels    [B, 3, R, R]     image in [0, 1], multiples of 1/255 (an RGB8 image)
      enc.logits    [B, vocab, G, G] Encoder(map_pixels(image))
      enc.codes     [B, G, G]        argmax of the logits over the vocabulary
    keys golden.* with the sizes used.

Sizes are tiny: n_hid 4 and vocab 32 are below the attrs validators' minimums (64, 512), so the
validators are switched off with attrs' own switch while building; the layer structure is upstream's.
group_count is a plain class attribute (4) of upstream's attrs classes, not a constructor argument.
Weights: upstream's init (seeded), then every bias set to seeded N(0, 0.01)
(small enough that the encoder's argmax codes still vary) so that biases matter.
"""
import argparse
import os
import sys

import attr
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
from dallevk.gguf import GGUFWriter  # noqa: E402

from dall_e import Decoder, Encoder, map_pixels, unmap_pixels  # noqa: E402  (upstream)

SIZES = dict(group_count=4, n_hid=4, n_blk_per_group=2, vocab_size=32, n_init=8, image_size=32, batch=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    s = SIZES
    grid = s["image_size"] // 2 ** (s["group_count"] - 1)
    torch.manual_seed(17)
    attr.validators.set_disabled(True)
    enc = Encoder(n_hid=s["n_hid"], n_blk_per_group=s["n_blk_per_group"],
                  vocab_size=s["vocab_size"])
    dec = Decoder(n_init=s["n_init"], n_hid=s["n_hid"],
                  n_blk_per_group=s["n_blk_per_group"], vocab_size=s["vocab_size"])
    attr.validators.set_disabled(False)
    g = torch.Generator().manual_seed(18)
    with torch.no_grad():
        for m in (enc, dec):
            for name, p in m.named_parameters():
                if name.endswith(".b"):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.01)
    enc.eval()
    dec.eval()
    torch.save(enc, os.path.join(a.out, "encoder.pkl"))
    torch.save(dec, os.path.join(a.out, "decoder.pkl"))

    B = s["batch"]
    codes = torch.randint(0, s["vocab_size"], (B, grid, grid), generator=g)
    image = torch.randint(0, 256, (B, 3, s["image_size"], s["image_size"]), generator=g) / 255.0  # an RGB8 image
    with torch.no_grad():
        x_stats = dec(F.one_hot(codes, s["vocab_size"]).permute(0, 3, 1, 2).float())
        pixels = unmap_pixels(torch.sigmoid(x_stats[:, :3]))
        logits = enc(map_pixels(image))
    w = GGUFWriter()
    w.add_string("general.architecture", "dalle")
    w.add_string("general.description", "goldens of upstream dall_e (tests/data/README.md)")
    for k, v in s.items():
        w.add_uint32("golden." + k, v)
    for name, t in (("dec.codes", codes.float()), ("dec.x_stats", x_stats), ("dec.pixels", pixels),
                    ("enc.pixels", image), ("enc.logits", logits), ("enc.codes", logits.argmax(1).float())):
        w.add_tensor(name, t.numpy(), "f32")
    w.write(os.path.join(a.out, "goldens.gguf"))
    print("pixels range %.3f..%.3f, std %.3f; encoder codes %s" % (
        pixels.min(), pixels.max(), pixels.std(), logits.argmax(1).flatten().tolist()))


if __name__ == "__main__":
    main()
