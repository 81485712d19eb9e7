// Bicubic resize of one map, bit for bit equal to OpenCV's
// cv2.resize(float64 map, (W, H), interpolation=cv2.INTER_CUBIC), and the protocol's float64
// normalisation + uint8 quantisation of the result (docs/semantics.md §3 and §4 step 1).
//
// Shared by the CPU kernel, the CUDA kernel (host + device inline) and the test driver. Every
// operation below is one IEEE operation in the order OpenCV evaluates it; the extension builds
// with -ffp-contract=off / nvcc --fmad=false, so no multiply-add is fused.
//
// OpenCV's rules (checked against cv2 by tests/test_cubic_resize.py):
//   * dst size == src size: a plain copy;
//   * scale = 1.0 / ((double)dst / src) (double); per destination index d:
//     f = (float)((d + 0.5) * scale - 0.5), s = floor(f), f -= s (float);
//   * coefficients in float with A = -0.75 (interpolate_cubic below);
//   * horizontal pass first: R[d] = S[s-1]*c0 + S[s]*c1 + S[s+1]*c2 + S[s+2]*c3 in double, left to
//     right, source indices clamped to [0, src - 1] (replicated border); then the vertical pass over
//     the rows s-1 .. s+2 (clamped) of R with the same formula.
#pragma once

#include <stdint.h>

// SSE2 versions of the double loops (the same IEEE operations, two lanes at a time); the CUDA
// kernel and WSOLX_BOXES_NO_SIMD builds run the scalar code.
#if defined(__SSE2__) && !defined(__CUDACC__) && !defined(WSOLX_BOXES_NO_SIMD)
#include <emmintrin.h>
#define WSOLX_CUBIC_SSE2 1
// AVX2 versions of the two hot loops, chosen at run time (the build targets baseline x86-64).
// target("avx2") does not enable FMA, and the extension builds with -ffp-contract=off: the
// products and sums stay separately rounded, as in the scalar code.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(WSOLX_CUBIC_NO_AVX2)
#include <immintrin.h>
#define WSOLX_CUBIC_AVX2 1
#endif
#endif

#ifndef WSOLX_HD
#ifdef __CUDACC__
#define WSOLX_HD __host__ __device__
#else
#define WSOLX_HD
#endif
#endif

