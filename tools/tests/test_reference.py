"""Tests for the Python reference (run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)."""
import os
import tempfile
import unittest

import torch

from dallevk import bpe, dvae
from dallevk.transformer import (Dalle, DalleConfig, beam_search, build_mask,
                                 image_key_allowed, pad_text, paper_schedule)


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def _small_model(types, G, wrap, kernel=3, dtype=torch.float64, seed=0, **options):
    torch.manual_seed(seed)
    cfg = DalleConfig(text_len=6, text_vocab=50, grid=G, image_vocab=20, d_model=32,
                      n_heads=4, n_layers=len(types), d_ff=128, attn_types=types,
                      conv_kernel=kernel, conv_wrap=wrap, **options)
    m = Dalle(cfg).to(dtype)
    with torch.no_grad():  # larger weights than the init so every path matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return m


class TestKVCache(unittest.TestCase):
    def check(self, types, G, wrap, kernel=3, dtype=torch.float64, tol=1e-10, **options):
        m = _small_model(types, G, wrap, kernel, dtype, **options)
        T, Vt = m.cfg.text_len, m.cfg.text_vocab
        text = torch.stack([pad_text([1, 2, 3], T, Vt), pad_text(list(range(5, 15)), T, Vt)])
        codes = torch.randint(0, m.cfg.image_vocab, (2, G * G))
        with torch.no_grad():
            _, full = m(text, codes)
            lg, cache = m.prefill(text)
            outs = [lg]
            for i in range(G * G - 1):
                outs.append(m.decode_step(cache, codes[:, i]))
        kv = torch.stack(outs, 1)
        self.assertEqual(kv.shape, full.shape)
        self.assertFalse(torch.isnan(kv).any())
        self.assertLess(_rel(kv, full), tol, (types, G, wrap))
        # per-token relative error, not only global
        per = ((kv - full).norm(dim=-1) / full.norm(dim=-1)).max().item()
        self.assertLess(per, tol * 10, (types, G, wrap))

    def test_each_type_f64(self):
        for t in ("full", "row", "col", "conv"):
            for wrap in (False, True):
                self.check([t], 4, wrap)

    def test_mixed_schedule_nonpow2(self):
        self.check(["row", "col", "row", "conv"], 5, True)
        self.check(["row", "col", "row", "conv"], 5, False)
        self.check(["conv", "full"], 6, True, kernel=5)

    def test_options(self):
        """Every architecture option (no start token, linear positions, sandwich norm, tanh GELU, two final
        norms, clamp, shifted mask origin): the KV-cache path equals the full forward."""
        types = ["row", "col", "conv"]
        rudalle3 = dict(image_start=False, norm="sandwich", gelu="tanh", final_norms=2, attn_out_clamp=0.5)
        self.check(types, 4, False, **rudalle3)
        self.check(types, 4, True, **dict(rudalle3, mask_image0=5))  # v2: one position before image token 0
        self.check(["full", "full"], 4, False, image_start=False, image_pos="linear")
        self.check(types, 5, True, image_pos="linear", norm="sandwich")

    def test_clamp_and_tanh_change_outputs(self):
        """The options are live: each changes the logits of the same weights."""
        base = dict(image_start=False, norm="sandwich", gelu="tanh", final_norms=2)
        m = _small_model(["row", "conv"], 4, False, **base)
        text = pad_text([1, 2], 6, 50).view(1, -1)
        codes = torch.randint(0, 20, (1, 16))
        with torch.no_grad():
            ref = m(text, codes)[1]
            for field, value in (("gelu", "erf"), ("attn_out_clamp", 0.05), ("mask_image0", 5)):
                m2 = Dalle(DalleConfig(**dict(m.cfg.to_dict(), **{field: value}))).double()
                m2.load_state_dict(m.state_dict())
                self.assertGreater(_rel(m2(text, codes)[1], ref), 1e-6, field)

    def test_float32(self):
        self.check(paper_schedule(4), 4, False, dtype=torch.float32, tol=2e-5)


class TestGenerate(unittest.TestCase):
    def test_shapes_and_determinism(self):
        m = _small_model(paper_schedule(3), 4, False, dtype=torch.float32)
        text = pad_text([1, 2], m.cfg.text_len, m.cfg.text_vocab)
        a = m.generate(text, n=3, seed=7, temperature=0.9, top_k=5, top_p=0.9)
        b = m.generate(text, n=3, seed=7, temperature=0.9, top_k=5, top_p=0.9)
        self.assertEqual(tuple(a.shape), (3, 16))
        self.assertTrue(torch.equal(a, b))
        self.assertTrue(((a >= 0) & (a < m.cfg.image_vocab)).all())

    def test_pad_text(self):
        t = pad_text([5, 6, 7, 8], 3, 100)
        self.assertEqual(t.tolist(), [5, 6, 7])
        t = pad_text([5], 4, 100)
        self.assertEqual(t.tolist(), [5, 101, 102, 103])


