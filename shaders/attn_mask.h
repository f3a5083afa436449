// The attention masks of shaders/attn*.comp, enumerated arithmetically: which keys a query may see
// (the rules are at the top of attn.comp). Needs `p` (dvk_pc_attn) in scope.
#ifndef DVK_ATTN_MASK_H
#define DVK_ATTN_MASK_H

// A set of indices: the union of two disjoint runs [a0, a0 + n0) and [a1, a1 + n1).
struct Runs { uint a0, n0, a1, n1; };
uint runs_count(Runs s) { return s.n0 + s.n1; }
uint runs_at(Runs s, uint k) { return k < s.n0 ? s.a0 + k : s.a1 + (k - s.n0); }
Runs run1(uint a, uint n) { return Runs(a, n, 0u, 0u); }

// conv window sets for image query (r, c): rows before r, columns of those rows, columns <= c of row r.
struct Conv { Runs rows, cols, last; };
Conv conv_sets(uint r, uint c) {
  uint G = p.grid, h = p.conv_half;
  uint lo_r = r > h ? r - h : 0u, lo_c = c > h ? c - h : 0u, hi_c = min(G - 1u, c + h);
  Conv s;
  s.rows = run1(lo_r, r - lo_r);
  s.cols = run1(lo_c, hi_c - lo_c + 1u);
  s.last = run1(lo_c, c - lo_c + 1u);
  if (p.conv_wrap != 0u) {
    if (2u * h + 1u >= G) { // the window covers the whole grid
      s.rows = run1(0u, r);
      s.cols = run1(0u, G);
      s.last = run1(0u, c + 1u);
    } else { // 2h < G: the wrapped runs below never overlap the plain ones
      if (r + h >= G) s.rows = Runs(lo_r, r - lo_r, 0u, r + h - G + 1u);           // rows 0 .. r+h-G
      if (c < h) s.cols = Runs(lo_c, hi_c - lo_c + 1u, c + G - h, h - c);         // cols c-h+G .. G-1
      else if (c + h >= G) s.cols = Runs(lo_c, hi_c - lo_c + 1u, 0u, c + h - G + 1u); // cols 0 .. c+h-G
      if (c + h >= G) s.last = Runs(lo_c, c - lo_c + 1u, 0u, c + h - G + 1u);
    }
  }
  return s;
}

// Number of image keys of image query i under the mask (conv: sets in cs).
uint image_key_count(uint i, Conv cs) {
  uint G = p.grid;
  if (p.mask == DVK_ATTN_ROW) return min(i, G) + 1u;
  if (p.mask == DVK_ATTN_COL) return i / G + 1u;
  if (p.mask == DVK_ATTN_CONV) return runs_count(cs.rows) * runs_count(cs.cols) + runs_count(cs.last);
  return i + 1u; // full
}

// Image index of the m-th allowed image key of image query i (m < image_key_count).
uint image_key_at(uint i, Conv cs, uint m) {
  uint G = p.grid;
  if (p.mask == DVK_ATTN_ROW) return i - min(i, G) + m;
  if (p.mask == DVK_ATTN_COL) return i % G + G * m;
  if (p.mask == DVK_ATTN_CONV) {
    uint nc = runs_count(cs.cols), full = runs_count(cs.rows) * nc;
    if (m < full) return runs_at(cs.rows, m / nc) * G + runs_at(cs.cols, m % nc);
    return (i / G) * G + runs_at(cs.last, m - full);
  }
  return m; // full
}

// The query at position pos: its number of keys (*n_text text keys first) and the position of key k.
struct KeyList { bool is_img; uint i, n_text, n_keys; Conv cs; };
KeyList key_list(uint pos) {
  KeyList kl;
  bool keys = p.mask == DVK_ATTN_KEYS;
  kl.is_img = !keys && pos >= p.image0;
  kl.i = kl.is_img ? pos - p.image0 : 0u;
  kl.cs = conv_sets(kl.i / p.grid, kl.i % p.grid);
  kl.n_text = keys ? p.n_keys : kl.is_img ? p.image0 : pos + 1u;
  kl.n_keys = kl.n_text + (kl.is_img ? image_key_count(kl.i, kl.cs) : 0u);
  return kl;
}
uint key_pos(KeyList kl, uint k) { return k < kl.n_text ? k : p.image0 + image_key_at(kl.i, kl.cs, k - kl.n_text); }

#endif
