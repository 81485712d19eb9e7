// Levels of a quantised map: the standard value, the level of every threshold, the intervals
// between needed levels, and the counting sort of the pixels by interval.
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
  }
};

// Cut points: 0 and every needed level in (0, 256). Interval i holds the levels [lo[i], lo[i + 1]);
// pixels inside one interval may join in any order, since no snapshot falls between them, and
// fewer intervals than levels also means fewer sort streams. Interval 0 (levels below the lowest
// cut) is only needed for the level-0 mask, the whole image, which is answered without pixels.
struct Intervals {
  int32_t lo[kLevels + 1];
  int count;

  // Also fills interval_of[v] for every level v < 256.
  WSOLX_HD void build(const LevelThresholds& levels, uint8_t* interval_of) {
    count = 0;
    lo[count++] = 0;
    for (int v = 1; v < kLevels; ++v)
      if (levels.needed(v)) lo[count++] = v;
    lo[count] = kLevels;
    for (int i = 0; i < count; ++i)
      for (int v = lo[i]; v < lo[i + 1]; ++v) interval_of[v] = static_cast<uint8_t>(i);
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

// Pixels counting-sorted by interval into order (H * W entries), raster order inside a stripe
// and stripe k's pixels after stripe k - 1's; order[order_begin[i] .. order_begin[i + 1]) is
// interval i. An entry is padded index << 32 | y << 16 | x: the foreground loop needs no division
// and the next pixel of a row is the entry + (1 << 32) + 1. The same pass writes every pixel's
// interval into the interior of the padded (H + 2) x (W + 2) interval image.
WSOLX_HD inline void sort_pixels_by_interval(const uint8_t* q, int H, int W, int stripe_width,
                                             const int32_t (*hist)[kLevels], const Intervals& intervals,
                                             const uint8_t* interval_of, int64_t* order, int32_t* order_begin,
                                             uint8_t* interval_image) {
  const int cw = stripe_width;
  int64_t* wp[kStripes][kLevels];  // write position per stripe and interval
  int32_t acc = 0;
  for (int i = 0; i < intervals.count; ++i) {
    order_begin[i] = acc;
    for (int k = 0; k < kStripes; ++k) {
      wp[k][i] = order + acc;
      for (int v = intervals.lo[i]; v < intervals.lo[i + 1]; ++v) acc += hist[k][v];
    }
  }
  order_begin[intervals.count] = acc;
  const int W2 = W + 2;
  const uint64_t step = (uint64_t{1} << 32) + 1;
  auto entry0 = [&](int y) { return (static_cast<uint64_t>((y + 1) * W2 + 1) << 32) | static_cast<uint32_t>(y << 16); };
  for (int y = 0; y < H; ++y) {
    const uint8_t* const qrow = q + static_cast<int64_t>(y) * W;
    uint8_t* const irow = interval_image + static_cast<int64_t>(y + 1) * W2 + 1;
    uint64_t e[kStripes];
    for (int k = 0; k < kStripes; ++k) e[k] = entry0(y) + static_cast<uint64_t>(k * cw) * step;
    for (int x = 0; x < cw; ++x) {
      for (int k = 0; k < kStripes; ++k) {
        const int iv = interval_of[qrow[k * cw + x]];
        irow[k * cw + x] = static_cast<uint8_t>(iv);
        *wp[k][iv]++ = static_cast<int64_t>(e[k]);
        e[k] += step;
      }
    }
    uint64_t el = entry0(y) + static_cast<uint64_t>(kStripes * cw) * step;
    for (int x = kStripes * cw; x < W; ++x, el += step) {
      const int iv = interval_of[qrow[x]];
      irow[x] = static_cast<uint8_t>(iv);
      *wp[kStripes - 1][iv]++ = static_cast<int64_t>(el);
    }
  }
}

}  // namespace boxes
}  // namespace wsolx