class TestBeamSearch(unittest.TestCase):
    """beam_search against an exhaustive search: every image of a 2x2 grid over 5 codes (625), teacher-forced."""

    SEED = 2  # a prompt where greedy decoding misses the likeliest image

    def setUp(self):
        torch.manual_seed(self.SEED)
        cfg = DalleConfig(text_len=6, text_vocab=50, grid=2, image_vocab=5, d_model=32, n_heads=4, n_layers=2,
                          d_ff=64, attn_types=["row", "col"])
        self.m = Dalle(cfg).double()
        with torch.no_grad():
            for p in self.m.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        self.text = pad_text([3, 7, 9], cfg.text_len, cfg.text_vocab)
        grids = torch.cartesian_prod(*[torch.arange(5)] * 4)
        with torch.no_grad():
            _, il = self.m(self.text.view(1, -1).expand(len(grids), -1), grids)
        self.all_lp = torch.log_softmax(il, -1).gather(-1, grids.unsqueeze(-1)).squeeze(-1).sum(1)
        self.grids = grids

    def test_exact_when_wide(self):
        """Width 125 = 5^3 keeps every prefix: the 125 results are the 125 likeliest images, in order."""
        codes, lp = beam_search(self.m, self.text, 125)
        order = torch.argsort(self.all_lp, descending=True)[:125]
        msg = "seed %d" % self.SEED
        self.assertEqual(codes.tolist(), self.grids[order].tolist(), msg)
        self.assertLess((lp - self.all_lp[order]).abs().max().item(), 1e-10, msg)

    def test_width_one_is_greedy(self):
        codes, lp = beam_search(self.m, self.text, 1)
        greedy = []
        with torch.no_grad():
            for i in range(4):
                _, il = self.m(self.text.view(1, -1), torch.tensor([greedy + [0] * (4 - i)]))
                greedy.append(int(il[0, i].argmax()))
        self.assertEqual(codes.tolist(), [greedy], "seed %d" % self.SEED)
        k = [i for i, g in enumerate(self.grids.tolist()) if g == greedy][0]
        self.assertLess(abs(lp.item() - self.all_lp[k].item()), 1e-10)
        self.assertLess(lp.item(), self.all_lp.max().item() - 1e-3)  # greedy is not exact here

    def test_generate_beam_from(self):
        """Dalle.generate(beam_from=0) is beam_search (width 5 from the empty prefix); beam_from=2 (one sampled row)
        continues the sampled rows: each result's first row is one of them and the 5 results are the 5 best
        extensions found, best first, by summed log p."""
        msg = "seed %d" % self.SEED
        codes, lp = beam_search(self.m, self.text, 5)
        self.assertEqual(self.m.generate(self.text, n=5, beam_from=0).tolist(), codes.tolist(), msg)
        sampled = self.m.generate(self.text, n=5, seed=3)
        hybrid = self.m.generate(self.text, n=5, seed=3, beam_from=2)
        rows = {tuple(r) for r in sampled[:, :2].tolist()}
        self.assertTrue(all(tuple(r) in rows for r in hybrid[:, :2].tolist()), msg)
        k = [self.grids.tolist().index(g) for g in hybrid.tolist()]
        self.assertEqual(len(set(k)), 5, msg)  # distinct images
        self.assertTrue(all(self.all_lp[a] >= self.all_lp[b] - 1e-12 for a, b in zip(k, k[1:])), msg)


