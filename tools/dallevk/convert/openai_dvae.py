"""OpenAI's dVAE (encoder.pkl / decoder.pkl of openai/DALL-E) -> the dvae.* section of a model file.

The files are torch.save'd nn.Module objects of the `dall_e` package (attrs classes). They are read
with the restricted unpickler (torchfile.py): only the dall_e and torch.nn classes that make up these
two nets are accepted, as data. Hyperparameters come from the pickled attributes (n_hid,
n_blk_per_group, vocab_size, n_init, input/output_channels); group_count is a class constant (4) of
upstream's Encoder/Decoder, not pickled, and is checked against the number of groups in the file.
The engine's dVAE (tools/dallevk/dvae.py, src/model/dvae.c) is the same architecture, so the tensors
map 1:1 to the dvae.dec.* / dvae.enc.* names of docs/model-format.md §3 (decoder input conv stored
transposed as [vocab, n_init]). The pickles do not state an image size: image_size (default 256, the
size the released nets were trained at) only sets dvae.image_size.
"""

from . import ConvertError
from .checks import match_tensors
from .plan import Plan
from .torchfile import Record, module_tensors, open_checkpoint

from .. import export as X  # the dVAE name tables and keys

GROUP_COUNT = 4  # fixed by upstream's classes (a class attribute, not in the pickle)
_COMMON = ("torch.nn.modules.container.Sequential", "torch.nn.modules.activation.ReLU",
           "torch.nn.modules.linear.Identity", "dall_e.utils.Conv2d")
DECODER_CLASSES = _COMMON + ("dall_e.decoder.Decoder", "dall_e.decoder.DecoderBlock",
                             "torch.nn.modules.upsampling.Upsample")
ENCODER_CLASSES = _COMMON + ("dall_e.encoder.Encoder", "dall_e.encoder.EncoderBlock",
                             "torch.nn.modules.pooling.MaxPool2d")
LICENSE = "Modified MIT License (openai/DALL-E LICENSE)"


def _open(stack, path, classes, root_cls, what):
    ck = stack.enter_context(open_checkpoint(path, allow=classes, what=what))
    root = ck.root
    if not isinstance(root, Record) or root.cls_name != root_cls:
        raise ConvertError("%s: holds %s, expected a pickled %s (%s)" % (
            path, getattr(root, "cls_name", type(root).__name__), root_cls, what))
    return root


def _attr(path, root, name, what):
    v = root.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ConvertError("%s: %s: attribute '%s' is %r, expected a positive int" % (path, what, name, v))
    return v


def _groups(path, root, what):
    blocks = (root.get("_modules") or {}).get("blocks")
    names = list((blocks.get("_modules") or {}) if isinstance(blocks, Record) else {})
    n = sum(1 for k in names if k.startswith("group_"))
    if n != GROUP_COUNT:
        raise ConvertError("%s: %s: %d groups under 'blocks', expected %d (upstream's group_count)"
                           % (path, what, n, GROUP_COUNT))
    return n


def read_config(stack, decoder_path, encoder_path=None, image_size=256):
    """(dVAE config dict with the DvaeConfig fields, decoder Record, encoder Record or None)."""
    what = "OpenAI dVAE decoder.pkl"
    dec = _open(stack, decoder_path, DECODER_CLASSES, "dall_e.decoder.Decoder", what)
    cfg = {k: _attr(decoder_path, dec, k, what) for k in
           ("n_hid", "n_blk_per_group", "vocab_size", "n_init", "output_channels")}
    cfg["group_count"] = _groups(decoder_path, dec, what)
    cfg["input_channels"] = 3
    enc = None
    if encoder_path is not None:
        what = "OpenAI dVAE encoder.pkl"
        enc = _open(stack, encoder_path, ENCODER_CLASSES, "dall_e.encoder.Encoder", what)
        _groups(encoder_path, enc, what)
        for k in ("n_hid", "n_blk_per_group", "vocab_size"):
            v = _attr(encoder_path, enc, k, what)
            if v != cfg[k]:
                raise ConvertError("%s: %s %d differs from the decoder's %d (%s): not a matching pair"
                                   % (encoder_path, k, v, cfg[k], decoder_path))
        cfg["input_channels"] = _attr(encoder_path, enc, "input_channels", what)
    if image_size < 1 or image_size % 2 ** (cfg["group_count"] - 1):
        raise ConvertError("dVAE image size %d is not a multiple of %d" % (image_size, 2 ** (cfg["group_count"] - 1)))
    cfg["image_size"] = image_size
    return cfg, dec, enc


def plan(stack, decoder_path, encoder_path=None, image_size=256):
    """Plan (keys and tensors) of the dvae.* section from the two pickles (encoder optional).
    stack: a contextlib.ExitStack that keeps the files open until the plan is written."""
    cfg, dec, enc = read_config(stack, decoder_path, encoder_path, image_size)
    p = Plan()
    for key, field in X.DVAE_KEYS:
        p.key("uint32", key, cfg[field])
    p.key("bool", "dvae.has_encoder", enc is not None)
    parts = [("dec", decoder_path, dec, X.dvae_decoder_schema(cfg))]
    if enc is not None:
        parts.append(("enc", encoder_path, enc, X.dvae_encoder_schema(cfg)))
    for part, path, root, schema in parts:
        found = module_tensors(root)
        match_tensors(path, found, schema, "OpenAI dVAE %s" % ("decoder" if part == "dec" else "encoder"))
        for name, shape in schema:
            t = found[name]
            if part == "dec" and name == X.DEC_INPUT:  # [n_init, vocab, 1, 1] -> [vocab, n_init]
                p.tensor("dvae.dec." + name, (shape[1], shape[0]), lambda t=t: t.numpy()[:, :, 0, 0].T,
                         (path, name))
            else:
                p.tensor("dvae.%s.%s" % (part, name), shape, t.numpy, (path, name))
    return p
