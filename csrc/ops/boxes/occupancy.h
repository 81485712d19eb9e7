// The 3x3 occupancy code each pixel sees when it joins in the foreground pass, for all pixels
// before any union-find, and the padded level image it is computed from.
#pragma once

#include "ops/boxes/common.h"

namespace wsolx {
namespace boxes {

// The foreground pass visits levels in decreasing order and, inside one, the column stripes from
// left to right, each in raster order. So a neighbour is already occupied when a pixel joins iff
// its level is higher, or equal and it comes earlier in that order: >= for the neighbours before
// it in raster order, > for those after it. This is known from the levels alone, so one
// vectorised raster pass computes every code, instead of 9 byte loads and a store per pixel in
// level order (with the flat id -> root map: 0.52 -> 0.39 ms per 224x224 map, one thread).
//
// q: the (H, W) quantised map; level_image: padded (H + 2) x (W + 2) + 4 bytes, filled here with
// q inside and zeros around it. No visited pixel has level 0 (level 0 is the whole image, answered
// without pixels), so the padding never counts as occupied. code: one bit per ring cell, in the
// order of RingTables (NW, N, NE, E, SE, S, SW, W).
WSOLX_HD inline void build_codes(const uint8_t* q, uint8_t* level_image, uint8_t* code, int H, int W,
                                 int stripe_width) {
  const int W2 = W + 2;
  const int64_t padded = static_cast<int64_t>(H + 2) * W2;
  uint8_t* const iv = level_image;
  for (int x = 0; x < W2; ++x) {
    iv[x] = 0;
    iv[padded - W2 + x] = 0;
  }
  for (int64_t i = padded; i < padded + 4; ++i) iv[i] = 0;
  for (int y = 0; y < H; ++y) {
    uint8_t* row = iv + static_cast<int64_t>(y + 1) * W2;
    row[0] = 0;
    row[W2 - 1] = 0;
    const uint8_t* src = q + static_cast<int64_t>(y) * W;
#ifdef __CUDA_ARCH__
    for (int x = 0; x < W; ++x) row[x + 1] = src[x];
#else
    __builtin_memcpy(row + 1, src, static_cast<size_t>(W));
#endif
  }
  for (int y = 0; y < H; ++y) {
    const int64_t base = static_cast<int64_t>(y + 1) * W2 + 1;
    const uint8_t* c = iv + base;
    uint8_t* out = code + base;
    int x = 0;
#ifdef WSOLX_BOXES_SSE2
    for (; x + 16 <= W; x += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + x));
      auto ld = [&](int64_t off) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + x + off)); };
      // ge(n): n >= v  <=>  max(n, v) == n; gt(n): n > v  <=>  !(v >= n)
      auto ge = [&](__m128i n) { return _mm_cmpeq_epi8(_mm_max_epu8(n, v), n); };
      auto gt = [&](__m128i n) { return _mm_andnot_si128(_mm_cmpeq_epi8(_mm_max_epu8(n, v), v), _mm_set1_epi8(-1)); };
      auto bit = [](__m128i m, int b) { return _mm_and_si128(m, _mm_set1_epi8(static_cast<char>(1 << b))); };
      const __m128i before = _mm_or_si128(_mm_or_si128(bit(ge(ld(-W2 - 1)), 0), bit(ge(ld(-W2)), 1)),
                                          _mm_or_si128(bit(ge(ld(-W2 + 1)), 2), bit(ge(ld(-1)), 7)));
      const __m128i after = _mm_or_si128(_mm_or_si128(bit(gt(ld(1)), 3), bit(gt(ld(W2 + 1)), 4)),
                                         _mm_or_si128(bit(gt(ld(W2)), 5), bit(gt(ld(W2 - 1)), 6)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), _mm_or_si128(before, after));
    }
#endif
    for (; x < W; ++x) {
      const int v = c[x];
      const int m = (c[x - W2 - 1] >= v) | ((c[x - W2] >= v) << 1) | ((c[x - W2 + 1] >= v) << 2) |
                    ((c[x + 1] > v) << 3) | ((c[x + W2 + 1] > v) << 4) | ((c[x + W2] > v) << 5) |
                    ((c[x + W2 - 1] > v) << 6) | ((c[x - 1] >= v) << 7);
      out[x] = static_cast<uint8_t>(m);
    }
    // Stripe edges: the stripe to the left comes first, the one to the right later, whatever
    // the row (so SW at a left edge comes before, NE at a right edge after).
    for (int k = 1; k < kStripes && stripe_width > 0; ++k) {
      const int xl = k * stripe_width, xr = k * stripe_width - 1;
      const int vl = c[xl], vr = c[xr];
      out[xl] = static_cast<uint8_t>((out[xl] & ~(1 << 6)) | ((c[xl + W2 - 1] >= vl) << 6));  // SW
      out[xr] = static_cast<uint8_t>((out[xr] & ~(1 << 2)) | ((c[xr - W2 + 1] > vr) << 2));   // NE
    }
  }
}

}  // namespace boxes
}  // namespace wsolx