class TestLossOptions(unittest.TestCase):
    """Dalle.loss options: input_codes (corrupted inputs, clean targets: train_dalle.py --input-noise) and
    per_sample (train_dalle.py --sample-by loss)."""

    @staticmethod
    def batch(n, seed):
        """A small model and n random (caption ids, codes) pairs."""
        m = _small_model(["row", "col"], 4, False)
        cfg = m.cfg
        g = torch.Generator().manual_seed(seed)
        text = torch.randint(0, cfg.text_vocab, (n, cfg.text_len), generator=g)
        return m, text, torch.randint(0, cfg.image_vocab, (n, cfg.grid ** 2), generator=g)

    def test_input_codes(self):
        m, text, codes = self.batch(2, 5)
        cfg = m.cfg
        base = m.loss(text, codes)
        same = m.loss(text, codes, input_codes=codes.clone())
        self.assertEqual([v.item() for v in base], [v.item() for v in same])
        bad = codes.clone()
        bad[:, 5] = (bad[:, 5] + 1) % cfg.image_vocab  # input 5 feeds the prediction of target 6 onwards
        _, il = m.forward(text, codes)
        _, il2 = m.forward(text, bad)
        self.assertTrue(torch.equal(il[:, :6], il2[:, :6]))
        self.assertFalse(torch.equal(il[:, 6:], il2[:, 6:]))
        self.assertNotEqual(m.loss(text, codes, input_codes=bad)[2].item(), base[2].item())

    def test_per_sample(self):
        """per_sample=True (train_dalle.py --sample-by loss): image CE of each sequence, computed alone."""
        m, text, codes = self.batch(3, 6)
        loss, tce, each = m.loss(text, codes, per_sample=True)
        self.assertEqual(tuple(each.shape), (3,))
        for i in range(3):
            _, il = m.forward(text[i:i + 1], codes[i:i + 1])
            ref = torch.nn.functional.cross_entropy(il[0].double(), codes[i]).item()
            self.assertAlmostEqual(each[i].item(), ref, places=5, msg="sequence %d" % i)
        self.assertNotAlmostEqual(each[0].item(), each[1].item(), places=4)
        self.assertAlmostEqual(m.loss(text, codes)[0].item(), loss.item(), places=6)

    def test_focal_gamma(self):
        """focal_gamma (train_dalle.py --focal-gamma): the image term is the token CEs' mean weighted by
        (1 - p)^gamma, recomputed here from the logits token by token; image_ce stays the plain mean."""
        seed = 7
        m, text, codes = self.batch(3, seed)
        plain = m.loss(text, codes)
        _, il = m.forward(text, codes)
        p = torch.softmax(il.double(), -1).gather(-1, codes.unsqueeze(-1)).squeeze(-1)
        for gamma in (1.0, 2.0):
            loss, tce, ice = m.loss(text, codes, focal_gamma=gamma)
            num = den = 0.0
            for b in range(codes.shape[0]):
                for j in range(codes.shape[1]):
                    w = (1 - p[b, j].item()) ** gamma
                    num += w * -torch.log(p[b, j]).item()
                    den += w
            ref = tce.item() / 8 + 7 / 8 * num / den
            self.assertAlmostEqual(loss.item(), ref, places=6, msg="seed %d gamma %g" % (seed, gamma))
            self.assertAlmostEqual(ice.item(), plain[2].item(), places=6)
            self.assertNotAlmostEqual(loss.item(), plain[0].item(), places=3)

    def test_caption_token_ce(self):
        """caption_token_ce: per-token CE and argmax flags of each (caption, codes) pair, as Dalle.loss and
        forward give them; caption_image_ce is its mean."""
        from dallevk.transformer import caption_image_ce, caption_token_ce
        m, _, codes = self.batch(3, 8)

        class Tok:
            def encode(self, s):
                return [len(w) % 40 for w in s.split()]
        caps = ["a dog face", "red heart", ""]
        ce, top = caption_token_ce(m, Tok(), caps, codes.numpy(), batch=2)
        self.assertEqual(ce.shape, tuple(codes.shape))
        text = torch.stack([pad_text(Tok().encode(c), m.cfg.text_len, m.cfg.text_vocab) for c in caps])
        _, il = m.forward(text, codes)
        for i in range(3):
            ref = torch.nn.functional.cross_entropy(il[i].double(), codes[i], reduction="none")
            self.assertLess((torch.from_numpy(ce[i]) - ref).abs().max().item(), 1e-6, msg="caption %d" % i)
            self.assertEqual(top[i].tolist(), (il[i].argmax(-1) == codes[i]).tolist())
        self.assertLess(abs(caption_image_ce(m, Tok(), caps, codes.numpy())[1] - ce[1].mean()), 1e-9)
        self.assertTrue(top.any() and not top.all())


