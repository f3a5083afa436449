"""Tests for the CLIP-style reranker (tools/dallevk/clip.py): export -> from_gguf round trip of the clip.*
keys and tensors (f32 exact, f16 rounded), causal masks and which inputs the features depend on,
scores = s * cosine, the symmetric loss, retrieval ranks, and the committed parity model reproducing its
reranker goldens (run: /usr/bin/python3 -m unittest discover -s tools/tests -t tools)."""
import math
import os
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

from dallevk import export
from dallevk.clip import Clip, ClipConfig, Pruner, causal_mask, prune_sources, retrieval
from dallevk.from_gguf import load_model
from dallevk.gguf import GGUFReader, GGUFWriter
from dallevk.transformer import Dalle, DalleConfig, pad_text

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PARITY = os.path.join(TOOLS, "..", "tests", "data", "parity")
DALLE_KW = dict(text_len=6, text_vocab=280, grid=4, image_vocab=24)


def _randomize(module, seed, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name != "logit_scale":
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module


def _clip(seed=1, **kw):
    cfg = dict(DALLE_KW, d_model=16, n_heads=2, d_ff=24, text_layers=2, image_layers=1, d_embed=12)
    cfg.update(kw)
    return _randomize(Clip(ClipConfig(**cfg)), seed).eval()


def _inputs(clip, n=3, seed=5):
    g = torch.Generator().manual_seed(seed)
    c = clip.cfg
    ids = torch.stack([pad_text(torch.randint(0, 256, (k,), generator=g).tolist(), c.text_len, c.text_vocab)
                       for k in (2, 4, 6)[:n]])
    codes = torch.randint(0, c.image_vocab, (n, c.grid ** 2), generator=g)
    return ids, codes


class TestRoundTrip(unittest.TestCase):
    def export(self, clip, f16=False, with_dalle=True, prune_rows=None):
        dalle = Dalle(DalleConfig(**DALLE_KW, d_model=16, n_heads=2, n_layers=1, d_ff=16, attn_types=["full"]))
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.gguf")
        self.addCleanup(lambda: (os.path.exists(path) and os.unlink(path), os.rmdir(d)))
        export.export(path, dalle=(dalle.cfg.to_dict(), dalle.state_dict()) if with_dalle else None,
                      clip=(clip.cfg.to_dict(), clip.state_dict()), f16=f16, prune_rows=prune_rows)
        return path

    def test_f32_exact(self):
        clip = _clip()
        with torch.no_grad():
            clip.logit_scale.fill_(math.log(7.5))
        path = self.export(clip)
        r = GGUFReader(path)
        self.assertAlmostEqual(r.get("clip.logit_scale"), 7.5, places=5)
        self.assertEqual(r.get("clip.d_embed"), 12)
        self.assertEqual(r.tensors["clip.text.tok_emb"].shape, (280 + 6, 16))
        self.assertEqual(r.tensors["clip.image.blk.0.attn.qkv.w"].shape, (48, 16))
        self.assertNotIn("clip.image.blk.1.ln1.w", r.tensors)  # image_layers = 1
        self.assertEqual(len([n for n in r.tensors if n.startswith("clip.")]), 5 + 6 + 12 * 3)
        m = load_model(path)
        want = dict(clip.cfg.to_dict(), ln_eps=float(np.float32(1e-5)))
        self.assertEqual(m.clip.cfg, ClipConfig(**want))
        gsd, wsd = m.clip.state_dict(), clip.state_dict()
        self.assertEqual(sorted(gsd), sorted(wsd))
        for k, w in wsd.items():
            if k == "logit_scale":
                self.assertAlmostEqual(m.clip.scale().item(), 7.5, places=5)
            else:
                self.assertTrue(torch.equal(gsd[k], w), k)
        ids, codes = _inputs(clip)
        with torch.no_grad():
            self.assertTrue(torch.allclose(m.clip.scores(ids, codes), clip.scores(ids, codes), rtol=1e-5, atol=1e-6))

    def test_f16_and_clamp(self):
        clip = _clip()
        with torch.no_grad():
            clip.logit_scale.fill_(math.log(250.0))  # above the clamp: the file holds 100
        path = self.export(clip, f16=True)
        r = GGUFReader(path)
        self.assertEqual(r.get("clip.logit_scale"), 100.0)
        self.assertEqual(r.tensors["clip.text.proj.w"].type, 1)
        self.assertEqual(r.tensors["clip.text.ln_f.w"].type, 0)
        m = load_model(path, dtype=torch.float64)
        self.assertTrue(m.f16)
        for k, w in clip.state_dict().items():
            if k != "logit_scale":
                self.assertTrue(torch.equal(m.clip.state_dict()[k].float(), w.half().float() if w.dim() >= 2 else w), k)
        self.assertEqual(m.clip.scale().item(), 100.0)

    def test_optional_and_checks(self):
        path = self.export(_clip())
        self.assertIsNotNone(load_model(path).clip)
        self.assertEqual(load_model(path).prune_rows, ())
        self.assertEqual(load_model(self.export(_clip(), prune_rows=[2, 0])).prune_rows, (0, 2))
        with self.assertRaisesRegex(SystemExit, "rows 0..grid-2"):  # grid 4: row 3 is the last, not prunable
            self.export(_clip(), prune_rows=[3])
        d = tempfile.mkdtemp()
        p2 = os.path.join(d, "noclip.gguf")
        export.export(p2, merges=[(97, 98)])
        self.assertIsNone(load_model(p2).clip)
        os.unlink(p2)
        os.rmdir(d)
        with self.assertRaisesRegex(SystemExit, "needs the transformer"):
            self.export(_clip(), with_dalle=False)
        with self.assertRaisesRegex(SystemExit, "grid 5 != dalle.grid 4"):
            self.export(_clip(grid=5))
        with self.assertRaisesRegex(AssertionError, "multiple of 4"):
            ClipConfig(**DALLE_KW, d_model=12, n_heads=2)
        sd = _clip().state_dict()
        sd["text.extra"] = torch.zeros(2)
        with self.assertRaisesRegex(SystemExit, "unmapped"):
            export.clip_tensors(sd, _clip().cfg.to_dict())

    def test_bad_files(self):
        """A missing clip key or tensor is a ValueError naming it."""
        r = GGUFReader(self.export(_clip()))

        def rewrite(drop):
            w = GGUFWriter()
            for k, f in r.fields.items():
                if k != drop:
                    w.add_array(k, f.value, f.elem_type) if f.type == 9 else w.add_scalar(k, f.value, f.type)
            for name, t in r.tensors.items():
                if name != drop:
                    w.add_tensor(name, np.array(t.data, np.float32), "f32")
            return w.to_bytes()
        with self.assertRaisesRegex(ValueError, "clip.d_ff"):
            load_model(data=rewrite("clip.d_ff"))
        with self.assertRaisesRegex(ValueError, "clip.logit_scale"):
            load_model(data=rewrite("clip.logit_scale"))
        with self.assertRaisesRegex(ValueError, "'clip.image.proj.w' is missing"):
            load_model(data=rewrite("clip.image.proj.w"))


class TestModel(unittest.TestCase):
    def test_causal_mask(self):
        m = causal_mask(4)
        self.assertTrue(m[2, 0] and m[2, 2] and not m[2, 3])

    def test_text_feature_depends_on_every_position(self):
        clip = _clip()
        ids, _ = _inputs(clip, 1)
        with torch.no_grad():
            f0 = clip.text_features(ids)
            for j in range(clip.cfg.text_len):
                ids2 = ids.clone()
                ids2[0, j] = (ids2[0, j] + 1) % (clip.cfg.text_vocab + clip.cfg.text_len)
                self.assertGreater((clip.text_features(ids2) - f0).abs().max().item(), 1e-6, j)

    def test_masks_are_causal(self):
        """A state at position j does not depend on later tokens; the image feature depends on code 0."""
        clip = _clip()
        ids, codes = _inputs(clip, 1)
        with torch.no_grad():
            h0 = clip.text.states(clip.text.embed(ids))
            ids2 = ids.clone()
            ids2[0, 3] = 7
            h1 = clip.text.states(clip.text.embed(ids2))
            self.assertTrue(torch.equal(h0[:, :3], h1[:, :3]))
            self.assertGreater((h0[:, 3:] - h1[:, 3:]).abs().min().item(), 0)
            g0 = clip.image.states(clip.image.embed(codes))
            c2 = codes.clone()
            c2[0, 9] = (c2[0, 9] + 1) % clip.cfg.image_vocab
            g1 = clip.image.states(clip.image.embed(c2))
            self.assertTrue(torch.equal(g0[:, :9], g1[:, :9]))
            c3 = codes.clone()
            c3[0, 0] = (c3[0, 0] + 1) % clip.cfg.image_vocab
            self.assertGreater((clip.image_features(c3) - clip.image_features(codes)).abs().max().item(), 1e-6)

    def test_features_match_manual_math(self):
        """Feature = proj.w @ ln_f(last state) / norm, last position = T-1 / G*G-1, embeddings as specified."""
        clip = _clip()
        ids, codes = _inputs(clip)
        c = clip.cfg
        with torch.no_grad():
            x = clip.text.tok_emb[ids] + clip.text.pos_emb
            h = clip.text.states(x)[:, c.text_len - 1]
            v = h @ clip.text.proj.w.t()
            self.assertTrue(torch.allclose(clip.text_features(ids), v / v.norm(dim=1, keepdim=True), atol=1e-6))
            i = torch.arange(c.grid ** 2)
            x = clip.image.tok_emb[codes] + clip.image.row_emb[i // c.grid] + clip.image.col_emb[i % c.grid]
            v = clip.image.states(x)[:, -1] @ clip.image.proj.w.t()
            self.assertTrue(torch.allclose(clip.image_features(codes), v / v.norm(dim=1, keepdim=True), atol=1e-6))

    def test_scores_are_scaled_cosine(self):
        clip = _clip()
        ids, codes = _inputs(clip)
        with torch.no_grad():
            t = clip.text.proj(clip.text.states(clip.text.embed(ids))[:, -1])
            im = clip.image.proj(clip.image.states(clip.image.embed(codes))[:, -1])
            cos = F.cosine_similarity(t.unsqueeze(1), im.unsqueeze(0), dim=-1)
            want = math.exp(math.log(1 / 0.07)) * cos
            self.assertTrue(torch.allclose(clip.scores(ids, codes), want, atol=1e-5))
            self.assertTrue(torch.allclose(clip.scores(ids[1], codes), want[1], atol=1e-5))
            clip.logit_scale.fill_(math.log(1000.0))
            self.assertTrue(torch.allclose(clip.scores(ids, codes), 100 * cos, atol=1e-4))

    def test_loss_symmetric(self):
        clip = _clip()
        ids, codes = _inputs(clip)
        loss, s = clip.loss(ids, codes)
        y = torch.arange(3)
        manual = 0.5 * (F.cross_entropy(s, y) + F.cross_entropy(s.t(), y))
        self.assertAlmostEqual(loss.item(), manual.item(), places=6)
        perm = torch.tensor([2, 0, 1])
        self.assertAlmostEqual(clip.loss(ids[perm], codes[perm])[0].item(), loss.item(), places=5)
        # symmetric in the two modalities: CE over rows and over columns weigh the same
        rows, cols = F.cross_entropy(s, y), F.cross_entropy(s.t(), y)
        self.assertAlmostEqual(0.5 * (cols + rows).item(), loss.item(), places=6)
        loss.backward()
        self.assertIsNotNone(clip.logit_scale.grad)

    def test_prefix_features(self):
        """Row r's prefix feature = the whole-image feature of any image sharing rows 0..r (the tower is
        causal); the last row's = image_features; the prefix loss reduces to the plain one at weight 0."""
        clip = _clip()
        ids, codes = _inputs(clip)
        G = clip.cfg.grid
        with torch.no_grad():
            full = clip.prefix_features(codes, list(range(G)))
            self.assertTrue(torch.allclose(full[:, -1], clip.image_features(codes), atol=1e-6))
            self.assertTrue(torch.allclose(clip.prefix_scores(ids[0], codes, G - 1), clip.scores(ids[0], codes),
                                           atol=1e-5))
            for r in range(G - 1):
                other = codes.clone()
                other[:, (r + 1) * G:] = torch.randint(0, clip.cfg.image_vocab, other[:, (r + 1) * G:].shape)
                self.assertTrue(torch.allclose(clip.prefix_features(other, [r])[:, 0], full[:, r], atol=1e-6))
                self.assertTrue(torch.allclose(clip.prefix_features(codes[:, :(r + 1) * G], [r])[:, 0], full[:, r],
                                               atol=1e-6))
            self.assertFalse(torch.allclose(full[:, 0], full[:, -1], atol=1e-3))
        plain, s0 = clip.loss(ids, codes)
        weighted, s1 = clip.loss(ids, codes, prefix_weight=0.0)
        self.assertEqual(plain.item(), weighted.item())
        mixed, s2 = clip.loss(ids, codes, prefix_weight=0.5)
        self.assertTrue(torch.equal(s0, s2))
        y = torch.arange(3)
        pre = [clip.scale() * clip.text_features(ids) @ full[:, r].t() for r in range(G - 1)]
        manual = 0.5 * plain + 0.5 * torch.stack([0.5 * (F.cross_entropy(m, y) + F.cross_entropy(m.t(), y))
                                                  for m in pre]).mean()
        self.assertAlmostEqual(mixed.item(), manual.item(), places=5)

    def test_prune_sources(self):
        self.assertEqual(prune_sources([0.1, 0.9, 0.5, 0.3]), [1, 1, 2, 2])  # worst <- best, 2nd worst <- 2nd best
        self.assertEqual(prune_sources([1.0, 1.0, 1.0]), [0, 1, 0])  # ties: lower index ranks first
        self.assertEqual(prune_sources([3.0]), [0])
        seed = 7
        rng = np.random.default_rng(seed)
        for _ in range(50):
            sc = rng.normal(size=int(rng.integers(2, 12))).tolist()
            src = prune_sources(sc)
            moved = [b for b in range(len(sc)) if src[b] != b]
            self.assertEqual(len(moved), len(sc) // 2, "seed %d" % seed)
            self.assertTrue(all(src[src[b]] == src[b] for b in range(len(sc))), "seed %d: chained" % seed)
            self.assertTrue(max(sc[b] for b in moved) <= min(sc[b] for b in range(len(sc)) if b not in moved),
                            "seed %d" % seed)

    def test_pruned_generation(self):
        """Dalle.generate with a Pruner: identical to plain sampling up to the first pruning row; after it, each
        candidate's codes start with its source's prefix (with and without guidance). The reordered KV cache is
        checked against teacher forcing by the engine's end-to-end test (check_e2e.py, pruning with guidance)."""
        torch.manual_seed(0)
        dalle = _randomize(Dalle(DalleConfig(**DALLE_KW, d_model=16, n_heads=2, n_layers=2, d_ff=32,
                                             attn_types=["row", "col"])), 3).eval()
        clip = _clip()
        ids = _inputs(clip)[0][1]
        G = dalle.cfg.grid
        for cond_scale in (1.0, 2.0):
            plain = dalle.generate(ids, n=5, seed=4, cond_scale=cond_scale)
            pr = Pruner(clip, ids, [1])
            seen = []
            pruned = dalle.generate(ids, n=5, seed=4, cond_scale=cond_scale,
                                    on_row=lambda r, c: seen.append(c.clone()) or pr(r, c))
            self.assertEqual(len(pr.events), 1)
            row, scores, src = pr.events[0]
            self.assertEqual(row, 1)
            self.assertTrue(torch.equal(pruned[:, :2 * G], seen[1][src]))
            self.assertTrue(torch.equal(seen[1], plain[:, :2 * G]))

    def test_retrieval(self):
        clip = _clip()
        ids, codes = _inputs(clip)
        r = retrieval(clip, ids, codes, batch=2)
        s = clip.scores(ids, codes).detach()
        rank = [(s[n] > s[n, n]).sum().item() for n in range(3)]
        self.assertAlmostEqual(r["top1"], sum(k == 0 for k in rank) / 3)
        self.assertEqual(r["top5"], 1.0)
        self.assertAlmostEqual(r["chance1"], 1 / 3)


class TestCommittedParityModel(unittest.TestCase):
    def test_golden_reranker(self):
        """The committed parity models with a reranker, loaded in float64, reproduce the clip goldens of
        tools/make_goldens.py (computed independently from the in-memory weights)."""
        for name in ("g6-full-convclamp-f32", "g6-full-convclamp-f16"):
            m = load_model(os.path.join(PARITY, name + ".gguf"), dtype=torch.float64)
            g = GGUFReader(os.path.join(PARITY, name + "-golden.gguf"))

            def t(n):
                return torch.tensor(np.array(g.tensors[n].data), dtype=torch.float64)
            text, codes = t("text_ids").long(), t("clip_codes").long()
            with torch.no_grad():
                tf = m.clip.text_features(text)[0]
                imf = m.clip.image_features(codes)
                sc = m.clip.scores(text, codes)
            for got, want in ((tf, t("clip_text_feat")), (imf, t("clip_image_feat")), (sc, t("clip_scores"))):
                self.assertEqual(got.shape, want.shape)
                self.assertLess(((got - want).norm() / want.norm()).item(), 1e-6, name)


if __name__ == "__main__":
    unittest.main()
