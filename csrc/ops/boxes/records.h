// Component statistics: the root record, the per-root pending sums, and the register value type
// the per-pixel loops accumulate into.
#pragma once

#include "ops/boxes/common.h"

namespace wsolx {
namespace boxes {

// Statistics of a union-find root: one 32-byte record, so a union touches one cache line. The
// first four lanes are the four counters of Stats4 (one 128-bit load / store).
struct Component {
  int32_t size;
  int32_t area2;            // 2 x contour area without hole filling (foreground pass)
  union {                   // the third counter means one thing per pass
    int32_t euler4;         // foreground pass: 4 x Euler number (4: no holes)
    int32_t border_pixels;  // background pass: pixels on the image border (0: the component is a hole)
  };
  int32_t perim;  // pixel edges between the component and other pixels (foreground pass)
  int16_t x0, y0, x1, y1;
  int32_t first;     // first pixel in raster order, as y << 16 | x
  int32_t root_pos;  // position in the list of live roots
};

// What a root gathered since its last fold, in memory: the register accumulator of the
// foreground pass is added here when the pass moves on to another root, and the sum is folded
// into the Component at the next snapshot or merge. Keeping this apart from the Component means
// a switch of roots only stores (adds into a record nobody waits on) and never loads the
// statistics back into registers. Maxima are stored negated so that every box lane is a minimum.
struct Pending {
  int32_t size, area2, euler4, perim;
  int16_t x0, y0, nx1, ny1;
  int32_t first;
  int32_t pad;

  WSOLX_HD void clear() {
    size = area2 = euler4 = perim = 0;
    x0 = y0 = nx1 = ny1 = 32767;
    first = 0x7FFFFFFF;
  }
};

// Four int32 counters {size, area2, euler4 or border pixels, perimeter}, four int16 box minima
// {x0, y0, -x1, -y1} and the raster-first pixel: the statistics of a component (or of what pixels
// add to one) held in registers while consecutive pixels join the same component. Updating a
// record in memory per pixel would chain every pixel to the previous one through
// store-to-load forwarding (measured: 4 to 16 interleaved memory accumulators per root were
// slower than this register copy).
struct Stats4 {
#ifdef WSOLX_BOXES_SSE2
  __m128i counts;  // int32 lanes
  __m128i box;     // int16 lanes 0-3 (lanes 4-7 unused)
#else
  int32_t counts[4];
  int32_t box[4];
#endif
  int32_t first;

  // Nothing added yet: counters 0, minima at their largest.
  WSOLX_HD void clear() {
#ifdef WSOLX_BOXES_SSE2
    counts = _mm_setzero_si128();
    box = _mm_set1_epi16(32767);
#else
    for (int k = 0; k < 4; ++k) {
      counts[k] = 0;
      box[k] = 32767;
    }
#endif
    first = 0x7FFFFFFF;
  }

  // Pixel packed = y << 16 | x joins; delta = {size, area2, euler4 or border, perimeter} steps.
  WSOLX_HD void add(int32_t packed, const int32_t* delta) {
#ifdef WSOLX_BOXES_SSE2
    const __m128i v = _mm_cvtsi32_si128(packed);  // int16 lanes x, y
    box = _mm_min_epi16(box, _mm_unpacklo_epi32(v, _mm_sub_epi16(_mm_setzero_si128(), v)));
    counts = _mm_add_epi32(counts, _mm_load_si128(reinterpret_cast<const __m128i*>(delta)));
#else
    const int x = packed & 0xFFFF, y = packed >> 16;
    box[0] = x < box[0] ? x : box[0];
    box[1] = y < box[1] ? y : box[1];
    box[2] = -x < box[2] ? -x : box[2];
    box[3] = -y < box[3] ? -y : box[3];
    for (int k = 0; k < 4; ++k) counts[k] += delta[k];
#endif
    first = packed < first ? packed : first;
  }

  // The statistics of a Component record, to continue adding pixels to it.
  WSOLX_HD void load(const Component& c) {
#ifdef WSOLX_BOXES_SSE2
    counts = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&c.size));
    box = _mm_set_epi16(0, 0, 0, 0, static_cast<int16_t>(-c.y1), static_cast<int16_t>(-c.x1), c.y0, c.x0);
#else
    counts[0] = c.size;
    counts[1] = c.area2;
    counts[2] = c.euler4;
    counts[3] = c.perim;
    box[0] = c.x0;
    box[1] = c.y0;
    box[2] = -c.x1;
    box[3] = -c.y1;
#endif
    first = c.first;
  }

