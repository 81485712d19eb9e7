// CAM score map -> boxes at many thresholds in one pass (docs/semantics.md §4): the per-map driver.
//
// Shared by the CPU kernel (maps claimed one at a time by the threads) and the CUDA kernel (one
// map per thread), so both backends run the same arithmetic. Per map:
//   1. the raw (h, w) CAM is resized to (H, W) exactly as cv2.resize(float64, INTER_CUBIC), then
//      normalised and quantised in float64 as the protocol does (cubic_resize.h):
//      q = uint8((s - min) / max(s - min) * 255) (zeros if constant / NaN / infinite)
//   2. standard value P = max(q) or numpy-linear percentile of q (from a 256-bin histogram)
//   3. per threshold t: T = trunc(t * P), level L = clamp(T + 1, 0, 256), mask = q >= L
//      (levels.h: thresholds grouped by level; only the needed levels are snapshotted)
//   4. pixels are counting-sorted by level, column stripe by column stripe (levels.h)
//   5. the occupancy code every pixel sees when it joins, from one raster pass (occupancy.h)
//   6. foreground union-find in decreasing level order (8-connectivity): after each needed level
//      the live components are the components of that mask; a snapshot emits their boxes and the
//      largest contour's (contour_area.h). The level-0 mask (q >= 0) is the whole image: it is
//      answered without visiting pixels.
//   7. (multi-box) background union-find in increasing level order (4-connectivity): the live
//      background components that do not touch the image border are the holes. It stops at the
//      highest needed level whose components have holes (known from their Euler numbers).
//
// Union-find: pixels carry component ids in a zero-padded (H + 2) x (W + 2) label image (0 = not
// yet added); the id -> root map is kept flat (a merge relabels the smaller component's ids), so a
// pixel finds its root with one lookup and there is no find loop. Ids are few for CAM-like maps,
// so the union-find stays in the L1 cache.
#pragma once

#include "ops/boxes/common.h"
#include "ops/boxes/contour_area.h"
#include "ops/boxes/levels.h"
#include "ops/boxes/occupancy.h"
#include "ops/boxes/records.h"
#include "ops/boxes/tables.h"
#include "ops/boxes/workspace.h"

namespace wsolx {
namespace boxes {

// Processes one map. Emit must provide `best(j, x0, y0, x1, y1)` (the largest contour's box,
// called exactly once per threshold j when single-box answers are asked for) and
// `box(j, x0, y0, x1, y1)` (every contour's box, at least once per threshold j when multi-box
// answers are asked for).
//
// workspace: workspace_words(H, W) int32 words, 32-byte aligned; threshold_order: T int32;
// ring: RingTables::build(); strides: StrideTables::build(ring, W) for this W.
template <class Emit>
class MapBoxes {
 public:
  WSOLX_HD MapBoxes(int H, int W, int32_t* workspace, int32_t* threshold_order, const RingTables& ring,
                    const StrideTables& strides, Emit& emit)
      : height_(H),
        width_(W),
        stride_(W + 2),
        stripe_width_(W / kStripes),
        pixels_(static_cast<int64_t>(H) * W),
        emit_(emit),
        ring_(ring),
        strides_(strides) {
    const WorkspaceLayout layout(H, W);
    components_ = reinterpret_cast<Component*>(workspace + layout.components);
    pending_ = reinterpret_cast<Pending*>(workspace + layout.pending);
    root_of_ = workspace + layout.root_of;
    live_roots_ = workspace + layout.live_roots;
    next_id_ = workspace + layout.next_id;
    last_id_ = workspace + layout.last_id;
    filled_size_ = workspace + layout.filled_size;
    filled_area2_ = workspace + layout.filled_area2;
    pixel_order_ = reinterpret_cast<int64_t*>(workspace + layout.pixel_order);
    label_ = workspace + layout.label;
    uint8_t* const bytes = reinterpret_cast<uint8_t*>(workspace + layout.bytes);
    q_ = bytes + layout.q;
    occupied_ = bytes + layout.occupied;
    level_image_ = bytes + layout.level_image;
    neighbour_code_ = bytes + layout.neighbour_code;
    levels_.order = threshold_order;
  }

