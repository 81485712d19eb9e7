// Fast exact replacement of MapBoxes (boxes_core.h): same outputs, run-length labelling per level.
//
// Per map:
//   1. quantisation q = uint8(trunc((s - min) / (max - min) * 255)) in float32 (SSE2 on the host),
//      histogram and standard value exactly as in boxes_core.h.
//   2. pixels sorted by q (descending, counting sort); the row bitset mask {q >= L} is built
//      incrementally while walking the needed levels L in decreasing order.
//   3. per needed level, the rows of the mask's vertical extent are cut into runs (ctz over the
//      start/end transition words) and the runs are labelled with a union-find over runs
//      (8-connectivity: runs of adjacent rows are connected iff [a0-1, a1+1] meets [b0, b1]).
//      Every root keeps bbox, size, hole-less 2x contour area and its number of holes:
//        * 2 x area = sum over connected run pairs (r above s) of
//              |[max(r0, s0-1), min(r1-1, s1)]| + |[max(s0, r0-1), min(s1-1, r1)]|
//          (windows with both top pixels in r and a bottom pixel in s, and vice versa; windows with
//          4 pixels are counted twice, with 3 once, which is the window formula of boxes_core.h);
//        * the union of closed pixel squares of a component has the run graph as nerve (runs of one
//          row are disjoint, runs two rows apart are disjoint), so Euler = #runs - #edges and the
//          number of holes = number of edges that close a cycle in the union-find.
//      The root of a set is its smallest run index, i.e. its raster-first run, which gives the
//      raster-first pixel.
//   4. single mode: the same arg-max over (exact filled area, raster-first pixel) as MapBoxes,
//      with the same bounds; a holed component's filled area comes from a 4-connected labelling
//      of the gaps between its runs inside its grown bbox (gaps not reaching the frame are holes).
//      multi mode: every component's bbox, and, if the mask has holes at all, the 4-connected
//      labelling of the complement's runs over the mask's row extent (non-border ones are holes).
//
// Interface: MapBoxesFast<Emit> has the constructor and run() of MapBoxes; its workspace is
// fast_workspace_words(H, W) int32 words (32-byte aligned). The RingTables argument is unused.
#pragma once

#include <stdint.h>

#include "boxes_core.h"

#if !defined(__CUDA_ARCH__) && defined(__SSE2__)
#include <emmintrin.h>
#define WSOLX_FAST_SSE2 1
#endif

namespace wsolx {
namespace boxes {

WSOLX_HD inline int fast_ctz64(uint64_t x) {
#ifdef __CUDA_ARCH__
  return __ffsll(static_cast<long long>(x)) - 1;
#else
  return __builtin_ctzll(x);
#endif
}

WSOLX_HD inline int fast_popcount64(uint64_t x) {
#ifdef __CUDA_ARCH__
  return __popcll(static_cast<unsigned long long>(x));
#else
  return __builtin_popcountll(x);
#endif
}

// One run (or gap) of a row and, while it is a union-find root, the statistics of its set.
struct FastRun {
  int32_t par;
  int16_t s, e;    // columns, inclusive
  int32_t area2;   // 2 x hole-less contour area (foreground)
  int32_t size;    // pixel count
  int32_t cyc;     // holes (foreground); touches the border / frame (gaps)
  int16_t x0, x1, y0, y1;
  int32_t pad;
};

// Maximum number of runs (or gaps) one level of an H x W map can have.
WSOLX_HD inline int64_t fast_run_capacity(int64_t H, int64_t W) { return H * ((W + 1) / 2 + 1) + 2; }

// Number of int32 words of workspace one map of size H x W needs (32-byte aligned base).
WSOLX_HD inline int64_t fast_workspace_words(int64_t H, int64_t W) {
  const int64_t cap = fast_run_capacity(H, W);
  const int64_t nw = (W + 63) / 64;
  const int64_t hw = H * W;
  return 16 * cap /*runs, gaps*/ + 2 * H * nw /*mask*/ + hw /*pixel order*/ + (hw + 3) / 4 /*q*/ +
         2 * (H + 2) /*row starts*/ + 4 * (W / 2 + 4) /*filled-area row buffers*/ + 16;
}

template <class Emit>
class MapBoxesFast {
 public:
  WSOLX_HD MapBoxesFast(int H, int W, int32_t* ws, int32_t* jorder, const RingTables& tables, Emit& emit)
      : H_(H), W_(W), hw_(static_cast<int64_t>(H) * W), emit_(emit), jorder_(jorder) {
    (void)tables;
    const int64_t cap = fast_run_capacity(H, W);
    nw_ = (W + 63) / 64;
    runs_ = reinterpret_cast<FastRun*>(ws);
    gaps_ = runs_ + cap;
    int32_t* p = ws + 16 * cap;
    mask_ = reinterpret_cast<uint64_t*>(p);
    p += 2 * static_cast<int64_t>(H) * nw_;
    plist_ = reinterpret_cast<uint32_t*>(p);
    p += hw_;
    rstart_ = p;
    p += H + 2;
    gstart_ = p;
    p += H + 2;
    fbuf_ = p;
    p += 4 * (W / 2 + 4);
    q_ = reinterpret_cast<uint8_t*>(p);
  }