  // Writes the statistics back into the Component record they were loaded from.
  WSOLX_HD void store(Component& c) const {
#ifdef WSOLX_BOXES_SSE2
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&c.size), counts);
    c.x0 = static_cast<int16_t>(_mm_extract_epi16(box, 0));
    c.y0 = static_cast<int16_t>(_mm_extract_epi16(box, 1));
    c.x1 = static_cast<int16_t>(-static_cast<int16_t>(_mm_extract_epi16(box, 2)));
    c.y1 = static_cast<int16_t>(-static_cast<int16_t>(_mm_extract_epi16(box, 3)));
#else
    c.size = counts[0];
    c.area2 = counts[1];
    c.euler4 = counts[2];
    c.perim = counts[3];
    c.x0 = static_cast<int16_t>(box[0]);
    c.y0 = static_cast<int16_t>(box[1]);
    c.x1 = static_cast<int16_t>(-box[2]);
    c.y1 = static_cast<int16_t>(-box[3]);
#endif
    c.first = first;
  }

  // Adds these sums into a root's Pending record (16-byte aligned) and clears them.
  WSOLX_HD void move_into(Pending& p) {
#ifdef WSOLX_BOXES_SSE2
    __m128i* c = reinterpret_cast<__m128i*>(&p.size);
    _mm_store_si128(c, _mm_add_epi32(_mm_load_si128(c), counts));
    __m128i* b = reinterpret_cast<__m128i*>(&p.x0);
    _mm_storel_epi64(b, _mm_min_epi16(_mm_loadl_epi64(b), box));
#else
    p.size += counts[0];
    p.area2 += counts[1];
    p.euler4 += counts[2];
    p.perim += counts[3];
    p.x0 = box[0] < p.x0 ? static_cast<int16_t>(box[0]) : p.x0;
    p.y0 = box[1] < p.y0 ? static_cast<int16_t>(box[1]) : p.y0;
    p.nx1 = box[2] < p.nx1 ? static_cast<int16_t>(box[2]) : p.nx1;
    p.ny1 = box[3] < p.ny1 ? static_cast<int16_t>(box[3]) : p.ny1;
#endif
    p.first = first < p.first ? first : p.first;
    clear();
  }
};

// Adds root r's Pending sums into its Component record and clears them.
WSOLX_HD inline void fold(Component& c, Pending& p) {
  if (p.size == 0) return;
  c.size += p.size;
  c.area2 += p.area2;
  c.euler4 += p.euler4;
  c.perim += p.perim;
  c.x0 = p.x0 < c.x0 ? p.x0 : c.x0;
  c.y0 = p.y0 < c.y0 ? p.y0 : c.y0;
  c.x1 = -p.nx1 > c.x1 ? static_cast<int16_t>(-p.nx1) : c.x1;
  c.y1 = -p.ny1 > c.y1 ? static_cast<int16_t>(-p.ny1) : c.y1;
  c.first = p.first < c.first ? p.first : c.first;
  p.clear();
}

// Pixel (x, y) (packed = y << 16 | x) is added to c's size, box and first pixel.
WSOLX_HD inline void attach_pixel(Component& c, int32_t packed, int x, int y) {
  c.size += 1;
  c.first = packed < c.first ? packed : c.first;
  c.x0 = x < c.x0 ? static_cast<int16_t>(x) : c.x0;
  c.x1 = x > c.x1 ? static_cast<int16_t>(x) : c.x1;
  c.y0 = y < c.y0 ? static_cast<int16_t>(y) : c.y0;
  c.y1 = y > c.y1 ? static_cast<int16_t>(y) : c.y1;
}

// Component b's statistics are added to a's (a union).
WSOLX_HD inline void absorb(Component& a, const Component& b) {
  a.size += b.size;
  a.first = b.first < a.first ? b.first : a.first;
  a.x0 = b.x0 < a.x0 ? b.x0 : a.x0;
  a.y0 = b.y0 < a.y0 ? b.y0 : a.y0;
  a.x1 = b.x1 > a.x1 ? b.x1 : a.x1;
  a.y1 = b.y1 > a.y1 ? b.y1 : a.y1;
  a.area2 += b.area2;
  a.euler4 += b.euler4;
  a.perim += b.perim;
}

}  // namespace boxes
}  // namespace wsolx