  // Step 1 for a raw (h, w) CAM of real type T: bicubic resize to (H, W) exactly as
  // cv2.resize(float64, INTER_CUBIC) (taps tx: W entries, ty: H entries, cubic::make_taps), then
  // float64 normalisation and quantisation into q (cubic::normalize_quantize, whose status it
  // returns). The float64 map and its row scratch live in the component and pending records'
  // area (8 (H W + 1) doubles), unused until run().
  template <class T>
  WSOLX_HD int quantize_cam(const T* cam, int64_t h, int64_t w, const cubic::Tap* tx, const cubic::Tap* ty,
                            bool normalize) {
    double* out = reinterpret_cast<double*>(components_);
    double* rows = out + pixels_;
    const cubic::MapStats st = cubic::resize_map(cam, h, w, height_, width_, tx, ty, rows, out);
    return cubic::normalize_quantize(out, pixels_, normalize, st, q_);
  }

  // Steps 2-7 on the quantised map (quantize_cam first). single: emit.best(j, box) once per
  // threshold (largest contour); multi: emit.box(j, box) for every contour (at least once per
  // threshold); both may be set (one pass for both answers). paper: the box rule of the paper's
  // code (far corner x0 + w, y0 + h without the clamp to W - 1, H - 1; no contour gives the
  // whole image [0, 0, W, H]) instead of the protocol's.
  WSOLX_HD void run(const double* thresholds, int T, double percentile, bool single, bool multi, bool paper) {
    single_ = single;
    multi_ = multi;
    paper_ = paper;
    // 2. Level histograms per column stripe; their sum gives the standard value.
    int32_t hist[kStripes][kLevels];
    stripe_histograms(q_, height_, width_, stripe_width_, hist);
    int32_t total[kLevels];
    for (int v = 0; v < kLevels; ++v) {
      total[v] = 0;
      for (int k = 0; k < kStripes; ++k) total[v] += hist[k][v];
    }
    const double standard = percentile_from_histogram(total, pixels_, percentile);
    // 3. Thresholds grouped by level.
    levels_.build(thresholds, T, standard);
    // 4. Pixels sorted by level.
    int32_t order_begin[kLevels + 1];
    sort_pixels_by_level(q_, height_, width_, stripe_width_, hist, pixel_order_, order_begin);
    // 5. The padded level image and the occupancy codes.
    build_codes(q_, level_image_, neighbour_code_, height_, width_, stripe_width_);
    // 6. Foreground pass: every snapshot's boxes.
    foreground_pass(order_begin);
    // 7. Holes exist only at levels where the components' Euler numbers say so (Euler number =
    // 1 - holes for each component), so the background pass stops at the highest such level.
    if (multi && hole_level_ >= 0)
      background_pass(order_begin, hole_level_ < levels_.highest ? hole_level_ : levels_.highest);
  }

 private:
  // ---- union-find over component ids -------------------------------------------------------

  // A new component with id ++num_ids_ made of pixel (x, y) (packed = y << 16 | x), counters 0
  // apart from its size.
  WSOLX_HD int32_t new_component(int32_t packed, int x, int y) {
    const int32_t id = ++num_ids_;
    root_of_[id] = id;
    next_id_[id] = 0;
    last_id_[id] = id;
    filled_size_[id] = -1;
    Component& c = components_[id];
    c.size = 1;
    c.first = packed;
    c.area2 = 0;
    c.euler4 = 0;
    c.perim = 0;
    c.x0 = c.x1 = static_cast<int16_t>(x);
    c.y0 = c.y1 = static_cast<int16_t>(y);
    c.root_pos = num_live_;
    live_roots_[num_live_++] = id;
    pending_[id].clear();
    return id;
  }

