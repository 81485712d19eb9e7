// CAM score map -> boxes at many thresholds in one pass (docs/semantics.md §4).
//
// Shared by the CPU kernel (maps claimed one at a time by the threads) and the CUDA kernel (one
// map per thread), so both backends run the same arithmetic. Per map:
//   1. the raw (h, w) CAM is resized to (H, W) exactly as cv2.resize(float64, INTER_CUBIC), then
//      normalised and quantised in float64 as the protocol does (cubic_resize.h):
//      q = uint8((s - min) / max(s - min) * 255) (zeros if constant / NaN / infinite)
//   2. standard value P = max(q) or numpy-linear percentile of q (from a 256-bin histogram)
//   3. per threshold t: T = trunc(t * P), level L = clamp(T + 1, 0, 256), mask = q >= L
//   4. pixels are counting-sorted by the interval between consecutive needed levels they fall in
//      (no snapshot happens inside an interval); inside one, column stripe by column stripe, each
//      in raster order, so that consecutive pixels mostly join the same component. The same pass
//      writes every pixel's interval into a padded interval image
//   5. the occupancy mask a pixel sees when it joins is known before any union-find: a neighbour
//      is already occupied when its interval is higher, or equal and it comes first in that order.
//      One vectorised raster pass stores this 3x3 code per pixel (code_)
//   6. foreground union-find in decreasing interval order (8-connectivity): after each needed level
//      the live components are the components of that mask. Pixels carry component ids in a
//      padded label image; the id -> root map is kept flat (a merge relabels the ids of the
//      smaller component), so a pixel finds its root with one lookup. The code indexes one table
//      with the pixel's step of size, 2x hole-less contour area, 4x Euler number and perimeter
//      (all foreground pixels of a 2x2 window belong to one 8-connected component), and the
//      representative neighbours of its at most two occupied neighbour runs; a pixel whose runs
//      belong to one component adds its steps, bbox and raster index to a register accumulator
//      of that root (HotDelta), flushed into the root's Acc record when the root changes and
//      folded into the Component record at every snapshot.
//      cv2.contourArea of the outer contour = (#windows fully inside F) + 0.5 (#windows with three
//      pixels in F), F = component with holes filled, over the zero-padded image. A component
//      without holes (Euler number 1) has F = itself, so the tracked value is exact; a component
//      with holes gets F by a scanline flood fill of the outside inside its bbox, only when its
//      upper bound (from bbox, perimeter and hole-less area) can reach the leader.
//      The level-0 mask (q >= 0) is the whole image: it is answered without visiting pixels.
//   7. (multi-box) background union-find in increasing level order (4-connectivity): the live
//      background components that do not touch the image border are the holes. It stops at the
//      highest needed level whose components have holes (known from their Euler numbers).
#pragma once

#include <stdint.h>

// WSOLX_BOXES_NO_SIMD forces the portable code that the CUDA kernel runs (tests of that path).
#if defined(__SSE2__) && !defined(__CUDACC__) && !defined(WSOLX_BOXES_NO_SIMD)
#include <emmintrin.h>
#define WSOLX_BOXES_SSE2 1
#endif

#include "ops/cubic_resize.h"  // defines WSOLX_HD

#ifdef __CUDACC__
#define WSOLX_NOINLINE
#else
#define WSOLX_NOINLINE __attribute__((noinline))
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
  int32_t area2;     // 2 x contour area without hole filling (foreground pass)
  int32_t euler4;    // 4 x Euler number (foreground); pixels on the image border (background)
  int32_t perim;     // pixel edges between the component and other pixels (foreground pass)
  int16_t x0, y0, x1, y1;
  int32_t first;     // first pixel in raster order, as y << 16 | x
  int32_t root_pos;  // position in the list of live roots
};

// Statistics a root gathered since its last fold (flushes of the register accumulator). Maxima
// are stored negated so that every box lane is a minimum.
struct Acc {
  int32_t size, area2, euler4, perim;
  int16_t x0, y0, nx1, ny1;
  int32_t first;
  int32_t pad;
};

// Number of int32 words of workspace one map of size H x W needs.
WSOLX_HD inline int64_t workspace_words(int64_t H, int64_t W) {
  const int64_t hw = H * W;
  const int64_t padded = (H + 2) * (W + 2);
  return 8 * (hw + 1) /*components*/ + 8 * (hw + 1) /*accumulators*/ +
         6 * (hw + 1) /*parent, roots, next id, last id, filled-area cache*/ + 2 * hw /*order*/ +
         3 * padded /*label, mark, stack*/ + (hw + 3) / 4 /*q*/ + 2 * ((padded + 4 + 3) / 4) /*occupancy, ivp*/ +
         (padded + 16 + 1) / 2 /*codes*/ + 8 /*alignment*/;
}

// Lookup tables over the occupancy of the 8 neighbours. The index is the 3x3 mask in row-major
// order, bit (dy + 1) * 3 + (dx + 1), with the centre bit 4 clear: the area/Euler change when the
// centre pixel joins, and one representative per run of consecutive occupied ring cells, as ring
// positions in circular order NW, N, NE, E, SE, S, SW, W (consecutive ring cells are 8-adjacent,
// so each run already is one component and needs one union).
struct RingTables {
  uint8_t reps[512][4];
  uint8_t rep_count[512];
  // {1, area2 step, euler4 step, perimeter step}: what a pixel joining adds to its component.
  alignas(16) int32_t stat_delta[512][4];

