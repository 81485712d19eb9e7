// Lookup tables indexed by the 3x3 occupancy code of a joining pixel: what the pixel adds to its
// component's statistics, and where its neighbouring runs' representatives are.
#pragma once

#include "ops/boxes/common.h"

namespace wsolx {
namespace boxes {

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

// Tables over the occupancy of the 8 neighbours, independent of the image size (built once per
// process). The index is the occupancy code: bit i set when ring cell i is occupied, the ring
// cells in circular order NW, N, NE, E, SE, S, SW, W. The tables give the area/Euler change when
// the centre pixel joins, and one representative per run of consecutive occupied ring cells, as
// ring positions (consecutive ring cells are 8-adjacent, so each run already is one component and
// needs one union).
struct RingTables {
  uint8_t reps[256][4];
  uint8_t rep_count[256];
  // {1, area2 step, euler4 step, perimeter step}: what a pixel joining adds to its component.
  alignas(16) int32_t stat_delta[256][4];

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
      stat_delta[nb][0] = 1;
      stat_delta[nb][1] = da;
      stat_delta[nb][2] = de;
      // the 4-neighbours are the ring cells N, E, S, W (bits 1, 3, 5, 7)
      const int n4 = ((nb >> 1) & 1) + ((nb >> 3) & 1) + ((nb >> 5) & 1) + ((nb >> 7) & 1);
      stat_delta[nb][3] = 4 - 2 * n4;  // new edges minus the edges to the 4-neighbours
      for (int k = 0; k < 4; ++k) reps[nb][k] = 0;
      int count = 0;
      if (nb == 255) {
        reps[nb][count++] = 0;
      } else {
        for (int i = 0; i < 8; ++i)
          if (((nb >> i) & 1) && !((nb >> ((i + 7) & 7)) & 1))
            reps[nb][count++] = static_cast<uint8_t>(i == 7 && (nb & 1) ? 0 : i);
      }
      rep_count[nb] = static_cast<uint8_t>(count);
    }
  }
};

// Tables that depend on the padded image's row stride W + 2, so one per call (all maps of a call
// share their size), built on the host and shared by every map; on the device this keeps ~8.5 KB
// out of each thread's stack frame. The representative offsets are 64-bit and the pixel ids
// unsigned so that the foreground loop indexes with them directly (measured: ~6% faster loop).
struct StrideTables {
  int32_t stride;   // W + 2
  int32_t ring[8];  // padded-image offsets of the ring cells NW, N, NE, E, SE, S, SW, W
  // Offset of the first neighbouring run's representative, and of the second's (the first's
  // again when there is one run), per occupancy code.
  int64_t first_rep[256];
  int64_t second_rep[256];
  uint8_t runs[256];  // the number of runs when it is 1 or 2 (the foreground pass's fast path), else 0

  WSOLX_HD void build(const RingTables& t, int W) {
    const int W2 = W + 2;
    stride = W2;
    const int offsets[8] = {-W2 - 1, -W2, -W2 + 1, 1, W2 + 1, W2, W2 - 1, -1};
    for (int i = 0; i < 8; ++i) ring[i] = offsets[i];
    for (int m = 0; m < 256; ++m) {
      first_rep[m] = ring[t.reps[m][0]];
      second_rep[m] = ring[t.reps[m][t.rep_count[m] > 1 ? 1 : 0]];
      runs[m] = t.rep_count[m] == 1 || t.rep_count[m] == 2 ? t.rep_count[m] : 0;
    }
  }
};

}  // namespace boxes
}  // namespace wsolx
