"""PyTorch reference of DALL-E Mini / Mega: the BART encoder-decoder that min-dalle runs, sizes as parameters.

Model file keys and tensors: docs/model-format.md §9 (parameter names here = GGUF names). Checked
against goldens made by min-dalle's own classes (tests/data/min_dalle, tools/tests/test_min_dalle.py).

Shapes (float32), B rows, T text positions, N = grid^2 image tokens, d = d_model:
  encode(text_ids int64 [B, T]) -> states [B, T, d]; text_mask(text_ids) -> bool [B, T] (True = not pad)
  cross_kv(states) -> per decoder layer (K, V) [B, T, d], computed once per prompt
  step(prev int64 [B], j, cache, cross, mask) -> logits [B, image_vocab] of image token j; prev is the
      code of token j-1 (ignored at j = 0, where the input is `image_start`); cache: a DecoderCache
  logits_along(text_ids, codes [B, N]) -> logits [B, N, image_vocab], teacher-forced
  generate(text_ids [2, T], n_images, top_k, temperature, cond_scale, generator) -> codes [n, N]

Math (every LayerNorm has eps ln_eps = 1e-5; GELU is the exact erf form):
  attention: heads of d_head = d / n_heads; scores q k^T / sqrt(d_head) (q scaled first); masked keys
      get -1e12 added; softmax; out projection. Projections have biases (zeros in converted files).
  GLU(x) = mlp.fc2(mlp.mid_ln(gelu(mlp.fc1(h)) * mlp.gate(h))), h = ln2(x); no biases.
  encoder: x = emb_ln(text_emb[id] + text_pos_emb[pos]); per layer
      x += attn.post_ln(attn(ln1(x)))   (keys: text positions whose id is not pad_id)
      x += GLU(x); then ln_f.
  decoder input j: emb_ln(image_start) at j = 0, else emb_ln(image_emb[code j-1] + image_pos_emb[j-1]) (the
      converter folds min-dalle's position row 0 into image_start and shifts the table by one row); per layer
      x += attn.post_ln(self-attention(ln1(x)))          (causal: keys 0..j, KV cache)
      x += cross.post_ln(cross-attention(ln_cross(x)))   (keys / values: cross.kv(encoder states), pads masked)
      x += GLU(x); then ln_f, logits = image_logits(x) (image_vocab columns: the codes, 16384).
  super-conditioning (min-dalle's order of operations): logits = u * (1 - f) + c * f, u from the
      unconditional text row (row 0: [first id, last id] of the caption ids), c from the caption row.
  sampling (min-dalle): keep logits >= the top_k-th largest (ties kept), p ~ exp((l - max) / temperature)
      on the kept ones, one torch.multinomial draw per image.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

MASK_BIAS = -1e12  # added to the scores of masked keys (min-dalle)


@dataclass
class BartConfig:
    """Sizes. Defaults: DALL-E Mini (min-dalle `is_mega=False`); Mega: d_model 2048, n_heads 32,
    d_ff 4096, enc_layers = n_layers = 24, text_vocab 50272."""
    text_vocab: int = 50264    # encoder embedding rows
    text_len: int = 64         # T
    grid: int = 16             # image tokens per side (N = grid^2 = 256)
    image_vocab: int = 16384   # codes: decoder embedding rows and logit columns
    d_model: int = 1024
    n_heads: int = 16
    d_ff: int = 2730           # GLU width
    enc_layers: int = 12
    n_layers: int = 12         # decoder layers
    ln_eps: float = 1e-5
    pad_id: int = 1            # text id masked out as a key

    @property
    def d_head(self):
        return self.d_model // self.n_heads

    @property
    def n_image(self):
        return self.grid * self.grid

    def to_dict(self):
        return asdict(self)


class LN(nn.Module):
    """LayerNorm with parameters named w, b (the model file's names)."""

    def __init__(self, n, eps, device=None):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(n, device=device))
        self.b = nn.Parameter(torch.zeros(n, device=device))

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.w, self.b, self.eps)