  WSOLX_HD void build() {
    const int rx[8] = {-1, 0, 1, 1, 1, 0, -1, -1};
    const int ry[8] = {-1, -1, -1, 0, 1, 1, 1, 0};
    const int row_major_bit[8] = {0, 1, 2, 5, 8, 7, 6, 3};
    for (int idx = 0; idx < 512; ++idx) {  // entries with the centre bit set are never read
      for (int k = 0; k < 4; ++k) stat_delta[idx][k] = 0;
      rep_count[idx] = 0;
      for (int k = 0; k < 4; ++k) reps[idx][k] = 0;
    }
    for (int nb = 0; nb < 256; ++nb) {  // nb: ring-order mask
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
      int idx = 0;
      for (int i = 0; i < 8; ++i)
        if ((nb >> i) & 1) idx |= 1 << row_major_bit[i];
      stat_delta[idx][0] = 1;
      stat_delta[idx][1] = da;
      stat_delta[idx][2] = de;
      const int n4 = ((idx >> 1) & 1) + ((idx >> 3) & 1) + ((idx >> 5) & 1) + ((idx >> 7) & 1);
      stat_delta[idx][3] = 4 - 2 * n4;  // new edges minus the edges to the 4-neighbours
      int count = 0;
      if (nb == 255) {
        reps[idx][count++] = 0;
      } else {
        for (int i = 0; i < 8; ++i)
          if (((nb >> i) & 1) && !((nb >> ((i + 7) & 7)) & 1)) reps[idx][count++] = static_cast<uint8_t>(i == 7 && (nb & 1) ? 0 : i);
      }
      rep_count[idx] = static_cast<uint8_t>(count);
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

// The component the previous pixel joined, with its statistics in registers: consecutive pixels
// mostly join the same component, and updating a record in memory per pixel would chain every
// pixel to the previous one through store-to-load forwarding.
#ifdef WSOLX_BOXES_SSE2
struct HotComponent {
  int32_t r = 0;  // root id, 0 = none
  int32_t first = 0;
  __m128i counts = _mm_setzero_si128();  // size, area2, euler4, perim (int32)
  __m128i box = _mm_setzero_si128();     // x0, y0, -x1, -y1 (int16)

  void load(const Component& c, int32_t root) {
    r = root;
    first = c.first;
    counts = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&c.size));
    box = _mm_set_epi16(0, 0, 0, 0, static_cast<int16_t>(-c.y1), static_cast<int16_t>(-c.x1), c.y0, c.x0);
  }
  void flush(Component& c) const {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&c.size), counts);
    c.first = first;
    c.x0 = static_cast<int16_t>(_mm_extract_epi16(box, 0));
    c.y0 = static_cast<int16_t>(_mm_extract_epi16(box, 1));
    c.x1 = static_cast<int16_t>(-static_cast<int16_t>(_mm_extract_epi16(box, 2)));
    c.y1 = static_cast<int16_t>(-static_cast<int16_t>(_mm_extract_epi16(box, 3)));
  }
  // Pixel packed = y << 16 | x joins; delta = {1, area step, Euler step, perimeter step}.
  void add(int32_t packed, const int32_t* delta) {
    const __m128i v = _mm_cvtsi32_si128(packed);  // int16 lanes x, y
    box = _mm_min_epi16(box, _mm_unpacklo_epi32(v, _mm_sub_epi16(_mm_setzero_si128(), v)));
    counts = _mm_add_epi32(counts, _mm_load_si128(reinterpret_cast<const __m128i*>(delta)));
    first = packed < first ? packed : first;
  }
};
#else
struct HotComponent {
  int32_t r = 0;
  int32_t first = 0, size = 0, area2 = 0, euler4 = 0, perim = 0;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;

  WSOLX_HD void load(const Component& c, int32_t root) {
    r = root;
    first = c.first;
    size = c.size;
    area2 = c.area2;
    euler4 = c.euler4;
    perim = c.perim;
    x0 = c.x0;
    y0 = c.y0;
    x1 = c.x1;
    y1 = c.y1;
  }
  WSOLX_HD void flush(Component& c) const {
    c.size = size;
    c.area2 = area2;
    c.euler4 = euler4;
    c.perim = perim;
    c.first = first;
    c.x0 = static_cast<int16_t>(x0);
    c.y0 = static_cast<int16_t>(y0);
    c.x1 = static_cast<int16_t>(x1);
    c.y1 = static_cast<int16_t>(y1);
  }
  WSOLX_HD void add(int32_t packed, const int32_t* delta) {
    const int x = packed & 0xFFFF, y = packed >> 16;
    x0 = x < x0 ? x : x0;
    x1 = x > x1 ? x : x1;
    y0 = y < y0 ? y : y0;
    y1 = y > y1 ? y : y1;
    size += delta[0];
    area2 += delta[1];
    euler4 += delta[2];
    perim += delta[3];
    first = packed < first ? packed : first;
  }
};
#endif

// What the pixels that joined root r since the last flush add to it, in registers: consecutive
// pixels mostly join the same component. Flushing adds it to the root's accumulator and starts
// from empty again, so switching components never waits for a load.
#ifdef WSOLX_BOXES_SSE2
struct HotDelta {
  int32_t r = 0;  // root id, 0 = none (acc_[0] is a scratch record)
  int32_t first = 0x7FFFFFFF;
  __m128i counts = _mm_setzero_si128();  // size, area2, euler4, perim (int32)
  __m128i box = _mm_set1_epi16(32767);   // x0, y0, -x1, -y1 (int16)

  void add(int32_t packed, const int32_t* delta) {
    const __m128i v = _mm_cvtsi32_si128(packed);  // int16 lanes x, y
    box = _mm_min_epi16(box, _mm_unpacklo_epi32(v, _mm_sub_epi16(_mm_setzero_si128(), v)));
    counts = _mm_add_epi32(counts, _mm_load_si128(reinterpret_cast<const __m128i*>(delta)));
    first = packed < first ? packed : first;
  }
  void flush_into(Acc& a) {
    __m128i* c = reinterpret_cast<__m128i*>(&a.size);
    _mm_store_si128(c, _mm_add_epi32(_mm_load_si128(c), counts));
    __m128i* b = reinterpret_cast<__m128i*>(&a.x0);
    _mm_storel_epi64(b, _mm_min_epi16(_mm_loadl_epi64(b), box));
    a.first = first < a.first ? first : a.first;
    counts = _mm_setzero_si128();
    box = _mm_set1_epi16(32767);
    first = 0x7FFFFFFF;
  }
};
#else
struct HotDelta {
  int32_t r = 0;
  int32_t first = 0x7FFFFFFF, size = 0, area2 = 0, euler4 = 0, perim = 0;
  int x0 = 32767, y0 = 32767, nx1 = 32767, ny1 = 32767;