class TestGrow(unittest.TestCase):
    def test_widen_mlp_keeps_function_and_trains(self):
        from dallevk.training import widen_mlp
        m = _small_model(["row", "col", "conv"], 4, False)
        cfg2 = DalleConfig(**dict(m.cfg.to_dict(), d_ff=200))
        w = Dalle(cfg2).to(torch.float64)
        w.load_state_dict(widen_mlp(m.state_dict(), 200, torch.Generator().manual_seed(1)))
        torch.manual_seed(3)
        text = torch.randint(0, m.cfg.text_vocab, (2, m.cfg.text_len))
        codes = torch.randint(0, m.cfg.image_vocab, (2, 16))
        with torch.no_grad():
            for a, b in zip(m(text, codes), w(text, codes)):
                self.assertLess(_rel(b, a), 1e-12)
        fc1 = w.layers[0].mlp.fc1.w
        self.assertTrue(torch.equal(fc1[:128], m.layers[0].mlp.fc1.w))
        self.assertGreater(fc1[128:].abs().min().item(), 0.0)  # random, not zero: new units differ
        loss, _, _ = w.loss(text, codes)
        loss.backward()
        g = w.layers[0].mlp.fc2.w.grad[:, 128:]
        self.assertGreater(g.abs().max().item(), 1e-8)  # the new units get gradient at once
        with self.assertRaises(ValueError):
            widen_mlp(m.state_dict(), 64, torch.Generator())


class TestConfigs(unittest.TestCase):
    def test_round_trip(self):
        c = DalleConfig(n_layers=3, grid=5, conv_wrap=True)
        self.assertEqual(DalleConfig(**c.to_dict()), c)
        self.assertEqual(c.attn_types, ["row", "col", "conv"])
        d = dvae.DvaeConfig(n_hid=48)
        self.assertEqual(dvae.DvaeConfig(**d.to_dict()), d)
        self.assertEqual(d.grid, 16)

    def test_param_names(self):
        m = _small_model(["row", "conv"], 4, False)
        names = set(m.state_dict())
        for n in ("text_emb", "text_pos_emb", "image_start", "image_emb", "image_row_emb",
                  "image_col_emb", "layers.1.attn.qkv.w", "layers.1.attn.qkv.b",
                  "layers.1.attn.out.w", "layers.1.mlp.fc1.w", "layers.1.mlp.fc2.b",
                  "layers.0.ln1.w", "layers.0.ln2.b", "ln_f.w", "text_logits.w",
                  "image_logits.w", "image_logits.b"):
            self.assertIn(n, names)
        c = m.cfg
        self.assertEqual(tuple(m.text_emb.shape), (c.text_vocab + c.text_len, c.d_model))
        self.assertEqual(tuple(m.layers[0].attn.qkv.w.shape), (3 * c.d_model, c.d_model))
        self.assertEqual(tuple(m.layers[0].mlp.fc2.w.shape), (c.d_model, c.d_ff))
        self.assertFalse(any(k.startswith("mask_") for k in names))  # masks not saved

    def test_loss_ignores_pad_targets(self):
        m = _small_model(["row"], 3, False)
        T, Vt = m.cfg.text_len, m.cfg.text_vocab
        codes = torch.randint(0, m.cfg.image_vocab, (1, 9))
        a = m.loss(pad_text([1, 2], T, Vt).view(1, -1), codes)[1]
        tl, _ = m(pad_text([1, 2], T, Vt).view(1, -1), codes)
        want = -torch.log_softmax(tl[0, 0], -1)[2]       # only target: token 2 at j=1
        self.assertAlmostEqual(a.item(), want.item(), places=10)