  WSOLX_HD void run(const float* s, const double* thresholds, int T, double percentile, bool multi) {
    quantize(s);
    int32_t hist[kLevels + 1];
    int32_t h4[4][kLevels];
    histogram(h4, hist);
    const double standard = percentile_from_histogram(hist, hw_, percentile);

    // Thresholds sorted by level (as in MapBoxes).
    for (int v = 0; v <= kLevels + 1; ++v) lstart_[v] = 0;
    int lmin = kLevels;
    for (int j = 0; j < T; ++j) {
      const int L = threshold_level(thresholds[j], standard);
      lstart_[L + 1]++;
      lmin = L < lmin ? L : lmin;
    }
    for (int v = 0; v <= kLevels; ++v) lstart_[v + 1] += lstart_[v];
    int32_t fill[kLevels + 1];
    for (int v = 0; v <= kLevels; ++v) fill[v] = lstart_[v];
    for (int j = 0; j < T; ++j) jorder_[fill[threshold_level(thresholds[j], standard)]++] = j;

    if (lstart_[kLevels + 1] > lstart_[kLevels]) emit_empty(kLevels);
    if (lmin >= kLevels) return;

    // Pixels sorted by decreasing q: cumge[L] = #{q >= L} first entries of plist_ are the mask
    // {q >= L}. Inside one value the pixels are grouped by column class (four independent
    // counters), the order inside a value does not matter.
    int32_t cumge[kLevels + 1];
    {
      int32_t acc = 0;
      for (int v = kLevels - 1; v >= 0; --v) {
        for (int k = 0; k < 4; ++k) {
          const int32_t c = h4[k][v];
          h4[k][v] = acc;
          acc += c;
        }
        cumge[v] = acc;
      }
      cumge[kLevels] = 0;
      const uint32_t stride = static_cast<uint32_t>(nw_) * 64u;
      const uint8_t* qq = q_;
      for (int y = 0; y < H_; ++y, qq += W_) {
        const uint32_t base = static_cast<uint32_t>(y) * stride;
        int x = 0;
        for (; x + 4 <= W_; x += 4) {
          const uint32_t b = base + static_cast<uint32_t>(x);
          plist_[h4[0][qq[x]]++] = b;
          plist_[h4[1][qq[x + 1]]++] = b + 1;
          plist_[h4[2][qq[x + 2]]++] = b + 2;
          plist_[h4[3][qq[x + 3]]++] = b + 3;
        }
        const uint32_t b = base + static_cast<uint32_t>(x);
        if (x < W_) plist_[h4[0][qq[x]]++] = b;
        if (x + 1 < W_) plist_[h4[1][qq[x + 1]]++] = b + 1;
        if (x + 2 < W_) plist_[h4[2][qq[x + 2]]++] = b + 2;
      }
    }

    const int64_t mwords = static_cast<int64_t>(H_) * nw_;
    for (int64_t i = 0; i < mwords; ++i) mask_[i] = 0;
    int32_t done = 0;
    bool labelled = false;
    uint32_t wlo = 0xffffffffu, whi = 0;
    for (int L = kLevels - 1; L >= lmin; --L) {
      if (lstart_[L + 1] == lstart_[L]) continue;
      const int32_t target = cumge[L];
      for (int32_t k = done; k < target; ++k) {
        const uint32_t b = plist_[k];
        const uint32_t w = b >> 6;
        mask_[w] |= 1ull << (b & 63u);
        wlo = w < wlo ? w : wlo;
        whi = w > whi ? w : whi;
      }
      const bool changed = target != done || !labelled;
      done = target;
      if (done == 0) {
        emit_empty(L);
        continue;
      }
      const int ylo = static_cast<int>(wlo / static_cast<uint32_t>(nw_));
      const int yhi = static_cast<int>(whi / static_cast<uint32_t>(nw_));
      if (changed) label(ylo, yhi);  // an unchanged mask keeps its labelling
      labelled = true;
      if (multi)
        snapshot_multi(L, ylo, yhi);
      else
        snapshot_single(L, ylo);
    }
  }

