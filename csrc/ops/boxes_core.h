// CAM score map -> boxes at many thresholds in one pass (DESIGN.md section 3).
//
// Shared by the CPU kernel (one map per OpenMP task) and the CUDA kernel (one map per thread),
// so both backends run the same arithmetic. Per map:
//   1. q = uint8(floor((s - min) / (max - min) * 255)) in float32 (zeros if constant/non-finite)
//   2. standard value P = max(q) or numpy-linear percentile of q (from a 256-bin histogram)
//   3. per threshold t: T = trunc(t * P), level L = clamp(T + 1, 0, 256), mask = q >= L
//   4. foreground union-find in decreasing level order (8-connectivity): at each needed level the
//      live components are the components of that mask. Each component keeps its bbox, raster-
//      first pixel, 2x its hole-less contour area and 4x its Euler number, all updated in O(1) per
//      added pixel from the 2x2 windows around it (all foreground pixels of a 2x2 window belong
//      to one 8-connected component).
//      cv2.contourArea of the outer contour = (#windows fully inside F) + 0.5 (#windows with three
//      pixels in F), F = component with holes filled, over the zero-padded image. A component
//      without holes (Euler number 1) has F = itself, so the tracked value is exact; a component
//      with holes gets F by a flood fill of the outside inside its bbox (only when it can win).
//   5. (multi-box) background union-find in increasing level order (4-connectivity): the live
//      background components that do not touch the image border are the holes.
#pragma once

#include <stdint.h>

#ifdef __CUDACC__
#define WSOLX_HD __host__ __device__
#else
#define WSOLX_HD
#endif

namespace wsolx {
namespace boxes {

constexpr int kLevels = 256;

// 2 x area and 4 x Euler number (8-connectivity, Gray's bit-quads) of one 2x2 window pattern.
// Bits: 1 = top-left, 2 = top-right, 4 = bottom-left, 8 = bottom-right.
WSOLX_HD inline int window_area2(int pattern) {
  const int k = (pattern & 1) + ((pattern >> 1) & 1) + ((pattern >> 2) & 1) + ((pattern >> 3) & 1);
  return k == 4 ? 2 : (k == 3 ? 1 : 0);
}

WSOLX_HD inline int window_euler4(int pattern) {
  const int k = (pattern & 1) + ((pattern >> 1) & 1) + ((pattern >> 2) & 1) + ((pattern >> 3) & 1);
  if (k == 1) return 1;
  if (k == 3) return -1;
  if (pattern == 9 || pattern == 6) return -2;
  return 0;
}

// Statistics of a union-find root: one 32-byte record, so a union touches one cache line.
struct Component {
  int32_t size;
  int32_t first;     // raster index of the first pixel
  int32_t area2;     // 2 x contour area without hole filling (foreground pass)
  int32_t euler4;    // 4 x Euler number (foreground); 1 if touching the border (background)
  int32_t root_pos;  // position in the list of live roots
  int16_t x0, y0, x1, y1;
  int32_t pad;
};

// Number of int32 words of workspace one map of size H x W needs.
WSOLX_HD inline int64_t workspace_words(int64_t H, int64_t W) {
  const int64_t hw = H * W;
  const int64_t padded = (H + 2) * (W + 2);
  return 8 * hw /*components*/ + 3 * hw /*parent, roots, order*/ + 2 * padded /*mark, stack*/ + (hw + 3) / 4 +
         (padded + 3) / 4 + 8 /*alignment*/;
}

// Lookup tables over the occupancy of the 8 neighbours, in circular order NW, N, NE, E, SE, S, SW,
// W (bit i = ring cell i): the area/Euler change when the centre pixel joins, and one
// representative per run of consecutive occupied ring cells (consecutive ring cells are
// 8-adjacent, so each run already is one component and needs one union).
struct RingTables {
  int8_t delta_area2[256];
  int8_t delta_euler4[256];
  uint8_t reps[256][4];
  uint8_t rep_count[256];