  // Merges two roots; the larger one survives and takes the statistics. Returns the survivor.
  WSOLX_HD int32_t merge(int32_t ra, int32_t rb) {
    if (ra == rb) return ra;
    fold(components_[ra], pending_[ra]);
    fold(components_[rb], pending_[rb]);
    if (components_[ra].size < components_[rb].size) {
      const int32_t t = ra;
      ra = rb;
      rb = t;
    }
    for (int32_t id = rb; id != 0; id = next_id_[id]) root_of_[id] = ra;
    next_id_[last_id_[ra]] = rb;
    last_id_[ra] = last_id_[rb];
    const Component& b = components_[rb];
    absorb(components_[ra], b);
    // Drop rb from the list of live roots.
    const int32_t pos = b.root_pos;
    const int32_t last = live_roots_[--num_live_];
    live_roots_[pos] = last;
    components_[last].root_pos = pos;
    return ra;
  }

  // Foreground pixel pi (padded index; packed = y << 16 | x) with occupancy code `code` whose
  // neighbours do not form one or two runs of one component: a new component or a union.
  WSOLX_NOINLINE WSOLX_HD int32_t join_general(int32_t pi, int32_t packed, int x, int y, int code) {
    const int count = ring_.rep_count[code];
    int32_t r;
    if (count == 0) {
      r = new_component(packed, x, y);
    } else {
      r = root_of_[label_[pi + strides_.ring[ring_.reps[code][0]]]];
      for (int k = 1; k < count; ++k) r = merge(r, root_of_[label_[pi + strides_.ring[ring_.reps[code][k]]]]);
      attach_pixel(components_[r], packed, x, y);
    }
    const int32_t* delta = ring_.stat_delta[code];  // size already counted above
    Component& c = components_[r];
    c.area2 += delta[1];
    c.euler4 += delta[2];
    c.perim += delta[3];
    return r;
  }

  // Background pixel pi (packed = y << 16 | x) whose occupied 4-neighbours are not one component.
  // border: 1 when the pixel lies on the image border.
  WSOLX_NOINLINE WSOLX_HD int32_t join_background(int32_t pi, int32_t packed, int x, int y, int32_t border) {
    const int32_t offsets[4] = {-1, 1, -stride_, stride_};
    int32_t r = 0;
    for (int k = 0; k < 4; ++k) {
      if (!occupied_[pi + offsets[k]]) continue;
      const int32_t rn = root_of_[label_[pi + offsets[k]]];
      r = r == 0 ? rn : merge(r, rn);
    }
    if (r == 0) {
      r = new_component(packed, x, y);
    } else {
      attach_pixel(components_[r], packed, x, y);
    }
    components_[r].border_pixels += border;
    return r;
  }

  // ---- areas and emission ------------------------------------------------------------------

  // Exact 2x area of root r. Filled areas are cached per root and valid while its size (which
  // grows with every pixel and merge) is unchanged: a large component with holes is otherwise
  // traced again at every snapshot.
  WSOLX_HD int32_t exact_area2(int32_t r) {
    const Component& c = components_[r];
    if (c.euler4 == 4) return c.area2;
    if (filled_size_[r] != c.size) {
      filled_area2_[r] = filled_area2(c, r, label_, level_image_, current_level_, root_of_, stride_);
      filled_size_[r] = c.size;
    }
    return filled_area2_[r];
  }

  // Box of a contour whose boundary pixels span [x0, x1] x [y0, y1] (boundingRect: x0, y0,
  // width x1 - x0 + 1, height y1 - y0 + 1), under the protocol's or the paper's rule.
  WSOLX_HD void contour_box(int x0, int y0, int x1, int y1, int* b) const {
    b[0] = x0;
    b[1] = y0;
    b[2] = x1 + 1;
    b[3] = y1 + 1;
    if (!paper_) {
      b[2] = b[2] < width_ - 1 ? b[2] : width_ - 1;
      b[3] = b[3] < height_ - 1 ? b[3] : height_ - 1;
    }
  }