 private:
  WSOLX_HD void quantize(const float* s) {
    const int64_t n = hw_;
    float mn = s[0], mx = s[0];
    bool finite = true;
    int64_t i = 0;
#ifdef WSOLX_FAST_SSE2
    {
      __m128 vmn = _mm_set1_ps(s[0]), vmx = vmn, bad = _mm_setzero_ps();
      for (; i + 4 <= n; i += 4) {
        const __m128 v = _mm_loadu_ps(s + i);
        const __m128 d = _mm_sub_ps(v, v);
        bad = _mm_or_ps(bad, _mm_cmpunord_ps(d, d));
        vmn = _mm_min_ps(vmn, v);
        vmx = _mm_max_ps(vmx, v);
      }
      finite = _mm_movemask_ps(bad) == 0;
      float a[4], b[4];
      _mm_storeu_ps(a, vmn);
      _mm_storeu_ps(b, vmx);
      for (int k = 0; k < 4; ++k) {
        mn = a[k] < mn ? a[k] : mn;
        mx = b[k] > mx ? b[k] : mx;
      }
    }
#endif
    for (; i < n; ++i) {
      const float v = s[i];
      finite = finite && (v - v == 0.0f);
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
    if (!finite || !(mx > mn)) {
      for (int64_t k = 0; k < n; ++k) q_[k] = 0;
      return;
    }
    const float range = mx - mn;
    i = 0;
#ifdef WSOLX_FAST_SSE2
    {
      const __m128 vmn = _mm_set1_ps(mn), vr = _mm_set1_ps(range), v255 = _mm_set1_ps(255.0f);
      for (; i + 16 <= n; i += 16) {
        __m128i r[4];
        for (int k = 0; k < 4; ++k) {
          const __m128 v = _mm_loadu_ps(s + i + 4 * k);
          const __m128 norm = _mm_div_ps(_mm_sub_ps(v, vmn), vr);
          r[k] = _mm_cvttps_epi32(_mm_mul_ps(norm, v255));
        }
        const __m128i lo = _mm_packs_epi32(r[0], r[1]), hi = _mm_packs_epi32(r[2], r[3]);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q_ + i), _mm_packus_epi16(lo, hi));
      }
    }
#endif
    for (; i < n; ++i) {
      const float norm = (s[i] - mn) / range;
      const float scaled = norm * 255.0f;
      q_[i] = static_cast<uint8_t>(static_cast<int>(scaled));
    }
  }