  WSOLX_HD void build() {
    const int rx[8] = {-1, 0, 1, 1, 1, 0, -1, -1};
    const int ry[8] = {-1, -1, -1, 0, 1, 1, 1, 0};
    for (int nb = 0; nb < 256; ++nb) {
      int da = 0, de = 0;
      for (int wy = -1; wy <= 0; ++wy) {
        for (int wx = -1; wx <= 0; ++wx) {
          int pattern = 0;
          for (int c = 0; c < 4; ++c) {
            const int ox = wx + (c & 1), oy = wy + (c >> 1);
            bool on = ox == 0 && oy == 0;
            for (int i = 0; i < 8 && !on; ++i) on = rx[i] == ox && ry[i] == oy && ((nb >> i) & 1);
            if (on) pattern |= 1 << c;
          }
          const int self = 1 << ((-wy) * 2 + (-wx));
          da += window_area2(pattern) - window_area2(pattern & ~self);
          de += window_euler4(pattern) - window_euler4(pattern & ~self);
        }
      }
      delta_area2[nb] = static_cast<int8_t>(da);
      delta_euler4[nb] = static_cast<int8_t>(de);
      int count = 0;
      if (nb == 255) {
        reps[nb][count++] = 0;
      } else {
        for (int i = 0; i < 8; ++i)
          if (((nb >> i) & 1) && !((nb >> ((i + 7) & 7)) & 1)) reps[nb][count++] = static_cast<uint8_t>(i);
      }
      rep_count[nb] = static_cast<uint8_t>(count);
    }
  }
};

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

// Processes one map. Emit must provide `box(j, x0, y0, x1, y1)`; in single-box mode it is called
// exactly once per threshold j, in multi-box mode at least once per threshold.
template <class Emit>
class MapBoxes {
 public:
  WSOLX_HD MapBoxes(int H, int W, int32_t* ws, int32_t* jorder, const RingTables& tables, Emit& emit)
      : H_(H), W_(W), hw_(static_cast<int64_t>(H) * W), emit_(emit), jorder_(jorder), tables_(tables) {
    const int64_t hw = hw_, padded = static_cast<int64_t>(H + 2) * (W + 2);
    // Components first: 32-byte aligned when ws is.
    comp_ = reinterpret_cast<Component*>(ws);
    parent_ = ws + 8 * hw;
    roots_ = parent_ + hw;
    order_ = roots_ + hw;
    mark_ = order_ + hw;
    stack_ = mark_ + padded;
    q_ = reinterpret_cast<uint8_t*>(stack_ + padded);
    occ_ = reinterpret_cast<uint8_t*>(stack_ + padded + (hw + 3) / 4);
  }

  WSOLX_HD void run(const float* s, const double* thresholds, int T, double percentile, bool multi) {
    quantize(s);
    int32_t hist[kLevels + 1];
    for (int v = 0; v <= kLevels; ++v) hist[v] = 0;
    for (int64_t i = 0; i < hw_; ++i) hist[q_[i]]++;
    const double standard = percentile_from_histogram(hist, hw_, percentile);

    // Thresholds sorted by level: jorder_[lstart_[L] .. lstart_[L + 1]) have level L.
    for (int v = 0; v <= kLevels + 1; ++v) lstart_[v] = 0;
    int lmin = kLevels, lmax = 0;
    for (int j = 0; j < T; ++j) {
      const int L = threshold_level(thresholds[j], standard);
      lstart_[L + 1]++;
      lmin = L < lmin ? L : lmin;
      lmax = L > lmax ? L : lmax;
    }
    for (int v = 0; v <= kLevels; ++v) lstart_[v + 1] += lstart_[v];
    int32_t fill[kLevels + 1];
    for (int v = 0; v <= kLevels; ++v) fill[v] = lstart_[v];
    for (int j = 0; j < T; ++j) jorder_[fill[threshold_level(thresholds[j], standard)]++] = j;

    // Pixels sorted by level (raster order inside a level); only levels that are ever used.
    const int lo = multi ? 0 : lmin;
    const int hi = kLevels;
    int32_t start[kLevels + 1];
    int32_t acc = 0;
    for (int v = 0; v < kLevels; ++v) {
      start[v] = acc;
      if (v >= lo && v < hi) acc += hist[v];
    }
    start[kLevels] = acc;
    for (int v = 0; v < kLevels; ++v) fill[v] = start[v];
    for (int64_t i = 0; i < hw_; ++i) {
      const int v = q_[i];
      if (v >= lo && v < hi) order_[fill[v]++] = static_cast<int32_t>(i);
    }

    foreground_pass(start, lmin, multi);
    if (multi) background_pass(start, lmax);
  }