namespace wsolx {
namespace cubic {

// One destination index: the 4 clamped source indices and their weights (float coefficients,
// stored promoted to double since every product is taken in double).
struct Tap {
  int32_t idx[4];
  double w[4];
};

// OpenCV's interpolateCubic: float arithmetic, in this order.
WSOLX_HD inline void interpolate_cubic(float x, float* c) {
  const float A = -0.75f;
  c[0] = ((A * (x + 1.0f) - 5.0f * A) * (x + 1.0f) + 8.0f * A) * (x + 1.0f) - 4.0f * A;
  c[1] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
  c[2] = ((A + 2.0f) * (1.0f - x) - (A + 3.0f)) * (1.0f - x) * (1.0f - x) + 1.0f;
  c[3] = 1.0f - c[0] - c[1] - c[2];
}

// cv::resize's source step for a destination of `dst` samples from `src` samples.
WSOLX_HD inline double resize_scale(int64_t dst, int64_t src) {
  return 1.0 / (static_cast<double>(dst) / static_cast<double>(src));
}

// Tap of destination index d.
WSOLX_HD inline Tap make_tap(int64_t d, double scale, int64_t src) {
  const float f = static_cast<float>((static_cast<double>(d) + 0.5) * scale - 0.5);
  int64_t s = static_cast<int64_t>(f);  // cvFloor
  if (static_cast<float>(s) > f) --s;
  const float frac = f - static_cast<float>(s);
  float c[4];
  interpolate_cubic(frac, c);
  Tap t;
  for (int k = 0; k < 4; ++k) {
    int64_t i = s - 1 + k;
    i = i < 0 ? 0 : (i > src - 1 ? src - 1 : i);
    t.idx[k] = static_cast<int32_t>(i);
    t.w[k] = static_cast<double>(c[k]);
  }
  return t;
}

// Taps of all `dst` destination indices.
WSOLX_HD inline void make_taps(int64_t dst, int64_t src, Tap* taps) {
  const double scale = resize_scale(dst, src);
  for (int64_t d = 0; d < dst; ++d) taps[d] = make_tap(d, scale, src);
}

// Horizontal pass of one source row (any real type, taken as double).
template <class T>
WSOLX_HD inline void horizontal(const T* row, const Tap* tx, int64_t W, double* out) {
  for (int64_t x = 0; x < W; ++x) {
    const Tap& t = tx[x];
    out[x] = static_cast<double>(row[t.idx[0]]) * t.w[0] + static_cast<double>(row[t.idx[1]]) * t.w[1] +
             static_cast<double>(row[t.idx[2]]) * t.w[2] + static_cast<double>(row[t.idx[3]]) * t.w[3];
  }
}

// Minimum, maximum and NaN presence of a map (min / max meaningful only without NaN).
struct MapStats {
  double mn, mx;
  bool nan;
};

#ifdef WSOLX_CUBIC_AVX2
inline bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// Columns [0, 4 * (W / 4)) of vertical(); returns the number of columns done.
__attribute__((target("avx2"))) inline int64_t vertical_avx2(const double* r0, const double* r1, const double* r2,
                                                             const double* r3, const double* w, int64_t W, double* out,
                                                             MapStats* st) {
  const __m256d v0 = _mm256_set1_pd(w[0]), v1 = _mm256_set1_pd(w[1]), v2 = _mm256_set1_pd(w[2]),
                v3 = _mm256_set1_pd(w[3]);
  __m256d vmn = _mm256_set1_pd(st->mn), vmx = _mm256_set1_pd(st->mx), vnan = _mm256_setzero_pd();
  int64_t x = 0;
  for (; x + 4 <= W; x += 4) {
    const __m256d v = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_loadu_pd(r0 + x), v0),
                                                                _mm256_mul_pd(_mm256_loadu_pd(r1 + x), v1)),
                                                  _mm256_mul_pd(_mm256_loadu_pd(r2 + x), v2)),
                                    _mm256_mul_pd(_mm256_loadu_pd(r3 + x), v3));
    _mm256_storeu_pd(out + x, v);
    vnan = _mm256_or_pd(vnan, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
    vmn = _mm256_min_pd(vmn, v);
    vmx = _mm256_max_pd(vmx, v);
  }
  double lo[4], hi[4];
  _mm256_storeu_pd(lo, vmn);
  _mm256_storeu_pd(hi, vmx);
  for (int k = 0; k < 4; ++k) {
    st->mn = lo[k] < st->mn ? lo[k] : st->mn;
    st->mx = hi[k] > st->mx ? hi[k] : st->mx;
  }
  st->nan = st->nan || _mm256_movemask_pd(vnan) != 0;
  return x;
}

// Elements [0, 8 * (n / 8)) of normalize_quantize's normalising loop; returns the number done.
// The exact value v = ((s - mn) / range) * 255 (two roundings) is truncated. A division per
// element costs more than the rest of the loop, so each element first gets a = (s - mn) * c with
// c = 255 / range: a and v differ by at most ~3 ulps (< 1e-13 for values <= 256), so when
// a - 1e-9 and a + 1e-9 truncate to the same integer, that integer is trunc(v). Only a group of
// four holding a value within 1e-9 of an integer (the maximum's 255, rare others) is divided.
// c must be finite and far from overflow for the bound: else every group is divided.
__attribute__((target("avx2"))) inline __m128i quantize4_avx2(__m256d d, __m256d vr, __m256d vc, bool fast) {
  const __m256d k255 = _mm256_set1_pd(255.0);
  if (fast) {
    const __m256d a = _mm256_mul_pd(d, vc), eps = _mm256_set1_pd(1e-9);
    const __m128i lo = _mm256_cvttpd_epi32(_mm256_sub_pd(a, eps));
    const __m128i hi = _mm256_cvttpd_epi32(_mm256_add_pd(a, eps));
    if (_mm_movemask_epi8(_mm_cmpeq_epi32(lo, hi)) == 0xFFFF) return lo;
  }
  return _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_div_pd(d, vr), k255));
}