  // A contour of the level-`level` mask, for every threshold of that level (multi-box answer).
  WSOLX_HD void emit_contour(int level, int x0, int y0, int x1, int y1) {
    int b[4];
    contour_box(x0, y0, x1, y1, b);
    for (int32_t k = levels_.begin[level]; k < levels_.begin[level + 1]; ++k)
      emit_.box(levels_.order[k], b[0], b[1], b[2], b[3]);
  }

  // The largest contour of the level-`level` mask (single-box answer).
  WSOLX_HD void emit_best(int level, int x0, int y0, int x1, int y1) {
    int b[4];
    contour_box(x0, y0, x1, y1, b);
    for (int32_t k = levels_.begin[level]; k < levels_.begin[level + 1]; ++k)
      emit_.best(levels_.order[k], b[0], b[1], b[2], b[3]);
  }

  // An empty mask: [0, 0, 0, 0] (protocol) or the whole image [0, 0, W, H] (paper).
  WSOLX_HD void emit_empty(int level) {
    const int bw = paper_ ? width_ : 0, bh = paper_ ? height_ : 0;
    for (int32_t k = levels_.begin[level]; k < levels_.begin[level + 1]; ++k) {
      if (multi_) emit_.box(levels_.order[k], 0, 0, bw, bh);
      if (single_) emit_.best(levels_.order[k], 0, 0, bw, bh);
    }
  }

