// cv2.contourArea of a component's outer contour (2x units): bounds from the tracked statistics,
// and the exact value with the holes filled.
//
// contourArea of the outer contour = (#2x2 windows fully inside F) + 0.5 (#windows with three
// pixels in F), F = the component with its holes filled, over the zero-padded image. A component
// without holes (Euler number 1) has F = itself, so the hole-less area tracked per pixel is exact;
// a component with holes gets it from its traced outer border, only when its upper bound can reach
// the leader.
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

// 2 x cv2.contourArea of the outer contour of root r (record c), i.e. of the component with its
// holes filled: the outer border is followed as findContours does (Suzuki-Abe, 8-connectivity)
// from the raster-first pixel c.first, and the shoelace formula is taken over the border pixels'
// centres. The cost is the border's length (a few hundred steps for a CAM-like component), where
// a flood fill of the outside inside the bbox cost every bbox cell (thousands, at every snapshot
// where a component with holes has grown).
// The component's pixels are the occupied ones (level >= the snapshot's level) whose id maps to r;
// label, level_image: padded images of row stride W2.
WSOLX_HD inline int32_t filled_area2(const Component& c, int32_t r, const int32_t* label, const uint8_t* level_image,
                                     int level, const int32_t* root_of, int W2) {
  // Neighbour directions, counterclockwise on screen (y down): E, NE, N, NW, W, SW, S, SE.
  const int dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
  const int dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};
  auto member = [&](int64_t p) { return level_image[p] >= level && root_of[label[p]] == r; };
  const int x0 = c.first & 0xFFFF, y0 = c.first >> 16;
  const int64_t start = static_cast<int64_t>(y0 + 1) * W2 + x0 + 1;
  // The start's W neighbour is not in the component (raster-first pixel). Its first member
  // neighbour clockwise from W is the border's last pixel (the border is followed
  // counterclockwise); none: a single pixel, area 0.
  int first_dir = -1;
  for (int n = 0; n < 8 && first_dir < 0; ++n) {
    const int d = (4 - n) & 7;
    if (member(start + static_cast<int64_t>(dy[d]) * W2 + dx[d])) first_dir = d;
  }
  if (first_dir < 0) return 0;
  const int64_t last = start + static_cast<int64_t>(dy[first_dir]) * W2 + dx[first_dir];
  // Follow the border: from pixel p (reached from the neighbour in direction back), the next
  // border pixel is the first member counterclockwise after `back`. Stop on the step from the
  // last pixel onto the start (a border may pass through the start more than once before).
  // Coordinates relative to the start.
  int64_t p = start;
  int x = 0, y = 0, back = first_dir;
  int64_t twice_area = 0;
  for (;;) {
    int d = back;
    int64_t q;
    do {
      d = (d + 1) & 7;
      q = p + static_cast<int64_t>(dy[d]) * W2 + dx[d];
    } while (!member(q));
    if (p == last && q == start) break;
    const int nx = x + dx[d], ny = y + dy[d];
    twice_area += static_cast<int64_t>(x) * ny - static_cast<int64_t>(nx) * y;
    x = nx;
    y = ny;
    p = q;
    back = (d + 4) & 7;
  }
  // The closing edge back to the start (0, 0) adds x * 0 - 0 * y = 0.
  return static_cast<int32_t>(twice_area < 0 ? -twice_area : twice_area);
}

}  // namespace boxes
}  // namespace wsolx