class Lin(nn.Module):
    """y = x w^T (+ b): w [out, in]."""

    def __init__(self, n_in, n_out, bias, device=None):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, n_in, device=device) / math.sqrt(n_in))
        self.b = nn.Parameter(torch.zeros(n_out, device=device)) if bias else None

    def forward(self, x):
        return F.linear(x, self.w, self.b)


def attend(q, k, v, key_ok, n_heads):
    """q [B, Q, d], k / v [B, K, d], key_ok bool broadcastable to [B, 1, Q, K] -> [B, Q, d]."""
    B, Q, d = q.shape
    dh = d // n_heads
    q = q.reshape(B, Q, n_heads, dh) / dh ** 0.5
    k = k.reshape(B, k.shape[1], n_heads, dh)
    v = v.reshape(B, v.shape[1], n_heads, dh)
    s = torch.einsum("bqhc,bkhc->bhqk", q, k) + (1 - key_ok.to(q.dtype)) * MASK_BIAS
    return torch.einsum("bhqk,bkhc->bqhc", torch.softmax(s, -1), v).reshape(B, Q, d)


class SelfAttn(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = Lin(cfg.d_model, 3 * cfg.d_model, True, device)
        self.out = Lin(cfg.d_model, cfg.d_model, True, device)
        self.post_ln = LN(cfg.d_model, cfg.ln_eps, device)

    def forward(self, h, key_ok, past=None):
        """past: (K, V) of earlier positions or None; returns (post_ln(out), (K, V) with h's appended)."""
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        if past is not None:
            k, v = torch.cat([past[0], k], 1), torch.cat([past[1], v], 1)
        return self.post_ln(self.out(attend(q, k, v, key_ok, self.n_heads))), (k, v)


class CrossAttn(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.q = Lin(cfg.d_model, cfg.d_model, True, device)
        self.kv = Lin(cfg.d_model, 2 * cfg.d_model, True, device)
        self.out = Lin(cfg.d_model, cfg.d_model, True, device)
        self.post_ln = LN(cfg.d_model, cfg.ln_eps, device)

    def forward(self, h, kv, key_ok):
        return self.post_ln(self.out(attend(self.q(h), kv[0], kv[1], key_ok, self.n_heads)))


class GLU(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        self.fc1 = Lin(cfg.d_model, cfg.d_ff, False, device)
        self.gate = Lin(cfg.d_model, cfg.d_ff, False, device)
        self.mid_ln = LN(cfg.d_ff, cfg.ln_eps, device)
        self.fc2 = Lin(cfg.d_ff, cfg.d_model, False, device)

    def forward(self, h):
        return self.fc2(self.mid_ln(F.gelu(self.fc1(h)) * self.gate(h)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        self.ln1 = LN(cfg.d_model, cfg.ln_eps, device)
        self.attn = SelfAttn(cfg, device)
        self.ln2 = LN(cfg.d_model, cfg.ln_eps, device)
        self.mlp = GLU(cfg, device)

    def forward(self, x, key_ok):
        x = x + self.attn(self.ln1(x), key_ok)[0]
        return x + self.mlp(self.ln2(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        self.ln1 = LN(cfg.d_model, cfg.ln_eps, device)
        self.attn = SelfAttn(cfg, device)
        self.ln_cross = LN(cfg.d_model, cfg.ln_eps, device)
        self.cross = CrossAttn(cfg, device)
        self.ln2 = LN(cfg.d_model, cfg.ln_eps, device)
        self.mlp = GLU(cfg, device)

    def forward(self, x, past, cross_kv, text_ok):
        a, kv = self.attn(self.ln1(x), torch.ones(1, dtype=torch.bool, device=x.device), past)
        x = x + a
        x = x + self.cross(self.ln_cross(x), cross_kv, text_ok[:, None, None, :])
        return x + self.mlp(self.ln2(x)), kv


class Encoder(nn.Module):
    def __init__(self, cfg, device=None):
        super().__init__()
        self.cfg = cfg
        self.text_emb = nn.Parameter(torch.randn(cfg.text_vocab, cfg.d_model, device=device))
        self.text_pos_emb = nn.Parameter(torch.randn(cfg.text_len, cfg.d_model, device=device))
        self.emb_ln = LN(cfg.d_model, cfg.ln_eps, device)
        self.blk = nn.ModuleList(EncoderLayer(cfg, device) for _ in range(cfg.enc_layers))
        self.ln_f = LN(cfg.d_model, cfg.ln_eps, device)


class DecoderCache:
    """Per decoder layer the self-attention K and V [B, j, d] of the positions fed so far."""

    def __init__(self, n_layers):
        self.kv = [None] * n_layers
        self.pos = 0


class Bart(nn.Module):
    """Encoder (`enc.*`) and image decoder (the rest); parameter names = the model file's tensor names."""

    def __init__(self, cfg, device=None):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.enc = Encoder(cfg, device)
        self.image_start = nn.Parameter(torch.randn(d, device=device))
        self.image_emb = nn.Parameter(torch.randn(cfg.image_vocab, d, device=device))
        self.image_pos_emb = nn.Parameter(torch.randn(cfg.n_image, d, device=device))
        self.emb_ln = LN(d, cfg.ln_eps, device)
        self.blk = nn.ModuleList(DecoderLayer(cfg, device) for _ in range(cfg.n_layers))
        self.ln_f = LN(d, cfg.ln_eps, device)
        self.image_logits = Lin(d, cfg.image_vocab, True, device)

    def text_mask(self, text_ids):
        return text_ids != self.cfg.pad_id

    def encode(self, text_ids):
        e = self.enc
        T = text_ids.shape[1]
        x = e.emb_ln(e.text_emb[text_ids] + e.text_pos_emb[:T])
        ok = self.text_mask(text_ids)[:, None, None, :]
        for layer in e.blk:
            x = layer(x, ok)
        return e.ln_f(x)

    def cross_kv(self, states):
        return [tuple(layer.cross.kv(states).chunk(2, dim=-1)) for layer in self.blk]

    def step(self, prev, j, cache, cross, mask):
        """Logits [B, image_vocab] of image token j (cache.pos must equal j)."""
        if cache.pos != j:
            raise ValueError("decoder step %d with a cache of %d positions" % (j, cache.pos))
        B = mask.shape[0]
        tok = self.image_start.expand(B, -1) if j == 0 else self.image_emb[prev] + self.image_pos_emb[j - 1]
        x = self.emb_ln(tok)[:, None, :]
        for i, layer in enumerate(self.blk):
            x, cache.kv[i] = layer(x, cache.kv[i], cross[i], mask)
        cache.pos += 1
        return self.image_logits(self.ln_f(x))[:, 0]

    def logits_along(self, text_ids, codes):
        """Teacher-forced logits [B, N, image_vocab]: token j's input is codes[:, j-1]."""
        states = self.encode(text_ids)
        cross, mask = self.cross_kv(states), self.text_mask(text_ids)
        cache = DecoderCache(self.cfg.n_layers)
        out = []
        for j in range(codes.shape[1]):
            out.append(self.step(codes[:, j - 1] if j else None, j, cache, cross, mask))
        return torch.stack(out, 1)

    def generate(self, text_ids, n_images, top_k=256, temperature=1.0, cond_scale=16.0, generator=None,
                 on_token=None):
        """text_ids [2, T] (row 0 unconditional, row 1 the caption; text_rows()) -> codes int64
        [n_images, N]. Rows of the batch: n_images unconditional, then n_images conditional, as
        min-dalle (so its seeded draws are reproduced). on_token(j, codes_j) is called per token."""
        rows = text_ids[[0] * n_images + [1] * n_images]
        states = self.encode(rows)
        cross, mask = self.cross_kv(states), self.text_mask(rows)
        cache = DecoderCache(self.cfg.n_layers)
        codes = torch.zeros(n_images, self.cfg.n_image, dtype=torch.long)
        for j in range(self.cfg.n_image):
            prev = codes[:, j - 1].repeat(2) if j else None
            logits = self.step(prev, j, cache, cross, mask)
            sc = super_condition(logits[:n_images], logits[n_images:], cond_scale)
            codes[:, j] = sample_top_k(sc, top_k, temperature, generator)
            if on_token is not None:
                on_token(j, codes[:, j])
        return codes


def super_condition(uncond, cond, factor):
    """min-dalle's super-conditioning: uncond * (1 - factor) + cond * factor."""
    return uncond * (1 - factor) + cond * factor


def top_k_kept(logits, top_k):
    """bool mask of the logits >= the top_k-th largest of each row (ties kept)."""
    kth = logits.sort(dim=-1, descending=True)[0][:, top_k - 1:top_k]
    return logits >= kth


def sample_top_k(logits, top_k, temperature=1.0, generator=None):
    """One code per row: weights exp((l - max) / temperature) on the top-k kept logits, torch.multinomial."""
    kept = top_k_kept(logits, top_k)
    w = torch.exp((logits - logits.max(dim=-1, keepdim=True)[0]) / temperature) * kept.to(logits.dtype)
    return torch.multinomial(w, 1, generator=generator)[:, 0]


def text_rows(ids, text_len, pad_id=1):
    """The encoder input of one caption, as min-dalle builds it: ids (bos, BPE ids, eos) truncated to
    text_len; row 0 = [ids[0], ids[-1]] of the truncated ids (the unconditional prompt, [bos, eos]
    unless truncation cut the eos), row 1 = ids; pads = pad_id. int64 [2, text_len]."""
    ids = list(ids)[:text_len]
    if len(ids) < 2:
        raise ValueError("text ids need at least bos and eos, got %r" % (ids,))
    rows = torch.full((2, text_len), pad_id, dtype=torch.long)
    rows[0, :2] = torch.tensor([ids[0], ids[-1]])
    rows[1, :len(ids)] = torch.tensor(ids)
    return rows


# --- model file (docs/model-format.md §9): keys <-> BartConfig fields ----------------------------------
GGUF_KEYS = [
    ("dalle.text_vocab", "text_vocab", "uint32"), ("dalle.text_len", "text_len", "uint32"),
    ("dalle.grid", "grid", "uint32"), ("dalle.image_vocab", "image_vocab", "uint32"),
    ("dalle.d_model", "d_model", "uint32"), ("dalle.n_heads", "n_heads", "uint32"),
    ("dalle.d_ff", "d_ff", "uint32"), ("dalle.enc_layers", "enc_layers", "uint32"),
    ("dalle.n_layers", "n_layers", "uint32"), ("dalle.ln_eps", "ln_eps", "float32"),
    ("dalle.text_pad_id", "pad_id", "uint32"),
]
LAYOUT = "encoder-decoder"


def schema(cfg):
    """[(tensor name, PyTorch shape)] of a Bart in state_dict order (meta device: no memory)."""
    return [(k, tuple(v.shape)) for k, v in Bart(cfg, device="meta").state_dict().items()]


def from_gguf(reader, dtype=torch.float32):
    """Bart (eval mode) from a GGUFReader of a file with dalle.layout = "encoder-decoder"; ValueError
    naming the key or tensor that is missing or misshaped."""
    if reader.get("dalle.layout", None) != LAYOUT:
        raise ValueError("%s: dalle.layout is %r, expected %r"
                         % (reader.path, reader.get("dalle.layout", None), LAYOUT))
    kw = {}
    for key, fname, _ in GGUF_KEYS:
        if key not in reader.fields:
            raise ValueError("%s: missing key %s" % (reader.path, key))
        kw[fname] = reader.get(key)
    cfg = BartConfig(**kw)
    if cfg.d_model % cfg.n_heads:
        raise ValueError("%s: dalle.d_model %d is not a multiple of dalle.n_heads %d"
                         % (reader.path, cfg.d_model, cfg.n_heads))
    sd = {k: torch.from_numpy(v).to(dtype) for k, v in reader.arrays(schema(cfg)).items()}
    model = Bart(cfg).to(dtype)
    model.load_state_dict(sd, strict=True)
    return model.eval()
