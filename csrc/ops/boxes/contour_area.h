// cv2.contourArea of a component's outer contour (2x units): bounds from the tracked statistics,
// and the exact value with the holes filled.
//
// contourArea of the outer contour = (#2x2 windows fully inside F) + 0.5 (#windows with three
// pixels in F), F = the component with its holes filled, over the zero-padded image. A component
// without holes (Euler number 1) has F = itself, so the hole-less area tracked per pixel is exact;
// a component with holes gets F by a flood fill, only when its upper bound can reach the leader.
#pragma once

#include "ops/boxes/common.h"
#include "ops/boxes/records.h"
#include "ops/boxes/tables.h"

namespace wsolx {
namespace boxes {

// Area bounds (2x units). Lower: the hole-less area, exact for a component without holes
// (Euler number 1). Upper: filling adds at most 2 per window it changes (below), and the filled
// pixels number at most (a) the bbox cells outside the component and (b) (P / 4)^2, where P is
// the perimeter minus 2 (w + h): every column (row) of the bbox gives the outside at least two
// edges, and a filled region R needs at least 2 (w_R + h_R) >= 4 sqrt(|R|) edges of its own.
// The outer polygon also lies inside the bbox of the pixel centres.
WSOLX_HD inline int32_t upper_area2(const Component& c) {
  if (c.euler4 == 4) return c.area2;
  const int64_t w = c.x1 - c.x0 + 1, h = c.y1 - c.y0 + 1;
  int64_t filled = w * h - c.size;
  const int64_t inner = c.perim - 2 * (w + h);
  const int64_t by_perim = inner > 0 ? inner * inner / 16 : 0;
  filled = by_perim < filled ? by_perim : filled;
  // Filling changes only the 2x2 windows that meet a filled region R (m pixels, perimeter P_R),
  // each by at most 2: at most 4 m windows, and at most m + P_R (dilating R by one column adds
  // one cell per horizontal run, P_R^v / 2 in all, then by one row at most two cells per
  // vertical run of R, P_R^h in all). R's edges are the component's inner edges.
  const int64_t by_cells = c.area2 + 8 * filled;
  const int64_t by_windows = c.area2 + 2 * (filled + (inner > 0 ? inner : 0));
  const int64_t by_holes = by_windows < by_cells ? by_windows : by_cells;
  const int64_t by_box = 2 * (w - 1) * (h - 1);
  return static_cast<int32_t>(by_holes < by_box ? by_holes : by_box);
}

// Sum of window_area2 over the (lw - 1) x (lh - 1) windows of a lw x lh cell grid, with every
// cell except those equal to `outside` counted as inside.
WSOLX_HD inline int32_t window_area2_outside(const uint8_t* mark, int lw, int lh, uint8_t outside) {
  int32_t area2 = 0;
  for (int ly = 0; ly + 1 < lh; ++ly) {
    const uint8_t* m0 = mark + ly * lw;
    const uint8_t* m1 = m0 + lw;
    int lx = 0;
#ifdef WSOLX_BOXES_SSE2
    // 16 windows at a time: count outside cells per window (cmpeq gives -1 per match).
    const __m128i vout = _mm_set1_epi8(static_cast<char>(outside));
    const __m128i zero = _mm_setzero_si128(), minus_one = _mm_set1_epi8(-1), one = _mm_set1_epi8(1);
    __m128i full = zero, three = zero;
    for (; lx + 16 < lw; lx += 16) {
      const __m128i a0 = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m0 + lx)), vout);
      const __m128i a1 = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m0 + lx + 1)), vout);
      const __m128i b0 = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m1 + lx)), vout);
      const __m128i b1 = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m1 + lx + 1)), vout);
      const __m128i neg = _mm_add_epi8(_mm_add_epi8(a0, a1), _mm_add_epi8(b0, b1));  // -(outside cells)
      full = _mm_add_epi64(full, _mm_sad_epu8(_mm_and_si128(_mm_cmpeq_epi8(neg, zero), one), zero));
      three = _mm_add_epi64(three, _mm_sad_epu8(_mm_and_si128(_mm_cmpeq_epi8(neg, minus_one), one), zero));
    }
    int64_t lanes[2];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), _mm_add_epi64(_mm_add_epi64(full, full), three));
    area2 += static_cast<int32_t>(lanes[0] + lanes[1]);