  WSOLX_HD void add(int32_t packed, const int32_t* delta) {
    const int x = packed & 0xFFFF, y = packed >> 16;
    x0 = x < x0 ? x : x0;
    y0 = y < y0 ? y : y0;
    nx1 = -x < nx1 ? -x : nx1;
    ny1 = -y < ny1 ? -y : ny1;
    size += delta[0];
    area2 += delta[1];
    euler4 += delta[2];
    perim += delta[3];
    first = packed < first ? packed : first;
  }
  WSOLX_HD void flush_into(Acc& a) {
    a.size += size;
    a.area2 += area2;
    a.euler4 += euler4;
    a.perim += perim;
    a.x0 = x0 < a.x0 ? static_cast<int16_t>(x0) : a.x0;
    a.y0 = y0 < a.y0 ? static_cast<int16_t>(y0) : a.y0;
    a.nx1 = nx1 < a.nx1 ? static_cast<int16_t>(nx1) : a.nx1;
    a.ny1 = ny1 < a.ny1 ? static_cast<int16_t>(ny1) : a.ny1;
    a.first = first < a.first ? first : a.first;
    first = 0x7FFFFFFF;
    size = area2 = euler4 = perim = 0;
    x0 = y0 = nx1 = ny1 = 32767;
  }
};
#endif

// Processes one map. Emit must provide `best(j, x0, y0, x1, y1)` (the largest contour's box,
// called exactly once per threshold j when single-box answers are asked for) and
// `box(j, x0, y0, x1, y1)` (every contour's box, at least once per threshold j when multi-box
// answers are asked for).
//
// Pixels are labelled with component ids in a zero-padded (H + 2) x (W + 2) label image (0 = not
// yet added); the union-find runs over the ids, which are few for CAM-like maps, so it stays in
// the L1 cache. Pixel lists hold packed coordinates (y << 16 | x): no division per pixel.
template <class Emit>
class MapBoxes {
 public:
  WSOLX_HD MapBoxes(int H, int W, int32_t* ws, int32_t* jorder, const RingTables& tables, Emit& emit)
      : H_(H), W_(W), W2_(W + 2), hw_(static_cast<int64_t>(H) * W), emit_(emit), jorder_(jorder), tables_(tables) {
    const int64_t hw = hw_, padded = static_cast<int64_t>(H + 2) * (W + 2);
    // Components first: 32-byte aligned when ws is.
    comp_ = reinterpret_cast<Component*>(ws);
    acc_ = reinterpret_cast<Acc*>(ws + 8 * (hw + 1));
    cparent_ = ws + 16 * (hw + 1);
    roots_ = cparent_ + (hw + 1);
    cnext_ = roots_ + (hw + 1);
    clast_ = cnext_ + (hw + 1);
    fill_size_ = clast_ + (hw + 1);
    fill_area_ = fill_size_ + (hw + 1);
    order_ = reinterpret_cast<int64_t*>(fill_area_ + (hw + 1));
    label_ = fill_area_ + (hw + 1) + 2 * hw;
    mark_ = label_ + padded;
    stack_ = mark_ + padded;
    q_ = reinterpret_cast<uint8_t*>(stack_ + padded);
    occ_ = q_ + (hw + 3) / 4 * 4;
    ivp_ = occ_ + (padded + 4 + 3) / 4 * 4;
    code_ = reinterpret_cast<uint16_t*>(ivp_ + (padded + 4 + 3) / 4 * 4);
    cw_ = W / kStripes;
    const int ring[8] = {-W2_ - 1, -W2_, -W2_ + 1, 1, W2_ + 1, W2_, W2_ - 1, -1};
    for (int i = 0; i < 8; ++i) ring_[i] = ring[i];
  }

  // Step 1-3 for a raw (h, w) CAM of real type T: bicubic resize to (H, W) exactly as
  // cv2.resize(float64, INTER_CUBIC) (taps tx: W entries, ty: H entries, cubic::make_taps), then
  // float64 normalisation and quantisation into q (cubic::normalize_quantize, whose status it
  // returns). The float64 map lives in the component records' area, unused until run().
  template <class T>
  WSOLX_HD int quantize_cam(const T* cam, int64_t h, int64_t w, const cubic::Tap* tx, const cubic::Tap* ty,
                            bool normalize) {
    double* out = reinterpret_cast<double*>(comp_);  // 8 (hw + 1) doubles with acc_ behind it
    double* rows = out + hw_;
    const cubic::MapStats st = cubic::resize_map(cam, h, w, H_, W_, tx, ty, rows, out);
    return cubic::normalize_quantize(out, hw_, normalize, st, q_);
  }

