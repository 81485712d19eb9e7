// Bicubic resize of one map, bit for bit equal to OpenCV's
// cv2.resize(float64 map, (W, H), interpolation=cv2.INTER_CUBIC), and the protocol's float64
// normalisation + uint8 quantisation of the result (DESIGN.md section 3, steps 1-3).
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

// Vertical pass: one destination row from four horizontally resized rows.
WSOLX_HD inline void vertical(const double* r0, const double* r1, const double* r2, const double* r3, const double* w,
                              int64_t W, double* out) {
  const double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
  for (int64_t x = 0; x < W; ++x) out[x] = r0[x] * w0 + r1[x] * w1 + r2[x] * w2 + r3[x] * w3;
}

// Number of doubles of scratch resize_map needs (four cached rows of width W).
WSOLX_HD inline int64_t resize_scratch_doubles(int64_t W) { return 4 * W; }

// cv2.resize(double(src) (h, w), (W, H), INTER_CUBIC) -> out (H, W) double. tx: W taps, ty: H taps
// (make_taps); rows: resize_scratch_doubles(W) doubles. Each horizontally resized source row is
// computed once (rows advance monotonically with the destination row).
template <class T>
WSOLX_HD inline void resize_map(const T* src, int64_t h, int64_t w, int64_t H, int64_t W, const Tap* tx, const Tap* ty,
                                double* rows, double* out) {
  if (h == H && w == W) {
    for (int64_t i = 0; i < h * w; ++i) out[i] = static_cast<double>(src[i]);
    return;
  }
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
    vertical(r[0], r[1], r[2], r[3], t.w, W, out + y * W);
  }
}

// Status of normalize_quantize.
enum QuantizeStatus : int { kQuantizeOk = 0, kQuantizeNaN = 1, kQuantizeOutOfRange = 2 };

// s (n doubles) -> q (n bytes).
// normalize: the protocol's normalize_scoremap in double (all zeros if any NaN or min == max;
//   else (s - min) / max(s - min)); a map whose normalised values would hold a NaN (an infinite
//   value, or max - min overflowing) also gives zeros (the protocol rejects such a map). Then
//   q = (uint8)(v * 255) (truncation). Always kQuantizeOk.
// !normalize: s is used as a saved [0, 1] score map: q = (uint8)(s * 255); returns kQuantizeNaN or
//   kQuantizeOutOfRange (q unspecified) when a value is NaN or outside [0, 1].
WSOLX_HD inline int normalize_quantize(const double* s, int64_t n, bool normalize, uint8_t* q) {
  if (!normalize) {
    int status = kQuantizeOk;
    for (int64_t i = 0; i < n; ++i) {
      const double v = s[i];
      if (v != v) return kQuantizeNaN;
      if (!(v >= 0.0 && v <= 1.0)) status = kQuantizeOutOfRange;
      q[i] = static_cast<uint8_t>(static_cast<int>(v * 255.0));
    }
    return status;
  }
  double mn = s[0], mx = s[0];
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    const double v = s[i];
    nan = nan || v != v;
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  // max(s - min) == fl(max - min) (rounding is monotonic); infinite: some value becomes inf / inf.
  const double range = mx - mn;
  if (nan || !(mx > mn) || !(range - range == 0.0)) {
    for (int64_t i = 0; i < n; ++i) q[i] = 0;
    return kQuantizeOk;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double v = (s[i] - mn) / range;
    q[i] = static_cast<uint8_t>(static_cast<int>(v * 255.0));
  }
  return kQuantizeOk;
}

// The protocol's normalize_scoremap in place on n doubles (the rules of normalize_quantize):
// (s - min) / max(s - min), or all zeros.
WSOLX_HD inline void normalize_map(double* s, int64_t n) {
  double mn = s[0], mx = s[0];
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    const double v = s[i];
    nan = nan || v != v;
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  const double range = mx - mn;
  if (nan || !(mx > mn) || !(range - range == 0.0)) {
    for (int64_t i = 0; i < n; ++i) s[i] = 0.0;
    return;
  }
  for (int64_t i = 0; i < n; ++i) s[i] = (s[i] - mn) / range;
}

}  // namespace cubic
}  // namespace wsolx