  // The live components are those of the level-`level` mask (all records folded).
  WSOLX_HD void snapshot_foreground(int level) {
    if (num_live_ == 0) {
      emit_empty(level);
      return;
    }
    if (multi_) {
      bool holes = false;
      for (int32_t k = 0; k < num_live_; ++k) {
        const Component& c = components_[live_roots_[k]];
        emit_contour(level, c.x0, c.y0, c.x1, c.y1);
        holes = holes || c.euler4 != 4;
      }
      if (holes && level > hole_level_) hole_level_ = level;
    }
    if (!single_) return;
    // Largest area; ties go to the later raster-first pixel. Exact areas are computed only when
    // another component's upper bound reaches the leader's lower bound, and the leader's own filled area
    // only when a rival's exact area reaches it.
    int32_t best = -1, best_lower = -1, best_first = -1;
    for (int32_t k = 0; k < num_live_; ++k) {
      const Component& c = components_[live_roots_[k]];
      if (c.area2 > best_lower || (c.area2 == best_lower && c.first > best_first)) {
        best = live_roots_[k];
        best_lower = c.area2;
        best_first = c.first;
      }
    }
    // best_lower stays a lower bound of the leader's exact area (its exact area once known).
    bool best_exact = false;
    for (int32_t k = 0; k < num_live_; ++k) {
      const int32_t r = live_roots_[k];
      if (r == best) continue;
      const int32_t first = components_[r].first;
      const int32_t upper = upper_area2(components_[r]);
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
    const Component& c = components_[best];
    emit_best(level, c.x0, c.y0, c.x1, c.y1);
  }

  // ---- the two passes ----------------------------------------------------------------------

  // Step 6. Levels in decreasing order, from 255 down to the lowest needed level above 0; after
  // level v the live components are those of q >= v. A pixel's occupancy code indexes the step of
  // its component's statistics and the representatives of its at most two neighbouring runs. While
  // one component is live (43% of the visited pixels of benchmarks/e2e_boxes.py's maps), every pixel
  // with an occupied neighbour joins it with no label or root read. Otherwise the fast path (almost
  // every other pixel): the representatives have one root (one run needs no second lookup); the
  // pixel's steps go to a register accumulator of that root (Stats4), moved into the root's Pending
  // record only when the root changes. Everything else (new component, union, three or more runs)
  // goes through join_general. Tried and dropped (slower or equal): software prefetch of codes and
  // labels, code and label in one 32-bit word, keeping the register accumulator on a miss, a second
  // register accumulator for the previous root, skipping the root lookup when the neighbours carry
  // the accumulator's id (more mispredicted branches), 16-bit labels, 6, 12 or 16 stripes.
  WSOLX_HD void foreground_pass(const int32_t* order_begin) {
    num_live_ = 0;
    num_ids_ = 0;
    if (levels_.needed(kLevels)) emit_empty(kLevels);
    pending_[0].clear();  // target of the register accumulator before it has a root
    // Locals, so that the per-pixel loop keeps them in registers.
    const uint32_t* const label_ro = reinterpret_cast<const uint32_t*>(label_);
    uint32_t* const label = reinterpret_cast<uint32_t*>(label_);
    const uint32_t* const root_of = reinterpret_cast<const uint32_t*>(root_of_);
    const uint8_t* const code = neighbour_code_;
    const int64_t* const first_rep = strides_.first_rep;
    const int64_t* const second_rep = strides_.second_rep;
    const uint8_t* const fast = strides_.runs;
    const int32_t (*const delta)[4] = ring_.stat_delta;
    int32_t hot_root = 0;  // root of the register accumulator, 0 = none
    Stats4 hot;
    hot.clear();
    for (int v = kLevels - 1; v >= levels_.lowest_cut; --v) {
      current_level_ = v;
      const int64_t* e = pixel_order_ + order_begin[v];
      const int64_t* const e_end = pixel_order_ + order_begin[v + 1];
      for (; e != e_end; ++e) {
        if (num_live_ == 1) {
          // One live component: every occupied neighbour belongs to it, so a pixel with any
          // occupied neighbour joins it without reading labels or roots. A pixel with none (a new
          // component) leaves this loop for the general step below.
          const int32_t sole = live_roots_[0];
          if (sole != hot_root) {
            hot.move_into(pending_[hot_root]);
            hot_root = sole;
          }
          for (; e != e_end; ++e) {
            const uint64_t entry = static_cast<uint64_t>(*e);
            const uint32_t pi = static_cast<uint32_t>(entry >> 32);
            const uint32_t mask = code[pi];
            if (mask == 0) break;
            hot.add(static_cast<int32_t>(entry), delta[mask]);
            label[pi] = static_cast<uint32_t>(sole);
          }
          if (e == e_end) break;
        }
        const uint64_t entry = static_cast<uint64_t>(*e);
        const uint32_t pi = static_cast<uint32_t>(entry >> 32);  // index in the padded image
        const int32_t packed = static_cast<int32_t>(entry);
        const uint32_t mask = code[pi];
        const uint32_t runs = fast[mask];
        if (runs) {
          const uint32_t* const lp = label_ro + pi;
          const uint32_t id = lp[first_rep[mask]];
          const uint32_t r = root_of[id];
          if (runs == 1 || r == root_of[lp[second_rep[mask]]]) {
            if (static_cast<int32_t>(r) != hot_root) {
              hot.move_into(pending_[hot_root]);
              hot_root = static_cast<int32_t>(r);
            }
            hot.add(packed, delta[mask]);
            label[pi] = id;
            continue;
          }
        }
        hot.move_into(pending_[hot_root]);
        hot_root = 0;
        label[pi] = static_cast<uint32_t>(
            join_general(static_cast<int32_t>(pi), packed, packed & 0xFFFF, packed >> 16, static_cast<int>(mask)));
      }
      if (levels_.needed(v)) {
        hot.move_into(pending_[hot_root]);
        for (int32_t k = 0; k < num_live_; ++k) fold(components_[live_roots_[k]], pending_[live_roots_[k]]);
        snapshot_foreground(v);
      }
    }
    // Level 0: every pixel, one component covering the image without holes.
    if (levels_.lowest == 0) {
      if (multi_) emit_contour(0, 0, 0, width_ - 1, height_ - 1);
      if (single_) emit_best(0, 0, 0, width_ - 1, height_ - 1);
    }
  }

  // Step 7. Holes at level L: background {q < L} components (4-connected) that avoid the image
  // border. Levels in increasing order, up to the snapshot at level `limit`. Each component's
  // third counter is its number of border pixels. Register accumulator as in the foreground
  // pass, but loaded from and stored to the Component record (the pass is rare and short).
  WSOLX_HD void background_pass(const int32_t* order_begin, int limit) {
    // Clear the occupancy (labels are read only where a pixel is occupied).
    const int64_t padded = static_cast<int64_t>(height_ + 2) * stride_;
#ifdef __CUDA_ARCH__
    for (int64_t i = 0; i < padded + 4; ++i) occupied_[i] = 0;
#else
    __builtin_memset(occupied_, 0, static_cast<size_t>(padded + 4));
#endif
    num_live_ = 0;
    num_ids_ = 0;
    int32_t* const label = label_;
    const int32_t* const root_of = root_of_;
    uint8_t* const occ = occupied_;
    const int64_t* const order = pixel_order_;
    const int W2 = stride_, W = width_, H = height_;
    alignas(16) const int32_t step[2][4] = {{1, 0, 0, 0}, {1, 0, 1, 0}};  // size + 1; border pixels + 1
    int32_t hot_root = 0;                                                 // root loaded into `hot`, 0 = none
    Stats4 hot;
    hot.clear();
    for (int v = 0; v <= limit; ++v) {
      if (levels_.needed(v)) {
        if (hot_root != 0) hot.store(components_[hot_root]);
        for (int32_t k = 0; k < num_live_; ++k) {
          const Component& c = components_[live_roots_[k]];
          if (c.border_pixels != 0) continue;
          emit_contour(v, c.x0 - 1, c.y0 - 1, c.x1 + 1, c.y1 + 1);
        }
      }
      if (v == limit) break;  // no snapshot left
      for (int32_t k = order_begin[v]; k < order_begin[v + 1]; ++k) {
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
          const int32_t rn = root_of[label[pi + offsets[j]]];
          one = one && (r == 0 || rn == r);
          r = rn;
        }
        occ[pi] = 1;
        if (r != 0 && one) {
          if (r != hot_root) {
            if (hot_root != 0) hot.store(components_[hot_root]);
            hot.load(components_[r]);
            hot_root = r;
          }
          hot.add(packed, step[border]);
        } else {
          if (hot_root != 0) hot.store(components_[hot_root]);
          r = join_background(pi, packed, x, y, border);
          hot.load(components_[r]);
          hot_root = r;
        }
        label[pi] = r;
      }
    }
  }

  // Sizes.
  int height_, width_;
  int stride_;        // row stride of the padded images, W + 2
  int stripe_width_;  // width of a column stripe (the last stripe also has the remaining columns)
  int64_t pixels_;    // H * W
  Emit& emit_;
  const RingTables& ring_;
  const StrideTables& strides_;
  // Thresholds of the current map, by level.
  LevelThresholds levels_;
  // Workspace arrays (WorkspaceLayout describes each).
  Component* components_;
  Pending* pending_;
  int32_t *root_of_, *live_roots_, *next_id_, *last_id_, *filled_size_, *filled_area2_;
  int64_t* pixel_order_;
  int32_t* label_;
  uint8_t *q_, *occupied_, *level_image_;
  uint8_t* neighbour_code_;
  // Union-find state.
  int32_t num_live_ = 0;  // live roots
  int32_t num_ids_ = 0;   // ids handed out
  // Answers.
  bool single_ = true, multi_ = false, paper_ = false;
  int hole_level_ = -1;    // highest needed level whose mask has a hole (multi-box mode)
  int current_level_ = 1;  // level of the foreground pass's current snapshot
};

}  // namespace boxes
}  // namespace wsolx