  // Steps 4-8 on the quantised map (quantize_cam first). single: emit.best(j, box) once per
  // threshold (largest contour); multi: emit.box(j, box) for every contour (at least once per
  // threshold); both may be set (one pass for both answers). paper: the box rule of the paper's
  // code (far corner x0 + w, y0 + h without the clamp to W - 1, H - 1; no contour gives the
  // whole image [0, 0, W, H]) instead of the protocol's.
  WSOLX_HD void run(const double* thresholds, int T, double percentile, bool single, bool multi, bool paper) {
    single_ = single;
    multi_ = multi;
    paper_ = paper;
    // Per-stripe histograms: stripe k holds columns [k * cw, (k + 1) * cw), the last one also the
    // remaining columns. Independent stripes let the counting sort below run kStripes chains at
    // once, and visiting an interval stripe by stripe keeps consecutive pixels on the same
    // components (see build_codes for the order this defines).
    const int cw = cw_;
    int32_t hist[kStripes][kLevels];
    for (int k = 0; k < kStripes; ++k)
      for (int v = 0; v < kLevels; ++v) hist[k][v] = 0;
    for (int y = 0; y < H_; ++y) {
      const uint8_t* const row = q_ + static_cast<int64_t>(y) * W_;
      for (int x = 0; x < cw; ++x)
        for (int k = 0; k < kStripes; ++k) hist[k][row[k * cw + x]]++;
      for (int x = kStripes * cw; x < W_; ++x) hist[kStripes - 1][row[x]]++;
    }
    int32_t total[kLevels];
    for (int v = 0; v < kLevels; ++v) {
      total[v] = 0;
      for (int k = 0; k < kStripes; ++k) total[v] += hist[k][v];
    }
    const double standard = percentile_from_histogram(total, hw_, percentile);

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
    int32_t tfill[kLevels + 1];
    for (int v = 0; v <= kLevels; ++v) tfill[v] = lstart_[v];
    for (int j = 0; j < T; ++j) jorder_[tfill[threshold_level(thresholds[j], standard)]++] = j;

    // Cut points: 0 and every needed level in (0, 256). Interval i holds the levels
    // [cut_[i], cut_[i + 1]); pixels inside one interval may join in any order, since no snapshot
    // falls between them. Fewer intervals than levels also means fewer sort streams.
    int ncut = 0;
    cut_[ncut++] = 0;
    for (int v = 1; v < kLevels; ++v)
      if (lstart_[v + 1] > lstart_[v]) cut_[ncut++] = v;
    cut_[ncut] = kLevels;
    uint8_t interval[kLevels];
    for (int i = 0; i < ncut; ++i)
      for (int v = cut_[i]; v < cut_[i + 1]; ++v) interval[v] = static_cast<uint8_t>(i);

    // Pixels sorted by interval, raster order inside one (stripe k's pixels follow stripe k-1's);
    // the same pass writes every pixel's interval into the padded interval image. An entry is
    // padded index << 32 | y << 16 | x, so the next pixel of a row is the entry + (1 << 32) + 1.
    int32_t start[kLevels + 1];
    int64_t* wp[kStripes][kLevels];
    int32_t acc = 0;
    for (int i = 0; i < ncut; ++i) {
      start[i] = acc;
      for (int k = 0; k < kStripes; ++k) {
        wp[k][i] = order_ + acc;
        for (int v = cut_[i]; v < cut_[i + 1]; ++v) acc += hist[k][v];
      }
    }
    start[ncut] = acc;
    const int W2 = W2_;
    const uint64_t step = (uint64_t{1} << 32) + 1;
    auto entry0 = [&](int y) {
      return (static_cast<uint64_t>((y + 1) * W2 + 1) << 32) | static_cast<uint32_t>(y << 16);
    };
    for (int y = 0; y < H_; ++y) {
      const uint8_t* const qrow = q_ + static_cast<int64_t>(y) * W_;
      uint8_t* const irow = ivp_ + static_cast<int64_t>(y + 1) * W2 + 1;
      uint64_t e[kStripes];
      for (int k = 0; k < kStripes; ++k) e[k] = entry0(y) + static_cast<uint64_t>(k * cw) * step;
      for (int x = 0; x < cw; ++x) {
        for (int k = 0; k < kStripes; ++k) {
          const int iv = interval[qrow[k * cw + x]];
          irow[k * cw + x] = static_cast<uint8_t>(iv);
          *wp[k][iv]++ = static_cast<int64_t>(e[k]);
          e[k] += step;
        }
      }
      uint64_t el = entry0(y) + static_cast<uint64_t>(kStripes * cw) * step;
      for (int x = kStripes * cw; x < W_; ++x, el += step) {
        const int iv = interval[qrow[x]];
        irow[x] = static_cast<uint8_t>(iv);
        *wp[kStripes - 1][iv]++ = static_cast<int64_t>(el);
      }
    }

    build_codes();
    foreground_pass(start, ncut, lmin);
    // Holes exist only at levels where the components' Euler numbers say so (Euler number =
    // 1 - holes for each component), so the background pass stops at the highest such level.
    if (multi && hole_level_ >= 0) background_pass(start, ncut, hole_level_ < lmax ? hole_level_ : lmax);
  }

 private:
#if defined(WSOLX_BOXES_STRIPES)
  static constexpr int kStripes = WSOLX_BOXES_STRIPES;  // tests of other stripe counts
#elif defined(__CUDA_ARCH__)
  static constexpr int kStripes = 1;  // per-thread local memory is precious on the device
#else
  static constexpr int kStripes = 8;
#endif

  WSOLX_HD int32_t find(int32_t x) const { return cparent_[x]; }

  static WSOLX_HD void acc_reset(Acc& a) {
    a.size = a.area2 = a.euler4 = a.perim = 0;
    a.x0 = a.y0 = a.nx1 = a.ny1 = 32767;
    a.first = 0x7FFFFFFF;
  }

  // Pixel packed = y << 16 | x joins; delta = {1, area step, Euler step, perimeter step}.
  static WSOLX_HD void acc_add(Acc& a, int32_t packed, const int32_t* delta) {
#ifdef WSOLX_BOXES_SSE2
    __m128i* counts = reinterpret_cast<__m128i*>(&a.size);
    _mm_store_si128(counts, _mm_add_epi32(_mm_load_si128(counts), _mm_load_si128(reinterpret_cast<const __m128i*>(delta))));
    const __m128i v = _mm_cvtsi32_si128(packed);  // int16 lanes x, y
    __m128i* box = reinterpret_cast<__m128i*>(&a.x0);
    _mm_storel_epi64(box, _mm_min_epi16(_mm_loadl_epi64(box), _mm_unpacklo_epi32(v, _mm_sub_epi16(_mm_setzero_si128(), v))));
#else
    const int x = packed & 0xFFFF, y = packed >> 16;
    a.size += delta[0];
    a.area2 += delta[1];
    a.euler4 += delta[2];
    a.perim += delta[3];
    a.x0 = x < a.x0 ? static_cast<int16_t>(x) : a.x0;
    a.y0 = y < a.y0 ? static_cast<int16_t>(y) : a.y0;
    a.nx1 = -x < a.nx1 ? static_cast<int16_t>(-x) : a.nx1;
    a.ny1 = -y < a.ny1 ? static_cast<int16_t>(-y) : a.ny1;
#endif
    a.first = packed < a.first ? packed : a.first;
  }