__attribute__((target("avx2"))) inline int64_t quantize_avx2(const double* s, int64_t n, double mn, double range,
                                                             uint8_t* q) {
  const double c = 255.0 / range;
  const bool fast = c < 1e300;  // also false for NaN
  const __m256d vmn = _mm256_set1_pd(mn), vr = _mm256_set1_pd(range), vc = _mm256_set1_pd(c);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i a = quantize4_avx2(_mm256_sub_pd(_mm256_loadu_pd(s + i), vmn), vr, vc, fast);
    const __m128i b = quantize4_avx2(_mm256_sub_pd(_mm256_loadu_pd(s + i + 4), vmn), vr, vc, fast);
    const __m128i p = _mm_packs_epi32(a, b);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packus_epi16(p, p));
  }
  return i;
}
#endif

// Vertical pass: one destination row from four horizontally resized rows; folds the row into st.
WSOLX_HD inline void vertical(const double* r0, const double* r1, const double* r2, const double* r3, const double* w,
                              int64_t W, double* out, MapStats* st) {
  const double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
  int64_t x = 0;
#ifdef WSOLX_CUBIC_AVX2
  if (cpu_has_avx2()) x = vertical_avx2(r0, r1, r2, r3, w, W, out, st);
#endif
  double mn = st->mn, mx = st->mx;
  bool nan = st->nan;
#ifdef WSOLX_CUBIC_SSE2
  const __m128d v0 = _mm_set1_pd(w0), v1 = _mm_set1_pd(w1), v2 = _mm_set1_pd(w2), v3 = _mm_set1_pd(w3);
  __m128d vmn = _mm_set1_pd(mn), vmx = _mm_set1_pd(mx), vnan = _mm_setzero_pd();
  for (; x + 2 <= W; x += 2) {
    const __m128d v =
        _mm_add_pd(_mm_add_pd(_mm_add_pd(_mm_mul_pd(_mm_loadu_pd(r0 + x), v0), _mm_mul_pd(_mm_loadu_pd(r1 + x), v1)),
                              _mm_mul_pd(_mm_loadu_pd(r2 + x), v2)),
                   _mm_mul_pd(_mm_loadu_pd(r3 + x), v3));
    _mm_storeu_pd(out + x, v);
    vnan = _mm_or_pd(vnan, _mm_cmpunord_pd(v, v));
    vmn = _mm_min_pd(vmn, v);
    vmx = _mm_max_pd(vmx, v);
  }
  double lo[2], hi[2];
  _mm_storeu_pd(lo, vmn);
  _mm_storeu_pd(hi, vmx);
  mn = lo[0] < lo[1] ? lo[0] : lo[1];
  mx = hi[0] > hi[1] ? hi[0] : hi[1];
  nan = nan || _mm_movemask_pd(vnan) != 0;
#endif
  for (; x < W; ++x) {
    const double v = r0[x] * w0 + r1[x] * w1 + r2[x] * w2 + r3[x] * w3;
    out[x] = v;
    nan = nan || v != v;
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  st->mn = mn;
  st->mx = mx;
  st->nan = nan;
}

// Number of doubles of scratch resize_map needs (four cached rows of width W).
WSOLX_HD inline int64_t resize_scratch_doubles(int64_t W) { return 4 * W; }

// cv2.resize(double(src) (h, w), (W, H), INTER_CUBIC) -> out (H, W) double and its statistics.
// tx: W taps, ty: H taps (make_taps); rows: resize_scratch_doubles(W) doubles. Each horizontally
// resized source row is computed once (rows advance monotonically with the destination row).
template <class T>
WSOLX_HD inline MapStats resize_map(const T* src, int64_t h, int64_t w, int64_t H, int64_t W, const Tap* tx,
                                    const Tap* ty, double* rows, double* out) {
  MapStats st{static_cast<double>(src[0]), static_cast<double>(src[0]), false};
  if (h == H && w == W) {
    for (int64_t i = 0; i < h * w; ++i) {
      const double v = static_cast<double>(src[i]);
      out[i] = v;
      st.nan = st.nan || v != v;
      st.mn = v < st.mn ? v : st.mn;
      st.mx = v > st.mx ? v : st.mx;
    }
    return st;
  }
  bool first = true;
  int64_t tag[4] = {-1, -1, -1, -1};  // source row held by each of the 4 row slots
  for (int64_t y = 0; y < H; ++y) {
    const Tap& t = ty[y];
    const double* r[4];
    for (int k = 0; k < 4; ++k) {
      const int64_t sr = t.idx[k];
      int slot = -1;
      for (int m = 0; m < 4; ++m) slot = tag[m] == sr ? m : slot;
      if (slot < 0) {  // evict a slot that none of this row's taps uses
        for (int m = 0; m < 4 && slot < 0; ++m) {
          bool used = false;
          for (int kk = 0; kk < 4; ++kk) used = used || tag[m] == t.idx[kk];
          if (!used) slot = m;
        }
        tag[slot] = sr;
        horizontal(src + sr * w, tx, W, rows + slot * W);
      }
      r[k] = rows + slot * W;
    }
    if (first) {  // seed the statistics with a value of the output
      const double v = r[0][0] * t.w[0] + r[1][0] * t.w[1] + r[2][0] * t.w[2] + r[3][0] * t.w[3];
      st = MapStats{v, v, false};
      first = false;
    }
    vertical(r[0], r[1], r[2], r[3], t.w, W, out + y * W, &st);
  }
  return st;
}

// Status of normalize_quantize.
enum QuantizeStatus : int { kQuantizeOk = 0, kQuantizeNaN = 1, kQuantizeOutOfRange = 2 };

// Whether the protocol's normalisation of a map with statistics st gives all zeros: a NaN, a
// constant map, or normalised values that would hold a NaN (an infinite value: inf / inf or
// inf - inf; max - min overflowing). Else the map is (s - mn) / (mx - mn), since
// max(s - min) == fl(max - min) (rounding is monotonic).
WSOLX_HD inline bool normalizes_to_zero(const MapStats& st) {
  const double range = st.mx - st.mn;
  return st.nan || !(st.mx > st.mn) || !(range - range == 0.0);
}

// s (n doubles, statistics st from resize_map) -> q (n bytes).
// normalize: the protocol's normalize_scoremap in double (see normalizes_to_zero), then
//   q = (uint8)(v * 255) (truncation). Always kQuantizeOk.
// !normalize: s is used as a saved [0, 1] score map: q = (uint8)(s * 255); returns kQuantizeNaN or
//   kQuantizeOutOfRange (q unspecified) when a value is NaN or outside [0, 1].
WSOLX_HD inline int normalize_quantize(const double* s, int64_t n, bool normalize, const MapStats& st, uint8_t* q) {
  if (!normalize) {
    if (st.nan) return kQuantizeNaN;
    if (!(st.mn >= 0.0 && st.mx <= 1.0)) return kQuantizeOutOfRange;
    for (int64_t i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(static_cast<int>(s[i] * 255.0));
    return kQuantizeOk;
  }
  if (normalizes_to_zero(st)) {
    for (int64_t i = 0; i < n; ++i) q[i] = 0;
    return kQuantizeOk;
  }
  const double mn = st.mn, range = st.mx - st.mn;
  int64_t i = 0;
#ifdef WSOLX_CUBIC_AVX2
  if (cpu_has_avx2()) i = quantize_avx2(s, n, mn, range, q);
#endif
#ifdef WSOLX_CUBIC_SSE2
  const __m128d vmn = _mm_set1_pd(mn), vr = _mm_set1_pd(range), k255 = _mm_set1_pd(255.0);
  for (; i + 8 <= n; i += 8) {
    __m128i w[4];
    for (int k = 0; k < 4; ++k) {
      const __m128d v = _mm_div_pd(_mm_sub_pd(_mm_loadu_pd(s + i + 2 * k), vmn), vr);
      w[k] = _mm_cvttpd_epi32(_mm_mul_pd(v, k255));  // values in [0, 255]: truncation
    }
    const __m128i p = _mm_packs_epi32(_mm_unpacklo_epi64(w[0], w[1]), _mm_unpacklo_epi64(w[2], w[3]));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packus_epi16(p, p));
  }
#endif
  for (; i < n; ++i) {
    const double v = (s[i] - mn) / range;
    q[i] = static_cast<uint8_t>(static_cast<int>(v * 255.0));
  }
  return kQuantizeOk;
}

// The protocol's normalize_scoremap in place on n doubles with statistics st (the rules of
// normalize_quantize): (s - min) / max(s - min), or all zeros.
WSOLX_HD inline void normalize_map(double* s, int64_t n, const MapStats& st) {
  if (normalizes_to_zero(st)) {
    for (int64_t i = 0; i < n; ++i) s[i] = 0.0;
    return;
  }
  const double mn = st.mn, range = st.mx - st.mn;
  for (int64_t i = 0; i < n; ++i) s[i] = (s[i] - mn) / range;
}

}  // namespace cubic
}  // namespace wsolx