 private:
  WSOLX_HD void quantize(const float* s) {
    float mn = s[0], mx = s[0];
    bool finite = true;
    for (int64_t i = 0; i < hw_; ++i) {
      const float v = s[i];
      finite = finite && (v - v == 0.0f);  // false for inf and NaN
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
    if (!finite || !(mx > mn)) {
      for (int64_t i = 0; i < hw_; ++i) q_[i] = 0;
      return;
    }
    const float range = mx - mn;
    if (!(range - range == 0.0f)) {  // max - min overflows: numpy's division gives 0 (or NaN -> 0)
      for (int64_t i = 0; i < hw_; ++i) q_[i] = 0;
      return;
    }
    for (int64_t i = 0; i < hw_; ++i) {
      const float norm = (s[i] - mn) / range;
      const float scaled = norm * 255.0f;
      q_[i] = static_cast<uint8_t>(static_cast<int>(scaled));
    }
  }

  WSOLX_HD int32_t find(int32_t x) {
    while (parent_[x] != x) {
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }

  WSOLX_HD void new_root(int32_t p, int x, int y, int32_t euler4) {
    parent_[p] = p;
    Component& c = comp_[p];
    c.size = 1;
    c.first = p;
    c.area2 = 0;
    c.euler4 = euler4;
    c.x0 = c.x1 = static_cast<int16_t>(x);
    c.y0 = c.y1 = static_cast<int16_t>(y);
    c.root_pos = nroots_;
    roots_[nroots_++] = p;
  }

  // p joins root r (p is not yet anyone's root).
  WSOLX_HD void attach(int32_t p, int x, int y, int32_t r) {
    parent_[p] = r;
    Component& c = comp_[r];
    c.size += 1;
    c.first = p < c.first ? p : c.first;
    c.x0 = x < c.x0 ? static_cast<int16_t>(x) : c.x0;
    c.x1 = x > c.x1 ? static_cast<int16_t>(x) : c.x1;
    c.y0 = y < c.y0 ? static_cast<int16_t>(y) : c.y0;
    c.y1 = y > c.y1 ? static_cast<int16_t>(y) : c.y1;
  }

  // Merges two roots; the larger one survives and takes the statistics. Returns the survivor.
  WSOLX_HD int32_t merge(int32_t ra, int32_t rb, bool background) {
    if (ra == rb) return ra;
    if (comp_[ra].size < comp_[rb].size) {
      const int32_t t = ra;
      ra = rb;
      rb = t;
    }
    parent_[rb] = ra;
    Component& a = comp_[ra];
    const Component& b = comp_[rb];
    a.size += b.size;
    a.first = b.first < a.first ? b.first : a.first;
    a.x0 = b.x0 < a.x0 ? b.x0 : a.x0;
    a.y0 = b.y0 < a.y0 ? b.y0 : a.y0;
    a.x1 = b.x1 > a.x1 ? b.x1 : a.x1;
    a.y1 = b.y1 > a.y1 ? b.y1 : a.y1;
    if (background) {
      a.euler4 |= b.euler4;
    } else {
      a.area2 += b.area2;
      a.euler4 += b.euler4;
    }
    // Drop rb from the list of live roots.
    const int32_t pos = b.root_pos;
    const int32_t last = roots_[--nroots_];
    roots_[pos] = last;
    comp_[last].root_pos = pos;
    return ra;
  }

  WSOLX_HD void add_foreground(int32_t p) {
    const int x = static_cast<int>(p % W_), y = static_cast<int>(p / W_);
    const int W2 = W_ + 2;
    uint8_t* o = occ_ + (y + 1) * W2 + (x + 1);
    const int nb = o[-W2 - 1] | (o[-W2] << 1) | (o[-W2 + 1] << 2) | (o[1] << 3) | (o[W2 + 1] << 4) | (o[W2] << 5) |
                   (o[W2 - 1] << 6) | (o[-1] << 7);
    *o = 1;
    const int ring_offset[8] = {-W_ - 1, -W_, -W_ + 1, 1, W_ + 1, W_, W_ - 1, -1};
    const int count = tables_.rep_count[nb];
    int32_t r;
    if (count == 0) {
      new_root(p, x, y, 0);
      r = p;
    } else {
      r = find(p + ring_offset[tables_.reps[nb][0]]);
      for (int k = 1; k < count; ++k) r = merge(r, find(p + ring_offset[tables_.reps[nb][k]]), false);
      attach(p, x, y, r);
    }
    comp_[r].area2 += tables_.delta_area2[nb];
    comp_[r].euler4 += tables_.delta_euler4[nb];
  }

  WSOLX_HD void add_background(int32_t p) {
    const int x = static_cast<int>(p % W_), y = static_cast<int>(p / W_);
    const int W2 = W_ + 2;
    uint8_t* o = occ_ + (y + 1) * W2 + (x + 1);
    *o = 1;
    const int32_t border = (x == 0 || y == 0 || x == W_ - 1 || y == H_ - 1) ? 1 : 0;
    int32_t r = -1;
    const int32_t nbr[4] = {o[-1] ? p - 1 : -1, o[1] ? p + 1 : -1, o[-W2] ? p - W_ : -1, o[W2] ? p + W_ : -1};
    for (int k = 0; k < 4; ++k) {
      if (nbr[k] < 0) continue;
      const int32_t rn = find(nbr[k]);
      r = r < 0 ? rn : merge(r, rn, true);
    }
    if (r < 0) {
      new_root(p, x, y, border);
    } else {
      attach(p, x, y, r);
      comp_[r].euler4 |= border;
    }
  }

  // 2 x cv2.contourArea of the outer contour of component r with its holes filled: flood fill
  // of the outside inside the bbox grown by one pixel, then the window count.
  WSOLX_HD int32_t filled_area2(int32_t r) {
    const Component& c = comp_[r];
    const int bx0 = c.x0 - 1, by0 = c.y0 - 1;
    const int lw = c.x1 - c.x0 + 3, lh = c.y1 - c.y0 + 3;
    ++stamp_;
    int32_t top = 0;
    for (int lx = 0; lx < lw; ++lx) {
      mark_[lx] = stamp_;
      stack_[top++] = lx;
      mark_[(lh - 1) * lw + lx] = stamp_;
      stack_[top++] = (lh - 1) * lw + lx;
    }
    for (int ly = 1; ly < lh - 1; ++ly) {
      mark_[ly * lw] = stamp_;
      stack_[top++] = ly * lw;
      mark_[ly * lw + lw - 1] = stamp_;
      stack_[top++] = ly * lw + lw - 1;
    }
    while (top > 0) {
      const int32_t li = stack_[--top];
      const int lx = li % lw, ly = li / lw;
      const int nx[4] = {lx - 1, lx + 1, lx, lx};
      const int ny[4] = {ly, ly, ly - 1, ly + 1};
      for (int k = 0; k < 4; ++k) {
        if (nx[k] <= 0 || ny[k] <= 0 || nx[k] >= lw - 1 || ny[k] >= lh - 1) continue;  // ring: marked
        const int32_t ni = ny[k] * lw + nx[k];
        if (mark_[ni] == stamp_) continue;
        const int32_t p = (by0 + ny[k]) * W_ + (bx0 + nx[k]);
        if (occ_[(by0 + ny[k] + 1) * (W_ + 2) + bx0 + nx[k] + 1] && find(p) == r) continue;  // in the component
        mark_[ni] = stamp_;
        stack_[top++] = ni;
      }
    }
    int32_t area2 = 0;
    for (int ly = 0; ly + 1 < lh; ++ly) {
      for (int lx = 0; lx + 1 < lw; ++lx) {
        const int32_t i = ly * lw + lx;
        const int pattern = (mark_[i] != stamp_ ? 1 : 0) | (mark_[i + 1] != stamp_ ? 2 : 0) |
                            (mark_[i + lw] != stamp_ ? 4 : 0) | (mark_[i + lw + 1] != stamp_ ? 8 : 0);
        area2 += window_area2(pattern);
      }
    }
    return area2;
  }

  // Area bounds (2x units). Lower: the hole-less area, exact for a component without holes
  // (Euler number 1). Upper: each pixel in a hole (or nested in one) adds at most 4 windows x 2,
  // and the outer polygon lies inside the bbox of the pixel centres.
  WSOLX_HD int32_t upper_area2(int32_t r) const {
    const Component& c = comp_[r];
    if (c.euler4 == 4) return c.area2;
    const int64_t w = c.x1 - c.x0 + 1, h = c.y1 - c.y0 + 1;
    const int64_t by_holes = c.area2 + 8 * (w * h - c.size);
    const int64_t by_box = 2 * (w - 1) * (h - 1);
    return static_cast<int32_t>(by_holes < by_box ? by_holes : by_box);
  }

  WSOLX_HD int32_t exact_area2(int32_t r) { return comp_[r].euler4 == 4 ? comp_[r].area2 : filled_area2(r); }

  WSOLX_HD void emit_levels(int level, int x0, int y0, int x1, int y1) {
    const int bx1 = x1 + 1 < W_ - 1 ? x1 + 1 : W_ - 1;
    const int by1 = y1 + 1 < H_ - 1 ? y1 + 1 : H_ - 1;
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) emit_.box(jorder_[k], x0, y0, bx1, by1);
  }

  WSOLX_HD void emit_empty(int level) {
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) emit_.box(jorder_[k], 0, 0, 0, 0);
  }