  // Moves what root r gathered in its accumulators into its record.
  WSOLX_HD void fold(int32_t r) {
    Component& c = comp_[r];
    Acc& a = acc_[r];
    if (a.size == 0) return;
    c.size += a.size;
    c.area2 += a.area2;
    c.euler4 += a.euler4;
    c.perim += a.perim;
    c.x0 = a.x0 < c.x0 ? a.x0 : c.x0;
    c.y0 = a.y0 < c.y0 ? a.y0 : c.y0;
    c.x1 = -a.nx1 > c.x1 ? static_cast<int16_t>(-a.nx1) : c.x1;
    c.y1 = -a.ny1 > c.y1 ? static_cast<int16_t>(-a.ny1) : c.y1;
    c.first = a.first < c.first ? a.first : c.first;
    acc_reset(a);
  }

  // A new component with id ++ncomp_ made of pixel (x, y) (packed = y << 16 | x).
  WSOLX_HD int32_t new_component(int32_t packed, int x, int y, int32_t euler4) {
    const int32_t id = ++ncomp_;
    cparent_[id] = id;
    cnext_[id] = 0;
    clast_[id] = id;
    fill_size_[id] = -1;
    Component& c = comp_[id];
    c.size = 1;
    c.first = packed;
    c.area2 = 0;
    c.euler4 = euler4;
    c.perim = 0;
    c.x0 = c.x1 = static_cast<int16_t>(x);
    c.y0 = c.y1 = static_cast<int16_t>(y);
    c.root_pos = nroots_;
    roots_[nroots_++] = id;
    acc_reset(acc_[id]);
    return id;
  }

  // Pixel (x, y) (packed = y << 16 | x) joins root r.
  WSOLX_HD void attach(int32_t r, int32_t packed, int x, int y) {
    Component& c = comp_[r];
    c.size += 1;
    c.first = packed < c.first ? packed : c.first;
    c.x0 = x < c.x0 ? static_cast<int16_t>(x) : c.x0;
    c.x1 = x > c.x1 ? static_cast<int16_t>(x) : c.x1;
    c.y0 = y < c.y0 ? static_cast<int16_t>(y) : c.y0;
    c.y1 = y > c.y1 ? static_cast<int16_t>(y) : c.y1;
  }

  // Merges two roots; the larger one survives and takes the statistics. Returns the survivor.
  WSOLX_HD int32_t merge(int32_t ra, int32_t rb) {
    if (ra == rb) return ra;
    fold(ra);
    fold(rb);
    if (comp_[ra].size < comp_[rb].size) {
      const int32_t t = ra;
      ra = rb;
      rb = t;
    }
    for (int32_t id = rb; id != 0; id = cnext_[id]) cparent_[id] = ra;
    cnext_[clast_[ra]] = rb;
    clast_[ra] = clast_[rb];
    Component& a = comp_[ra];
    const Component& b = comp_[rb];
    a.size += b.size;
    a.first = b.first < a.first ? b.first : a.first;
    a.x0 = b.x0 < a.x0 ? b.x0 : a.x0;
    a.y0 = b.y0 < a.y0 ? b.y0 : a.y0;
    a.x1 = b.x1 > a.x1 ? b.x1 : a.x1;
    a.y1 = b.y1 > a.y1 ? b.y1 : a.y1;
    a.area2 += b.area2;
    a.euler4 += b.euler4;
    a.perim += b.perim;
    // Drop rb from the list of live roots.
    const int32_t pos = b.root_pos;
    const int32_t last = roots_[--nroots_];
    roots_[pos] = last;
    comp_[last].root_pos = pos;
    return ra;
  }

  // Pixel (x, y) joins with `count` != 1 neighbouring runs: a new component or a union.
  WSOLX_NOINLINE WSOLX_HD int32_t join_general(int32_t pi, int32_t packed, int x, int y, int mask) {
    const int count = tables_.rep_count[mask];
    int32_t r;
    if (count == 0) {
      r = new_component(packed, x, y, 0);
    } else {
      r = find(label_[pi + ring_[tables_.reps[mask][0]]]);
      for (int k = 1; k < count; ++k) r = merge(r, find(label_[pi + ring_[tables_.reps[mask][k]]]));
      attach(r, packed, x, y);
    }
    const int32_t* delta = tables_.stat_delta[mask];  // size already counted by attach/new_component
    comp_[r].area2 += delta[1];
    comp_[r].euler4 += delta[2];
    comp_[r].perim += delta[3];
    return r;
  }

  // Background pixel (x, y) (packed = y << 16 | x) with `count` != 1 occupied 4-neighbours.
  // euler4 of a background component counts its pixels on the image border.
  WSOLX_NOINLINE WSOLX_HD int32_t join_background(int32_t pi, int32_t packed, int x, int y, int32_t border) {
    const int32_t offsets[4] = {-1, 1, -W2_, W2_};
    int32_t r = 0;
    for (int k = 0; k < 4; ++k) {
      if (!occ_[pi + offsets[k]]) continue;
      const int32_t rn = find(label_[pi + offsets[k]]);
      r = r == 0 ? rn : merge(r, rn);
    }
    if (r == 0) {
      r = new_component(packed, x, y, border);
    } else {
      attach(r, packed, x, y);
      comp_[r].euler4 += border;
    }
    return r;
  }

