// The per-map workspace: one layout, used both for its size and for the pointers into it.
#pragma once

#include "ops/boxes/common.h"

namespace wsolx {
namespace boxes {

// Offsets into the int32 workspace of one H x W map. Component ids run from 1 to H * W (at most one
// per pixel); id 0 is "none" (its Pending record is the scratch target of an empty register
// accumulator). The workspace is left uninitialised: a map reads only what it wrote first.
struct WorkspaceLayout {
  // In int32 words from the start of the workspace.
  int64_t components;  // Component per id (8 words; first, so 32-byte aligned when the workspace is)
  int64_t pending;     // Pending per id (8 words)
  int64_t root_of;     // id -> root, kept flat: a merge relabels the smaller component's ids
  int64_t live_roots;  // the live roots, in any order
  int64_t next_id;     // ids of a root as a linked list (next_id, last_id), for the relabelling
  int64_t last_id;
  int64_t filled_size;   // size of the root when its filled area was cached (-1: never)
  int64_t filled_area2;  // 2 x area of the root with its holes filled
  int64_t pixel_order;   // int64 per pixel: pixels by level (sort_pixels_by_level)
  int64_t label;         // padded (H + 2) x (W + 2): component id of each pixel (valid once occupied)
  int64_t bytes;         // start of the byte arrays below
  // In bytes from `bytes`.
  int64_t q;               // H x W quantised map
  int64_t occupied;        // padded + 4: 0/1 per cell (background pass)
  int64_t level_image;     // padded + 4: q with a zero border (build_codes)
  int64_t neighbour_code;  // padded + 16: occupancy code of each pixel (foreground pass)
  // Total int32 words.
  int64_t words;

  WSOLX_HD WorkspaceLayout(int64_t H, int64_t W) {
    const int64_t hw = H * W, padded = (H + 2) * (W + 2), ids = hw + 1;
    int64_t at = 0;
    auto take = [&at](int64_t n) {
      const int64_t o = at;
      at += n;
      return o;
    };
    components = take(8 * ids);
    pending = take(8 * ids);
    root_of = take(ids);
    live_roots = take(ids);
    next_id = take(ids);
    last_id = take(ids);
    filled_size = take(ids);
    filled_area2 = take(ids);
    pixel_order = take(2 * hw);
    label = take(padded);
    bytes = at;
    at = 0;
    q = take((hw + 3) / 4 * 4);
    occupied = take((padded + 4 + 3) / 4 * 4);
    level_image = take((padded + 4 + 3) / 4 * 4);
    neighbour_code = take((padded + 16 + 3) / 4 * 4);
    words = bytes + at / 4 + 8 /*slack*/;
  }
};

// Number of int32 words of workspace one map of size H x W needs.
WSOLX_HD inline int64_t workspace_words(int64_t H, int64_t W) { return WorkspaceLayout(H, W).words; }

}  // namespace boxes
}  // namespace wsolx