  // Histogram, split by column class x % 4 (independent counters, and four independent scatter
  // streams below).
  WSOLX_HD void histogram(int32_t (*h4)[kLevels], int32_t* hist) {
    for (int k = 0; k < 4; ++k)
      for (int v = 0; v < kLevels; ++v) h4[k][v] = 0;
    const uint8_t* qq = q_;
    for (int y = 0; y < H_; ++y, qq += W_) {
      int x = 0;
      for (; x + 4 <= W_; x += 4) {
        h4[0][qq[x]]++;
        h4[1][qq[x + 1]]++;
        h4[2][qq[x + 2]]++;
        h4[3][qq[x + 3]]++;
      }
      if (x < W_) h4[0][qq[x]]++;
      if (x + 1 < W_) h4[1][qq[x + 1]]++;
      if (x + 2 < W_) h4[2][qq[x + 2]]++;
    }
    for (int v = 0; v < kLevels; ++v) hist[v] = h4[0][v] + h4[1][v] + h4[2][v] + h4[3][v];
    hist[kLevels] = 0;
  }

  WSOLX_HD int32_t find(FastRun* R, int32_t x) {
    while (R[x].par != x) {
      const int32_t g = R[R[x].par].par;
      R[x].par = g;
      x = g;
    }
    return x;
  }

  // Appends the runs of mask row y at runs_[n..]; returns the new count.
  WSOLX_HD int32_t extract_row(int y, int32_t n) {
    const uint64_t* m = mask_ + static_cast<int64_t>(y) * nw_;
    int32_t ns = n, ne = n;
    uint64_t carry = 0;
    for (int w = 0; w < nw_; ++w) {
      const uint64_t word = m[w];
      const uint64_t next = w + 1 < nw_ ? (m[w + 1] & 1ull) : 0ull;
      uint64_t st = word & ~((word << 1) | carry);
      uint64_t en = word & ~((word >> 1) | (next << 63));
      carry = word >> 63;
      const int base = w * 64;
      while (st) {
        runs_[ns++].s = static_cast<int16_t>(base + fast_ctz64(st));
        st &= st - 1;
      }
      while (en) {
        runs_[ne++].e = static_cast<int16_t>(base + fast_ctz64(en));
        en &= en - 1;
      }
    }
    for (int32_t k = n; k < ns; ++k) {
      FastRun& r = runs_[k];
      r.par = k;
      r.area2 = 0;
      r.size = r.e - r.s + 1;
      r.cyc = 0;
      r.x0 = r.s;
      r.x1 = r.e;
      r.y0 = r.y1 = static_cast<int16_t>(y);
    }
    return ns;
  }

  // 2 x (windows with both top pixels in [ts, te] and a bottom pixel in [bs, be]) + the converse.
  WSOLX_HD static int32_t pair_area2(int ts, int te, int bs, int be) {
    int lo = ts > bs - 1 ? ts : bs - 1;
    int hi = te - 1 < be ? te - 1 : be;
    int32_t a = hi >= lo ? hi - lo + 1 : 0;
    lo = bs > ts - 1 ? bs : ts - 1;
    hi = be - 1 < te ? be - 1 : te;
    a += hi >= lo ? hi - lo + 1 : 0;
    return a;
  }

  WSOLX_HD void connect(int32_t i, int32_t j, int32_t a) {
    int32_t ri = find(runs_, i), rj = runs_[j].par;
    if (rj != j) rj = find(runs_, rj);
    if (ri == rj) {
      runs_[ri].cyc += 1;
      runs_[ri].area2 += a;
      return;
    }
    if (rj < ri) {
      const int32_t t = ri;
      ri = rj;
      rj = t;
    }
    FastRun& A = runs_[ri];
    const FastRun& B = runs_[rj];
    runs_[rj].par = ri;
    A.area2 += B.area2 + a;
    A.size += B.size;
    A.cyc += B.cyc;
    A.x0 = B.x0 < A.x0 ? B.x0 : A.x0;
    A.x1 = B.x1 > A.x1 ? B.x1 : A.x1;
    A.y0 = B.y0 < A.y0 ? B.y0 : A.y0;
    A.y1 = B.y1 > A.y1 ? B.y1 : A.y1;
  }