  // 2 x cv2.contourArea of the outer contour of component r with its holes filled: a scanline
  // flood fill of the outside inside the bbox grown by one pixel, then the window count. Cell
  // codes: 0 = free, 1 = pixel of the component, 2 = outside, 3 = queued. Every cell of the window
  // is written here first, so no state carries over between calls.
  WSOLX_HD int32_t filled_area2(int32_t r) {
    const Component& c = comp_[r];
    const int lw = c.x1 - c.x0 + 3, lh = c.y1 - c.y0 + 3;
    constexpr uint8_t kFree = 0, kMember = 1, kOutside = 2, kQueued = 3;
    uint8_t* const mark = reinterpret_cast<uint8_t*>(mark_);
    for (int lx = 0; lx < lw; ++lx) {
      mark[lx] = kOutside;
      mark[(lh - 1) * lw + lx] = kOutside;
    }
    // Membership of the interior cells, one find per run of equal labels.
    int32_t last_label = 0;
    uint8_t last_in = kFree;
    for (int ly = 1; ly < lh - 1; ++ly) {
      const int32_t* lab = label_ + (c.y0 + ly) * W2_ + c.x0;  // padded row of image row y0 + ly - 1
      const uint8_t* in = ivp_ + (c.y0 + ly) * W2_ + c.x0;
      uint8_t* m = mark + ly * lw;
      m[0] = m[lw - 1] = kOutside;
      for (int lx = 1; lx < lw - 1; ++lx) {
        const int32_t v = in[lx] >= cur_interval_ ? lab[lx] : 0;
        if (v != last_label) {
          last_label = v;
          last_in = v != 0 && find(v) == r ? kMember : kFree;
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
        stack_[top++] = (ly << 16) | lx;
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
      const int32_t cell = stack_[--top];
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

  // Sum of window_area2 over the (lw - 1) x (lh - 1) windows of a lw x lh cell grid, with every
  // cell except those equal to `outside` counted as inside.
  static WSOLX_HD int32_t window_area2_outside(const uint8_t* mark, int lw, int lh, uint8_t outside) {
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
        const int pattern = (m0[lx] != outside ? 1 : 0) | (m0[lx + 1] != outside ? 2 : 0) |
                            (m1[lx] != outside ? 4 : 0) | (m1[lx + 1] != outside ? 8 : 0);
        area2 += window_area2(pattern);
      }
    }
    return area2;
  }

  // Area bounds (2x units). Lower: the hole-less area, exact for a component without holes
  // (Euler number 1). Upper: filling adds at most 4 windows x 2 per filled pixel, and the filled
  // pixels number at most (a) the bbox cells outside the component and (b) (P / 4)^2, where P is
  // the perimeter minus 2 (w + h): every column (row) of the bbox gives the outside at least two
  // edges, and a filled region R needs at least 2 (w_R + h_R) >= 4 sqrt(|R|) edges of its own.
  // The outer polygon also lies inside the bbox of the pixel centres.
  WSOLX_HD int32_t upper_area2(int32_t r) const {
    const Component& c = comp_[r];
    if (c.euler4 == 4) return c.area2;
    const int64_t w = c.x1 - c.x0 + 1, h = c.y1 - c.y0 + 1;
    int64_t filled = w * h - c.size;
    const int64_t inner = c.perim - 2 * (w + h);
    const int64_t by_perim = inner > 0 ? inner * inner / 16 : 0;
    filled = by_perim < filled ? by_perim : filled;
    const int64_t by_holes = c.area2 + 8 * filled;
    const int64_t by_box = 2 * (w - 1) * (h - 1);
    return static_cast<int32_t>(by_holes < by_box ? by_holes : by_box);
  }

  // Exact 2x area of root r; the filled area is cached per root and valid while its size (which
  // grows with every pixel and merge) is unchanged.
  WSOLX_HD int32_t exact_area2(int32_t r) {
    const Component& c = comp_[r];
    if (c.euler4 == 4) return c.area2;
    if (fill_size_[r] != c.size) {
      fill_area_[r] = filled_area2(r);
      fill_size_[r] = c.size;
    }
    return fill_area_[r];
  }

  // Box of a contour whose boundary pixels span [x0, x1] x [y0, y1] (boundingRect: x0, y0,
  // width x1 - x0 + 1, height y1 - y0 + 1), under the protocol's or the paper's rule.
  WSOLX_HD void contour_box(int x0, int y0, int x1, int y1, int* b) const {
    b[0] = x0;
    b[1] = y0;
    b[2] = x1 + 1;
    b[3] = y1 + 1;
    if (!paper_) {
      b[2] = b[2] < W_ - 1 ? b[2] : W_ - 1;
      b[3] = b[3] < H_ - 1 ? b[3] : H_ - 1;
    }
  }

  // A contour of the level-`level` mask, for every threshold of that level (multi-box answer).
  WSOLX_HD void emit_levels(int level, int x0, int y0, int x1, int y1) {
    int b[4];
    contour_box(x0, y0, x1, y1, b);
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) emit_.box(jorder_[k], b[0], b[1], b[2], b[3]);
  }

  // The largest contour of the level-`level` mask (single-box answer).
  WSOLX_HD void emit_best(int level, int x0, int y0, int x1, int y1) {
    int b[4];
    contour_box(x0, y0, x1, y1, b);
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) emit_.best(jorder_[k], b[0], b[1], b[2], b[3]);
  }

  // An empty mask: [0, 0, 0, 0] (protocol) or the whole image [0, 0, W, H] (paper).
  WSOLX_HD void emit_empty(int level) {
    const int bw = paper_ ? W_ : 0, bh = paper_ ? H_ : 0;
    for (int32_t k = lstart_[level]; k < lstart_[level + 1]; ++k) {
      if (multi_) emit_.box(jorder_[k], 0, 0, bw, bh);
      if (single_) emit_.best(jorder_[k], 0, 0, bw, bh);
    }
  }

  WSOLX_HD void snapshot_foreground(int level) {
    if (nroots_ == 0) {
      emit_empty(level);
      return;
    }
    if (multi_) {
      bool holes = false;
      for (int32_t k = 0; k < nroots_; ++k) {
        const Component& c = comp_[roots_[k]];
        emit_levels(level, c.x0, c.y0, c.x1, c.y1);
        holes = holes || c.euler4 != 4;
      }
      if (holes && level > hole_level_) hole_level_ = level;
    }
    if (!single_) return;
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
    // best_lower stays a lower bound of the leader's exact area (its exact area once known).
    bool best_exact = false;
    for (int32_t k = 0; k < nroots_; ++k) {
      const int32_t r = roots_[k];
      if (r == best) continue;
      const int32_t first = comp_[r].first;
      const int32_t upper = upper_area2(r);
      if (upper < best_lower || (upper == best_lower && first < best_first)) continue;
      const int32_t a = exact_area2(r);
      if (a < best_lower || (a == best_lower && first < best_first)) continue;  // loses either way
      if (!best_exact) {
        best_lower = exact_area2(best);
        best_exact = true;
      }
      if (a > best_lower || (a == best_lower && first > best_first)) {
        best = r;
        best_lower = a;
        best_first = first;
      }
    }
    const Component& c = comp_[best];
    emit_best(level, c.x0, c.y0, c.x1, c.y1);
  }