#endif
    for (; lx + 1 < lw; ++lx) {
      const int pattern = (m0[lx] != outside ? 1 : 0) | (m0[lx + 1] != outside ? 2 : 0) | (m1[lx] != outside ? 4 : 0) |
                          (m1[lx + 1] != outside ? 8 : 0);
      area2 += window_area2(pattern);
    }
  }
  return area2;
}

// 2 x cv2.contourArea of the outer contour of root r (record c) with its holes filled: a
// scanline flood fill of the outside inside the bbox grown by one pixel, then the window count.
// The component's pixels are the occupied ones (interval >= current_interval) whose id maps to r.
// label, interval_image: padded images of row stride W2; mark, stack: scratch of (bbox + 2)^2
// cells. Cell codes: 0 = free, 1 = pixel of the component, 2 = outside, 3 = queued. Every cell of
// the window is written here first, so no state carries over between calls.
WSOLX_HD inline int32_t filled_area2(const Component& c, int32_t r, const int32_t* label, const uint8_t* interval_image,
                                     int current_interval, const int32_t* root_of, int W2, uint8_t* mark,
                                     int32_t* stack) {
  const int lw = c.x1 - c.x0 + 3, lh = c.y1 - c.y0 + 3;
  constexpr uint8_t kFree = 0, kMember = 1, kOutside = 2, kQueued = 3;
  for (int lx = 0; lx < lw; ++lx) {
    mark[lx] = kOutside;
    mark[(lh - 1) * lw + lx] = kOutside;
  }
  // Membership of the interior cells, one root lookup per run of equal labels.
  int32_t last_label = 0;
  uint8_t last_in = kFree;
  for (int ly = 1; ly < lh - 1; ++ly) {
    const int32_t* lab = label + (c.y0 + ly) * W2 + c.x0;  // padded row of image row y0 + ly - 1
    const uint8_t* in = interval_image + (c.y0 + ly) * W2 + c.x0;
    uint8_t* m = mark + ly * lw;
    m[0] = m[lw - 1] = kOutside;
    for (int lx = 1; lx < lw - 1; ++lx) {
      const int32_t v = in[lx] >= current_interval ? lab[lx] : 0;
      if (v != last_label) {
        last_label = v;
        last_in = v != 0 && root_of[v] == r ? kMember : kFree;
      }
      m[lx] = last_in;
    }
  }
  // Scanline flood from the interior cells next to the ring; a cell is queued at most once.
  int32_t top = 0;
  auto queue = [&](int lx, int ly) {
    uint8_t& m = mark[ly * lw + lx];
    if (m == kFree) {
      m = kQueued;
      stack[top++] = (ly << 16) | lx;
    }
  };
  for (int lx = 1; lx < lw - 1; ++lx) {
    queue(lx, 1);
    queue(lx, lh - 2);
  }
  for (int ly = 1; ly < lh - 1; ++ly) {
    queue(1, ly);
    queue(lw - 2, ly);
  }
  while (top > 0) {
    const int32_t cell = stack[--top];
    const int ly = cell >> 16;
    uint8_t* row = mark + ly * lw;
    int xl = cell & 0xFFFF, xr = xl;
    if (row[xl] == kOutside) continue;  // filled by a span since it was queued
    while (xl > 1 && (row[xl - 1] == kFree || row[xl - 1] == kQueued)) --xl;
    while (xr < lw - 2 && (row[xr + 1] == kFree || row[xr + 1] == kQueued)) ++xr;
    for (int x = xl; x <= xr; ++x) row[x] = kOutside;
    for (int ny = ly - 1; ny <= ly + 1; ny += 2) {
      if (ny < 1 || ny > lh - 2) continue;
      const uint8_t* nrow = mark + ny * lw;
      for (int x = xl; x <= xr; ++x)
        if (nrow[x] == kFree && (x == xl || nrow[x - 1] != kFree)) queue(x, ny);
    }
  }
  return window_area2_outside(mark, lw, lh, kOutside);
}

}  // namespace boxes
}  // namespace wsolx