  WSOLX_HD void snapshot_foreground(int level, bool multi) {
    if (nroots_ == 0) {
      emit_empty(level);
      return;
    }
    if (multi) {
      for (int32_t k = 0; k < nroots_; ++k) {
        const Component& c = comp_[roots_[k]];
        emit_levels(level, c.x0, c.y0, c.x1, c.y1);
      }
      return;
    }
    // Largest area; ties go to the later raster-first pixel. Exact areas are computed only
    // when another component's upper bound reaches the leader's lower bound.
    int32_t best = -1, best_lower = -1, best_first = -1;
    for (int32_t k = 0; k < nroots_; ++k) {
      const Component& c = comp_[roots_[k]];
      if (c.area2 > best_lower || (c.area2 == best_lower && c.first > best_first)) {
        best = roots_[k];
        best_lower = c.area2;
        best_first = c.first;
      }
    }
    int32_t best_area = -1;
    bool best_exact = false;
    for (int32_t k = 0; k < nroots_; ++k) {
      const int32_t r = roots_[k];
      if (r == best) continue;
      const int32_t upper = upper_area2(r);
      if (upper < best_lower || (upper == best_lower && comp_[r].first < best_first)) continue;
      if (!best_exact) {
        best_area = exact_area2(best);
        best_exact = true;
      }
      const int32_t a = exact_area2(r);
      if (a > best_area || (a == best_area && comp_[r].first > best_first)) {
        best = r;
        best_area = a;
        best_first = comp_[r].first;
      }
    }
    const Component& c = comp_[best];
    emit_levels(level, c.x0, c.y0, c.x1, c.y1);
  }