  // Clears the occupancy (labels are read only where a pixel is occupied).
  WSOLX_HD void reset_pass() {
    const int64_t padded = static_cast<int64_t>(H_ + 2) * (W_ + 2);
#ifdef __CUDA_ARCH__
    for (int64_t i = 0; i < padded + 4; ++i) occ_[i] = 0;
#else
    __builtin_memset(occ_, 0, static_cast<size_t>(padded + 4));
#endif
    nroots_ = 0;
    ncomp_ = 0;
  }

  // Occupancy of three consecutive cells as bits 0..2. Byte loads on purpose: a wider load that
  // overlaps the byte just stored for the previous pixel cannot take it from the store buffer and
  // stalls until the store commits (measured: ~25% slower loop with one 32-bit load per row).
  static WSOLX_HD int occupied3(const uint8_t* o) { return o[0] | (o[1] << 1) | (o[2] << 2); }

  // ivp_: interval index of every pixel in the zero-padded image (interval 0, which is only
  // needed for the level-0 snapshot answered without pixels, and the padding are 0). code_: the
  // 3x3 occupancy mask a pixel sees when it joins in the foreground pass, which visits intervals
  // in decreasing order and, inside one, the column stripes from left to right, each in raster
  // order: a neighbour visited before it is occupied when its interval is >= the pixel's, a
  // neighbour visited after it when it is >.
  WSOLX_HD void build_codes() {
    const int W2 = W2_;
    const int64_t padded = static_cast<int64_t>(H_ + 2) * W2;
    for (int x = 0; x < W2; ++x) {
      ivp_[x] = 0;
      ivp_[padded - W2 + x] = 0;
    }
    for (int64_t i = padded; i < padded + 4; ++i) ivp_[i] = 0;
    for (int y = 0; y < H_; ++y) {
      uint8_t* row = ivp_ + static_cast<int64_t>(y + 1) * W2;
      row[0] = 0;
      row[W2 - 1] = 0;
    }
    for (int y = 0; y < H_; ++y) {
      const int64_t base = static_cast<int64_t>(y + 1) * W2 + 1;
      const uint8_t* c = ivp_ + base;
      uint16_t* out = code_ + base;
      int x = 0;
#ifdef WSOLX_BOXES_SSE2
      for (; x + 16 <= W_; x += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + x));
        auto ld = [&](int64_t off) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + x + off)); };
        // ge(n): n >= v  <=>  max(n, v) == n; gt(n): n > v  <=>  !(v >= n)
        auto ge = [&](__m128i n) { return _mm_cmpeq_epi8(_mm_max_epu8(n, v), n); };
        auto gt = [&](__m128i n) { return _mm_andnot_si128(_mm_cmpeq_epi8(_mm_max_epu8(n, v), v), _mm_set1_epi8(-1)); };
        const __m128i lo = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_and_si128(ge(ld(-W2 - 1)), _mm_set1_epi8(1)),
                                      _mm_and_si128(ge(ld(-W2)), _mm_set1_epi8(2))),
                         _mm_or_si128(_mm_and_si128(ge(ld(-W2 + 1)), _mm_set1_epi8(4)),
                                      _mm_and_si128(ge(ld(-1)), _mm_set1_epi8(8)))),
            _mm_or_si128(_mm_or_si128(_mm_and_si128(gt(ld(1)), _mm_set1_epi8(32)),
                                      _mm_and_si128(gt(ld(W2 - 1)), _mm_set1_epi8(64))),
                         _mm_and_si128(gt(ld(W2)), _mm_set1_epi8(static_cast<char>(128)))));
        const __m128i hi = _mm_and_si128(gt(ld(W2 + 1)), _mm_set1_epi8(1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), _mm_unpacklo_epi8(lo, hi));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x + 8), _mm_unpackhi_epi8(lo, hi));
      }