  // Runs of rows ylo..yhi, labelled; rstart_[y - ylo] .. rstart_[y - ylo + 1] are row y's runs.
  WSOLX_HD void label(int ylo, int yhi) {
    int32_t n = 0, ps = 0, pe = 0;
    for (int y = ylo; y <= yhi; ++y) {
      rstart_[y - ylo] = n;
      const int32_t cs = n;
      n = extract_row(y, n);
      int32_t i = ps, j = cs;
      while (i < pe && j < n) {
        const int a0 = runs_[i].s, a1 = runs_[i].e, b0 = runs_[j].s, b1 = runs_[j].e;
        if (a1 < b0 - 1) {
          ++i;
          continue;
        }
        if (b1 < a0 - 1) {
          ++j;
          continue;
        }
        connect(i, j, pair_area2(a0, a1, b0, b1));
        if (a1 < b1)
          ++i;
        else
          ++j;
      }
      ps = cs;
      pe = n;
    }
    rstart_[yhi - ylo + 1] = n;
    nruns_ = n;
  }

  WSOLX_HD void emit_levels(int level, int x0, int y0, int x1, int y1) {
    const int bx1 = x1 + 1 < W_ - 1 ? x1 + 1 : W_ - 1;
    const int by1 = y1 + 1 < H_ - 1 ? y1 + 1 : H_ - 1;
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) emit_.box(jorder_[k], x0, y0, bx1, by1);
  }