class TestMask(unittest.TestCase):
    def test_matches_rule(self):
        T = 3
        for G in (3, 4, 5):
            for t in ("full", "row", "col", "conv"):
                for wrap in (False, True):
                    m = build_mask(T, G, t, kernel=3, wrap=wrap)
                    S = T + G * G
                    self.assertEqual(tuple(m.shape), (S, S))
                    for p in range(S):
                        for q in range(S):
                            if q > p:
                                want = False
                            elif p <= T or q <= T:
                                want = True
                            else:
                                want = image_key_allowed(p - T - 1, q - T - 1, t, G, 3, wrap)
                            self.assertEqual(bool(m[p, q]), want, (G, t, wrap, p, q))

    def test_properties(self):
        T, G = 4, 6
        for t in ("full", "row", "col", "conv"):
            m = build_mask(T, G, t, kernel=5)
            self.assertTrue(m.diagonal().all())                 # every query sees itself
            self.assertFalse(torch.triu(m, 1).any())            # causal
            self.assertTrue(m[T + 1:, :T + 1].all())            # image sees text + start
        row = build_mask(T, G, "row")
        self.assertEqual(int(row[-1, T + 1:].sum()), G + 1)    # previous G+1 incl. self
        col = build_mask(T, G, "col")
        self.assertEqual(int(col[-1, T + 1:].sum()), (G * G - 2) // G + 1)
        conv = build_mask(T, G, "conv", kernel=5, wrap=False)
        i = 3 * G + 3                                          # interior (r=3, c=3)
        self.assertEqual(int(conv[T + 1 + i, T + 1:].sum()), 5 * 2 + 2 + 1)
        convw = build_mask(T, G, "conv", kernel=5, wrap=True)
        i0 = 1 * G + 0                                         # left edge: wrap adds keys
        self.assertGreater(int(convw[T + 1 + i0, T + 1:].sum()),
                           int(conv[T + 1 + i0, T + 1:].sum()))

    def test_paper_schedule(self):
        self.assertEqual(paper_schedule(8),
                         ["row", "col", "row", "row", "row", "col", "row", "conv"])


class TestDvae(unittest.TestCase):
    def test_paper_names_and_shapes(self):
        self.assertEqual(dvae.paper_size_check(), [])

    def test_gather_equals_onehot_conv(self):
        torch.manual_seed(0)
        cfg = dvae.DvaeConfig(n_hid=16, vocab_size=37, n_init=8, image_size=16)
        dec = dvae.Decoder(cfg).double()
        with torch.no_grad():
            dec.blocks.input.b.normal_()
        codes = torch.randint(0, 37, (2, cfg.grid, cfg.grid))
        a = dec(dvae.one_hot_codes(codes, 37).double())
        b = dec.decode_codes(codes)
        self.assertLess(_rel(b, a), 1e-12)

    def test_shapes(self):
        cfg = dvae.DvaeConfig(n_hid=16, vocab_size=37, n_init=8)
        enc, dec = dvae.Encoder(cfg), dvae.Decoder(cfg)
        x = torch.rand(2, 3, 64, 64)
        logits = enc(dvae.map_pixels(x))
        self.assertEqual(tuple(logits.shape), (2, 37, 16, 16))
        px = dvae.decode_pixels(dec.decode_codes(logits.argmax(1)))
        self.assertEqual(tuple(px.shape), (2, 3, 64, 64))
        self.assertTrue(((px >= 0) & (px <= 1)).all())


TRICKY = ["", "   ", "Hello,  World!", "  Grinning\tFACE\n\n", "café crème brûlée",
          "日本語のテキスト", "red ❤️ heart 🐶🐶", "a\u00a0b", "x--y__z 12ab34",
          "emoji:👨‍👩‍👧 family", "\r\n\x0b\x0ctab\tend ", "ÀÉÎ õ ü", "...!!??", "a" * 50]


class TestBPE(unittest.TestCase):
    def setUp(self):
        corpus = ["grinning face, twemoji style", "red heart, noto style", "dog face",
                  "café", "日本語", "👍 thumbs up", "aaaa aaa aa"] * 3
        self.tok = bpe.BPE.train(corpus, 256 + 60)

    def test_normalize(self):
        self.assertEqual(bpe.normalize("  Hello \t\n World  "), b"hello world")
        self.assertEqual(bpe.normalize("ÀB"), "Àb".encode())
        self.assertEqual(bpe.normalize(""), b"")

    def test_pretokenize(self):
        self.assertEqual(bpe.pretokenize(b"red heart, noto-style 12"),
                         [b"red", b" heart", b",", b" noto", b"-", b"style", b" 12"])
        self.assertEqual(bpe.pretokenize("a é".encode()), [b"a", " é".encode()])

    def test_round_trip(self):
        for s in TRICKY:
            ids = self.tok.encode(s)
            self.assertTrue(all(0 <= i < self.tok.vocab_size for i in ids))
            self.assertEqual(self.tok.decode(ids), bpe.normalize(s).decode("utf-8"), s)

    def test_merges_used_and_within_chunks(self):
        ids = self.tok.encode("grinning face")
        self.assertLess(len(ids), len("grinning face"))
        toks = self.tok.token_bytes()
        for i in ids:  # no token spans a space inside it
            self.assertNotIn(b" ", toks[i][1:])

    def test_save_load(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "bpe.json")
            self.tok.save(p)
            t2 = bpe.BPE.load(p)
        self.assertEqual(t2.merges, self.tok.merges)
        for s in TRICKY:
            self.assertEqual(t2.encode(s), self.tok.encode(s))

    def test_lowest_rank_first(self):
        # merges: (a,b)->256, (b,c)->257; "abc": (a,b) has lower rank -> [256, c]
        t = bpe.BPE([(97, 98), (98, 99)])
        self.assertEqual(t.encode("abc"), [256, 99])
        t = bpe.BPE([(98, 99), (97, 98)])
        self.assertEqual(t.encode("abc"), [97, 256])
        t = bpe.BPE([(97, 97)])
        self.assertEqual(t.encode("aaa"), [256, 97])


if __name__ == "__main__":
    unittest.main()