#endif
      for (; x < W_; ++x) {
        const int v = c[x];
        const int m = (c[x - W2 - 1] >= v) | ((c[x - W2] >= v) << 1) | ((c[x - W2 + 1] >= v) << 2) |
                      ((c[x - 1] >= v) << 3) | ((c[x + 1] > v) << 5) | ((c[x + W2 - 1] > v) << 6) |
                      ((c[x + W2] > v) << 7) | ((c[x + W2 + 1] > v) << 8);
        out[x] = static_cast<uint16_t>(m);
      }
      // Stripe edges: the stripe to the left comes first, the one to the right later, whatever
      // the row (so SW at a left edge comes before, NE at a right edge after).
      for (int k = 1; k < kStripes && cw_ > 0; ++k) {
        const int xl = k * cw_, xr = k * cw_ - 1;
        const int vl = c[xl], vr = c[xr];
        out[xl] = static_cast<uint16_t>((out[xl] & ~(1 << 6)) | ((c[xl + W2 - 1] >= vl) << 6));
        out[xr] = static_cast<uint16_t>((out[xr] & ~(1 << 2)) | ((c[xr - W2 + 1] > vr) << 2));
      }
    }
  }

  // Intervals in decreasing order; after interval i the live components are those of q >= cut_[i].
  WSOLX_HD void foreground_pass(const int32_t* start, int ncut, int lmin) {
    nroots_ = 0;
    ncomp_ = 0;
    if (lstart_[kLevels + 1] > lstart_[kLevels]) emit_empty(kLevels);
    acc_reset(acc_[0]);
    // Padded-image offset of the first neighbouring run's representative, per neighbour mask.
    for (int m = 0; m < 512; ++m) {
      rep_offset_[m] = ring_[tables_.reps[m][0]];
      rep_offset2_[m] = ring_[tables_.reps[m][tables_.rep_count[m] > 1 ? 1 : 0]];
      fast_[m] = tables_.rep_count[m] == 1 || tables_.rep_count[m] == 2;
    }
    // Locals, so that the per-pixel loop keeps them in registers.
    const uint32_t* const label_ro = reinterpret_cast<const uint32_t*>(label_);
    uint32_t* const label = reinterpret_cast<uint32_t*>(label_);
    const uint32_t* const cparent = reinterpret_cast<const uint32_t*>(cparent_);
    const uint16_t* const code = code_;
    const int64_t* const off1 = rep_offset_;
    const int64_t* const off2 = rep_offset2_;
    const uint8_t* const fast = fast_;
    const int32_t(*const delta)[4] = tables_.stat_delta;
    HotDelta hot;
    for (int i = ncut - 1; i >= 1; --i) {
      const int v = cut_[i];
      cur_interval_ = i;
      const int64_t* e = order_ + start[i];
      const int64_t* const e_end = order_ + start[i + 1];
      for (; e != e_end; ++e) {
        const uint64_t entry = static_cast<uint64_t>(*e);
        const uint32_t pi = static_cast<uint32_t>(entry >> 32);  // index in the padded image
        const int32_t packed = static_cast<int32_t>(entry);
        const uint32_t mask = code[pi];
        if (fast[mask]) {  // one or two neighbouring runs: the common case
          const uint32_t* const lp = label_ro + pi;
          const uint32_t id = lp[off1[mask]];
          const uint32_t r = cparent[id];
          if (r == cparent[lp[off2[mask]]]) {  // ... of one component
            if (static_cast<int32_t>(r) != hot.r) {
              hot.flush_into(acc_[hot.r]);
              hot.r = static_cast<int32_t>(r);
            }
            hot.add(packed, delta[mask]);
            label[pi] = id;
            continue;
          }
        }
        hot.flush_into(acc_[hot.r]);
        hot.r = 0;
        label[pi] = static_cast<uint32_t>(join_general(static_cast<int32_t>(pi), packed, packed & 0xFFFF, packed >> 16, static_cast<int>(mask)));
      }
      if (lstart_[v + 1] > lstart_[v]) {
        hot.flush_into(acc_[hot.r]);
        for (int32_t k = 0; k < nroots_; ++k) fold(roots_[k]);
        snapshot_foreground(v);
      }
    }
    // Level 0: every pixel, one component covering the image without holes.
    if (lmin == 0) {
      if (multi_) emit_levels(0, 0, 0, W_ - 1, H_ - 1);
      if (single_) emit_best(0, 0, 0, W_ - 1, H_ - 1);
    }
  }

  // Holes at level L: background {q < L} components (4-connected) that avoid the image border.
  // Intervals in increasing order, up to the snapshot at level `limit`.
  WSOLX_HD void background_pass(const int32_t* start, int ncut, int limit) {
    reset_pass();
    int32_t* const label = label_;
    const int32_t* const cparent = cparent_;
    uint8_t* const occ = occ_;
    const int64_t* const order = order_;
    const int W2 = W2_, W = W_, H = H_;
    alignas(16) const int32_t step[2][4] = {{1, 0, 0, 0}, {1, 0, 1, 0}};  // size + 1; border pixels
    HotComponent hot;
    for (int i = 0; i < ncut && cut_[i] <= limit; ++i) {
      const int v = cut_[i];
      if (lstart_[v + 1] > lstart_[v]) {
        if (hot.r != 0) hot.flush(comp_[hot.r]);
        for (int32_t k = 0; k < nroots_; ++k) {
          const Component& c = comp_[roots_[k]];
          if (c.euler4) continue;
          emit_levels(v, c.x0 - 1, c.y0 - 1, c.x1 + 1, c.y1 + 1);
        }
      }
      if (cut_[i + 1] > limit) break;  // no snapshot left
      for (int32_t k = start[i]; k < start[i + 1]; ++k) {
        const int32_t packed = static_cast<int32_t>(order[k]);
        const int x = packed & 0xFFFF, y = packed >> 16;
        const int32_t pi = (y + 1) * W2 + x + 1;
        const int32_t offsets[4] = {-1, 1, -W2, W2};
        const int32_t border = (x == 0 || y == 0 || x == W - 1 || y == H - 1) ? 1 : 0;
        // Roots of the occupied 4-neighbours; the fast path when they are one component.
        int32_t r = 0;
        bool one = true;
        for (int j = 0; j < 4; ++j) {
          if (!occ[pi + offsets[j]]) continue;
          const int32_t rn = cparent[label[pi + offsets[j]]];  // the id -> root map is flat
          one = one && (r == 0 || rn == r);
          r = rn;
        }
        occ[pi] = 1;
        if (r != 0 && one) {
          if (r != hot.r) {
            if (hot.r != 0) hot.flush(comp_[hot.r]);
            hot.load(comp_[r], r);
          }
          hot.add(packed, step[border]);
        } else {
          if (hot.r != 0) hot.flush(comp_[hot.r]);
          r = join_background(pi, packed, x, y, border);
          hot.load(comp_[r], r);
        }
        label[pi] = r;
      }
    }
  }

  int H_, W_, W2_;
  int cw_;  // width of a column stripe (the last stripe also has the remaining columns)
  int64_t hw_;
  Emit& emit_;
  int32_t* jorder_;
  const RingTables& tables_;
  int32_t lstart_[kLevels + 2];
  int32_t cut_[kLevels + 1];
  int32_t ring_[8];
  int64_t rep_offset_[512];
  int64_t rep_offset2_[512];
  uint8_t fast_[512];
  Component* comp_;
  Acc* acc_;
  int32_t *cparent_, *roots_, *cnext_, *clast_, *fill_size_, *fill_area_, *label_, *mark_, *stack_;
  int64_t* order_;  // pixels by interval: padded index << 32 | y << 16 | x
  // Per cell of the zero-padded image: occ_ 0/1 (background pass, + 4 spare bytes), ivp_ the
  // pixel's interval (0 for interval 0 and the padding), code_ its foreground occupancy mask.
  uint8_t *q_, *occ_, *ivp_;
  uint16_t* code_;
  int32_t nroots_ = 0;
  int32_t ncomp_ = 0;
  int hole_level_ = -1;
  bool single_ = true, multi_ = false, paper_ = false;
  int cur_interval_ = 1;  // interval of the foreground pass's current snapshot  // highest needed level whose mask has a hole (multi-box mode)
};

}  // namespace boxes
}  // namespace wsolx