  WSOLX_HD void emit_empty(int level) {
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) emit_.box(jorder_[k], 0, 0, 0, 0);
  }

  WSOLX_HD int32_t first_of(int32_t r) const { return static_cast<int32_t>(runs_[r].y0) * W_ + runs_[r].s; }

  WSOLX_HD int32_t upper_area2(int32_t r) const {
    const FastRun& c = runs_[r];
    if (c.cyc == 0) return c.area2;
    const int64_t w = c.x1 - c.x0 + 1, h = c.y1 - c.y0 + 1;
    const int64_t by_holes = c.area2 + 8 * (w * h - c.size);
    const int64_t by_box = 2 * (w - 1) * (h - 1);
    return static_cast<int32_t>(by_holes < by_box ? by_holes : by_box);
  }

  // 2 x contour area of component r with its holes filled: the gaps between its runs inside the
  // bbox grown by one are labelled (4-connectivity); gaps that reach the frame are outside, the
  // others are holes. The filled rows are then the stretches between outside gaps.
  WSOLX_HD int32_t filled_area2(int32_t r, int ylo) {
    const int bx0 = runs_[r].x0 - 1, bx1 = runs_[r].x1 + 1;
    const int by0 = runs_[r].y0, by1 = runs_[r].y1;
    int32_t ng = 0, ps = 0, pe = 0;
    for (int y = by0; y <= by1; ++y) {
      gstart_[y - by0] = ng;
      const int32_t cs = ng;
      int c = bx0;
      for (int32_t k = rstart_[y - ylo]; k < rstart_[y - ylo + 1]; ++k) {
        if (runs_[k].s > bx1 || runs_[k].e < bx0) continue;
        if (find(runs_, k) != r) continue;
        gaps_[ng].s = static_cast<int16_t>(c);
        gaps_[ng].e = static_cast<int16_t>(runs_[k].s - 1);
        ++ng;
        c = runs_[k].e + 1;
      }
      gaps_[ng].s = static_cast<int16_t>(c);
      gaps_[ng].e = static_cast<int16_t>(bx1);
      ++ng;
      const bool frame_row = y == by0 || y == by1;
      for (int32_t k = cs; k < ng; ++k) {
        gaps_[k].par = k;
        gaps_[k].cyc = (frame_row || k == cs || k == ng - 1) ? 1 : 0;
      }
      int32_t i = ps, j = cs;
      while (i < pe && j < ng) {
        const int a0 = gaps_[i].s, a1 = gaps_[i].e, b0 = gaps_[j].s, b1 = gaps_[j].e;
        if (a1 < b0) {
          ++i;
          continue;
        }
        if (b1 < a0) {
          ++j;
          continue;
        }
        int32_t ri = find(gaps_, i), rj = find(gaps_, j);
        if (ri != rj) {
          if (rj < ri) {
            const int32_t t = ri;
            ri = rj;
            rj = t;
          }
          gaps_[rj].par = ri;
          gaps_[ri].cyc |= gaps_[rj].cyc;
        }
        if (a1 < b1)
          ++i;
        else
          ++j;
      }
      ps = cs;
      pe = ng;
    }
    gstart_[by1 - by0 + 1] = ng;
    // Filled runs per row, and the window count between consecutive rows.
    int16_t* fs[2] = {reinterpret_cast<int16_t*>(fbuf_), reinterpret_cast<int16_t*>(fbuf_) + (W_ / 2 + 4)};
    int16_t* fe[2] = {reinterpret_cast<int16_t*>(fbuf_) + 2 * (W_ / 2 + 4),
                      reinterpret_cast<int16_t*>(fbuf_) + 3 * (W_ / 2 + 4)};
    int np = 0, cur = 0;
    int32_t area2 = 0;
    for (int y = by0; y <= by1; ++y) {
      int nc = 0;
      int last_end = -1000000;
      for (int32_t k = gstart_[y - by0]; k < gstart_[y - by0 + 1]; ++k) {
        if (!gaps_[find(gaps_, k)].cyc) continue;
        if (last_end != -1000000) {
          fs[cur][nc] = static_cast<int16_t>(last_end + 1);
          fe[cur][nc] = static_cast<int16_t>(gaps_[k].s - 1);
          ++nc;
        }
        last_end = gaps_[k].e;
      }
      if (y > by0) {
        const int prv = cur ^ 1;
        int i = 0, j = 0;
        while (i < np && j < nc) {
          const int a0 = fs[prv][i], a1 = fe[prv][i], b0 = fs[cur][j], b1 = fe[cur][j];
          if (a1 < b0 - 1) {
            ++i;
            continue;
          }
          if (b1 < a0 - 1) {
            ++j;
            continue;
          }
          area2 += pair_area2(a0, a1, b0, b1);
          if (a1 < b1)
            ++i;
          else
            ++j;
        }
      }
      np = nc;
      cur ^= 1;
    }
    return area2;
  }

  WSOLX_HD int32_t exact_area2(int32_t r, int ylo) { return runs_[r].cyc == 0 ? runs_[r].area2 : filled_area2(r, ylo); }

  WSOLX_HD void snapshot_single(int level, int ylo) {
    const int32_t n = nruns_;
    int32_t best = -1, best_lower = -1, best_first = -1;
    for (int32_t k = 0; k < n; ++k) {
      if (runs_[k].par != k) continue;
      const int32_t a = runs_[k].area2, f = first_of(k);
      if (a > best_lower || (a == best_lower && f > best_first)) {
        best = k;
        best_lower = a;
        best_first = f;
      }
    }
    int32_t best_area = -1;
    bool best_exact = false;
    for (int32_t k = 0; k < n; ++k) {
      if (runs_[k].par != k || k == best) continue;
      const int32_t upper = upper_area2(k);
      const int32_t f = first_of(k);
      if (upper < best_lower || (upper == best_lower && f < best_first)) continue;
      if (!best_exact) {
        best_area = exact_area2(best, ylo);
        best_exact = true;
      }
      const int32_t a = exact_area2(k, ylo);
      if (a > best_area || (a == best_area && f > best_first)) {
        best = k;
        best_area = a;
        best_first = f;
      }
    }
    const FastRun& c = runs_[best];
    emit_levels(level, c.x0, c.y0, c.x1, c.y1);
  }

  WSOLX_HD void snapshot_multi(int level, int ylo, int yhi) {
    const int32_t n = nruns_;
    int32_t holes = 0;
    for (int32_t k = 0; k < n; ++k) {
      if (runs_[k].par != k) continue;
      const FastRun& c = runs_[k];
      emit_levels(level, c.x0, c.y0, c.x1, c.y1);
      holes += c.cyc;
    }
    if (holes == 0) return;
    // Background runs of rows ylo..yhi (4-connectivity); rows outside are empty, so gaps in the
    // first and last rows reach the border.
    int32_t ng = 0, ps = 0, pe = 0;
    for (int y = ylo; y <= yhi; ++y) {
      const int32_t cs = ng;
      int c = 0;
      for (int32_t k = rstart_[y - ylo]; k < rstart_[y - ylo + 1]; ++k) {
        if (runs_[k].s > c) {
          gaps_[ng].s = static_cast<int16_t>(c);
          gaps_[ng].e = static_cast<int16_t>(runs_[k].s - 1);
          ++ng;
        }
        c = runs_[k].e + 1;
      }
      if (c <= W_ - 1) {
        gaps_[ng].s = static_cast<int16_t>(c);
        gaps_[ng].e = static_cast<int16_t>(W_ - 1);
        ++ng;
      }
      const bool edge_row = y == ylo || y == yhi;
      for (int32_t k = cs; k < ng; ++k) {
        FastRun& g = gaps_[k];
        g.par = k;
        g.cyc = (edge_row || g.s == 0 || g.e == W_ - 1) ? 1 : 0;
        g.x0 = g.s;
        g.x1 = g.e;
        g.y0 = g.y1 = static_cast<int16_t>(y);
      }
      int32_t i = ps, j = cs;
      while (i < pe && j < ng) {
        const int a0 = gaps_[i].s, a1 = gaps_[i].e, b0 = gaps_[j].s, b1 = gaps_[j].e;
        if (a1 < b0) {
          ++i;
          continue;
        }
        if (b1 < a0) {
          ++j;
          continue;
        }
        int32_t ri = find(gaps_, i), rj = find(gaps_, j);
        if (ri != rj) {
          if (rj < ri) {
            const int32_t t = ri;
            ri = rj;
            rj = t;
          }
          FastRun& A = gaps_[ri];
          const FastRun& B = gaps_[rj];
          gaps_[rj].par = ri;
          A.cyc |= B.cyc;
          A.x0 = B.x0 < A.x0 ? B.x0 : A.x0;
          A.x1 = B.x1 > A.x1 ? B.x1 : A.x1;
          A.y0 = B.y0 < A.y0 ? B.y0 : A.y0;
          A.y1 = B.y1 > A.y1 ? B.y1 : A.y1;
        }
        if (a1 < b1)
          ++i;
        else
          ++j;
      }
      ps = cs;
      pe = ng;
    }
    for (int32_t k = 0; k < ng; ++k) {
      const FastRun& g = gaps_[k];
      if (g.par != k || g.cyc) continue;
      emit_levels(level, g.x0 - 1, g.y0 - 1, g.x1 + 1, g.y1 + 1);
    }
  }

  int H_, W_, nw_;
  int64_t hw_;
  Emit& emit_;
  int32_t* jorder_;
  int32_t lstart_[kLevels + 2];
  FastRun *runs_, *gaps_;
  uint64_t* mask_;
  uint32_t* plist_;
  int32_t *rstart_, *gstart_, *fbuf_;
  uint8_t* q_;
  int32_t nruns_ = 0;
};

}  // namespace boxes
}  // namespace wsolx
