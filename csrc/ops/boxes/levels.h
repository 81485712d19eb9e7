// Levels of a quantised map: the standard value, the level of every threshold, and the counting
// sort of the pixels by level.
#pragma once

#include "ops/boxes/common.h"

namespace wsolx {
namespace boxes {

// numpy.percentile(q, p) with the default 'linear' method, from a histogram of n values.
WSOLX_HD inline double percentile_from_histogram(const int32_t* hist, int64_t n, double p) {
  int hi_level = 0;
  for (int v = kLevels - 1; v >= 0; --v) {
    if (hist[v] > 0) {
      hi_level = v;
      break;
    }
  }
  if (p >= 100.0) return static_cast<double>(hi_level);
  const double virt = static_cast<double>(n - 1) * (p / 100.0);
  if (virt >= static_cast<double>(n - 1)) return static_cast<double>(hi_level);
  const double prev = static_cast<double>(static_cast<int64_t>(virt));  // virt >= 0: floor
  const int64_t k0 = static_cast<int64_t>(prev);
  // a = sorted[k0], b = sorted[k0 + 1]
  int64_t cum = 0;
  int a = -1, b = -1;
  for (int v = 0; v < kLevels && b < 0; ++v) {
    cum += hist[v];
    if (a < 0 && cum > k0) a = v;
    if (cum > k0 + 1) b = v;
  }
  const double g = virt - prev;
  const double da = static_cast<double>(a), db = static_cast<double>(b);
  const double d = db - da;
  return g >= 0.5 ? db - d * (1.0 - g) : da + d * g;
}

// Level L of a threshold: mask = q > trunc(t * P) = q >= L.
WSOLX_HD inline int threshold_level(double t, double standard) {
  double x = t * standard;
  if (x > 1000.0) x = 1000.0;  // avoid undefined casts; any T >= 255 is an empty mask
  if (x < -1000.0) x = -1000.0;
  const int64_t T = static_cast<int64_t>(x);  // truncation toward zero, like Python's int()
  int64_t L = T + 1;
  if (L < 0) L = 0;
  if (L > kLevels) L = kLevels;
  return static_cast<int>(L);
}

// The thresholds of one map grouped by level (a counting sort over the 257 levels 0..256):
// order[begin[L] .. begin[L + 1]) are the indices of the thresholds of level L. A level is
// "needed" when some threshold has it; only needed levels are snapshotted.
struct LevelThresholds {
  int32_t begin[kLevels + 2];
  int32_t* order;       // (T,) threshold indices, caller-provided
  int lowest, highest;  // lowest and highest needed level
  int lowest_cut;       // lowest needed level in [1, 255] (256: none); pixels below it are never visited

  WSOLX_HD bool needed(int level) const { return begin[level + 1] > begin[level]; }

  WSOLX_HD void build(const double* thresholds, int T, double standard) {
    for (int v = 0; v <= kLevels + 1; ++v) begin[v] = 0;
    lowest = kLevels;
    highest = 0;
    for (int j = 0; j < T; ++j) {
      const int L = threshold_level(thresholds[j], standard);
      begin[L + 1]++;
      lowest = L < lowest ? L : lowest;
      highest = L > highest ? L : highest;
    }
    for (int v = 0; v <= kLevels; ++v) begin[v + 1] += begin[v];
    int32_t fill[kLevels + 1];
    for (int v = 0; v <= kLevels; ++v) fill[v] = begin[v];
    for (int j = 0; j < T; ++j) order[fill[threshold_level(thresholds[j], standard)]++] = j;
    lowest_cut = kLevels;
    for (int v = kLevels - 1; v >= 1; --v)
      if (needed(v)) lowest_cut = v;
  }
};

// Level histogram of each column stripe of the (H, W) map q: stripe k holds the columns
// [k * stripe_width, (k + 1) * stripe_width), the last stripe also the remaining columns.
WSOLX_HD inline void stripe_histograms(const uint8_t* q, int H, int W, int stripe_width, int32_t (*hist)[kLevels]) {
  const int cw = stripe_width;
  for (int k = 0; k < kStripes; ++k)
    for (int v = 0; v < kLevels; ++v) hist[k][v] = 0;
  for (int y = 0; y < H; ++y) {
    const uint8_t* const row = q + static_cast<int64_t>(y) * W;
    for (int x = 0; x < cw; ++x)
      for (int k = 0; k < kStripes; ++k) hist[k][row[k * cw + x]]++;
    for (int x = kStripes * cw; x < W; ++x) hist[kStripes - 1][row[x]]++;
  }
}

// Pixels counting-sorted by level into order (H * W entries), raster order inside a stripe and
// stripe k's pixels after stripe k - 1's; order[order_begin[v] .. order_begin[v + 1]) is level v.
// Pixels of one level may join in any order (no snapshot falls between them); sorting by level
// rather than by the intervals between needed levels needs no level -> interval table and no
// interval image (the padded level image is a plain copy of q, occupancy.h). An entry is padded
// index << 32 | y << 16 | x: the foreground loop needs no division and the next pixel of a row is
// the entry + (1 << 32) + 1.
WSOLX_HD inline void sort_pixels_by_level(const uint8_t* q, int H, int W, int stripe_width,
                                          const int32_t (*hist)[kLevels], int64_t* order, int32_t* order_begin) {
  const int cw = stripe_width;
  int64_t* wp[kStripes][kLevels];  // write position per stripe and level
  int32_t acc = 0;
  for (int v = 0; v < kLevels; ++v) {
    order_begin[v] = acc;
    for (int k = 0; k < kStripes; ++k) {
      wp[k][v] = order + acc;
      acc += hist[k][v];
    }
  }
  order_begin[kLevels] = acc;
  const int W2 = W + 2;
  const uint64_t step = (uint64_t{1} << 32) + 1;
  auto entry0 = [&](int y) { return (static_cast<uint64_t>((y + 1) * W2 + 1) << 32) | static_cast<uint32_t>(y << 16); };
  for (int y = 0; y < H; ++y) {
    const uint8_t* const qrow = q + static_cast<int64_t>(y) * W;
    uint64_t e[kStripes];
    for (int k = 0; k < kStripes; ++k) e[k] = entry0(y) + static_cast<uint64_t>(k * cw) * step;
    for (int x = 0; x < cw; ++x) {
      for (int k = 0; k < kStripes; ++k) {
        *wp[k][qrow[k * cw + x]]++ = static_cast<int64_t>(e[k]);
        e[k] += step;
      }
    }
    uint64_t el = entry0(y) + static_cast<uint64_t>(kStripes * cw) * step;
    for (int x = kStripes * cw; x < W; ++x, el += step) *wp[kStripes - 1][qrow[x]]++ = static_cast<int64_t>(el);
  }
}

}  // namespace boxes
}  // namespace wsolx
