/* Unicode lookups over the generated tables (unicode.h). */
#include "model/unicode.h"

unsigned dvk_unicode_flags(uint32_t cp) {
  if (cp > 0x10FFFF) return 0;
  unsigned lo = 0, hi = dvk_unicode_n_runs; /* the last run starting at or before cp; run 0 starts at 0 */
  while (hi - lo > 1) {
    unsigned mid = (lo + hi) / 2;
    if (dvk_unicode_runs[mid].first <= cp) lo = mid;
    else hi = mid;
  }
  return dvk_unicode_runs[lo].flags;
}

int dvk_unicode_white_space(uint32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int dvk_unicode_lower(uint32_t cp, uint32_t out[2]) {
  if (cp == 0x130) { /* LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE */
    out[0] = 0x69;
    out[1] = 0x307;
    return 2;
  }
  unsigned lo = 0, hi = dvk_unicode_n_lower_runs;
  while (lo < hi) { /* lo = number of runs starting at or before cp */
    unsigned mid = (lo + hi) / 2;
    if (dvk_unicode_lower_runs[mid].first <= cp) lo = mid + 1;
    else hi = mid;
  }
  out[0] = cp;
  if (lo) {
    const dvk_unicode_lower_run *r = &dvk_unicode_lower_runs[lo - 1];
    if (cp <= r->last && (cp - r->first) % r->step == 0) out[0] = (uint32_t)((int64_t)cp + r->delta);
  }
  return 1;
}

/* Python's Final_Sigma context of the capital sigma at i: a cased letter before it (skipping
 * case-ignorable ones) and none after it. */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
  size_t j = i;
  unsigned f = 0;
  while (j > 0 && ((f = dvk_unicode_flags(s[j - 1])) & DVK_U_CASE_IGNORABLE)) j--;
  if (j == 0 || !(f & DVK_U_CASED)) return 0;
  for (j = i + 1; j < n; j++) {
    f = dvk_unicode_flags(s[j]);
    if (!(f & DVK_U_CASE_IGNORABLE)) return !(f & DVK_U_CASED);
  }
  return 1;
}

size_t dvk_unicode_py_lower(const uint32_t *in, size_t n, uint32_t *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == 0x3A3) out[k++] = final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
    else k += (size_t)dvk_unicode_lower(in[i], out + k);
  }
  return k;
}

size_t dvk_utf8_decode(const char *s, size_t len, uint32_t *cps) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    size_t extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    uint32_t cp = extra == 0 ? c : c & (0x3Fu >> extra);
    for (size_t k = 1; k <= extra && i + k < len; k++) cp = (cp << 6) | (p[i + k] & 0x3Fu);
    cps[n++] = cp;
    i += extra + 1;
  }
  return n;
}

size_t dvk_utf8_put(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}