  WSOLX_HD void reset_pass() {
    const int64_t padded = static_cast<int64_t>(H_ + 2) * (W_ + 2);
    for (int64_t i = 0; i < padded; ++i) occ_[i] = 0;
    nroots_ = 0;
  }

  WSOLX_HD void foreground_pass(const int32_t* start, int lmin, bool multi) {
    reset_pass();
    const int64_t padded = static_cast<int64_t>(H_ + 2) * (W_ + 2);
    for (int64_t i = 0; i < padded; ++i) mark_[i] = 0;
    stamp_ = 0;
    if (lstart_[kLevels + 1] > lstart_[kLevels]) emit_empty(kLevels);
    for (int v = kLevels - 1; v >= lmin; --v) {
      for (int32_t k = start[v]; k < start[v + 1]; ++k) add_foreground(order_[k]);
      if (lstart_[v + 1] > lstart_[v]) snapshot_foreground(v, multi);
    }
  }

  // Holes at level L: background {q < L} components (4-connected) that avoid the image border.
  WSOLX_HD void background_pass(const int32_t* start, int lmax) {
    reset_pass();
    for (int v = 0; v <= lmax; ++v) {
      if (lstart_[v + 1] > lstart_[v]) {
        for (int32_t k = 0; k < nroots_; ++k) {
          const Component& c = comp_[roots_[k]];
          if (c.euler4) continue;
          emit_levels(v, c.x0 - 1, c.y0 - 1, c.x1 + 1, c.y1 + 1);
        }
      }
      if (v == kLevels) break;
      for (int32_t k = start[v]; k < start[v + 1]; ++k) add_background(order_[k]);
    }
  }

  int H_, W_;
  int64_t hw_;
  Emit& emit_;
  int32_t* jorder_;
  const RingTables& tables_;
  int32_t lstart_[kLevels + 2];
  Component* comp_;
  int32_t *parent_, *roots_, *order_, *mark_, *stack_;
  uint8_t *q_, *occ_;
  int32_t nroots_ = 0;
  int32_t stamp_ = 0;
};

}  // namespace boxes
}  // namespace wsolx
