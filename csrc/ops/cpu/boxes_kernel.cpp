// Raw CAM -> boxes on the CPU: one map per task, at::parallel_for (OpenMP) over maps, one
// workspace per worker. Each worker resizes, normalises and quantises its own map (no (N, H, W)
// intermediate), then runs the box algorithm of csrc/ops/boxes/.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ops/boxes.h"
#include "ops/boxes/map_boxes.h"
#include "ops/cubic_resize.h"

namespace wsolx {
namespace ops {
namespace {

using Groups = std::vector<std::vector<std::array<int32_t, 4>>>;  // per threshold of one map

// Receives the boxes of one map: the largest contour's (single) and / or every contour's (multi).
struct CpuEmit {
  int64_t* single;  // (T, 4) of this map, or null
  Groups* groups;   // or null
  void best(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = single + 4 * static_cast<int64_t>(j);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
  void box(int j, int x0, int y0, int x1, int y1) { (*groups)[j].push_back({x0, y0, x1, y1}); }
};

const boxes::RingTables& ring_tables() {
  static const boxes::RingTables tables = [] {
    boxes::RingTables t;
    t.build();
    return t;
  }();
  return tables;
}

// Workspaces up to this size stay with their thread between calls. A fresh allocation of a few
// megabytes per call goes back to the system when it is freed, so every call would pay the page
// faults of touching it again (224x224 maps, 2 threads: ~0.17 instead of ~0.13 ms per map).
constexpr size_t kKeptWorkspaceBytes = size_t{64} << 20;

// An int32 buffer of at least `words` words, 32-byte aligned, owned by the calling thread: kept
// for the thread's next call when it is small enough, else freed when `scratch` is destroyed.
int32_t* thread_workspace(size_t words, std::unique_ptr<int32_t[]>& scratch) {
  thread_local std::unique_ptr<int32_t[]> kept;
  thread_local size_t kept_words = 0;
  int32_t* base;
  if (words * sizeof(int32_t) <= kKeptWorkspaceBytes) {
    if (kept_words < words) {
      kept.reset();  // free the smaller buffer first
      kept.reset(new int32_t[words + 8]);
      kept_words = words;
    }
    base = kept.get();
  } else {
    scratch.reset(new int32_t[words + 8]);
    base = scratch.get();
  }
  while (reinterpret_cast<uintptr_t>(base) % 32 != 0) ++base;
  return base;
}

// Runs body(n, workspace, jorder) for every map. Threads claim maps one at a time from a shared
// counter, so a slow core or a costly map does not hold up a static share of the batch. The
// workspace is left uninitialised: a map touches only what it writes first.
template <class Body>
void for_each_map(int64_t N, int64_t H, int64_t W, int64_t T, const Body& body) {
  if (N == 0) return;
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), N);
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    std::unique_ptr<int32_t[]> scratch;
    int32_t* const ws = thread_workspace(static_cast<size_t>(boxes::workspace_words(H, W)), scratch);
    std::unique_ptr<int32_t[]> jorder(new int32_t[static_cast<size_t>(T)]);
    for (int64_t w = begin; w < end; ++w) {
      for (int64_t n = next.fetch_add(1); n < N; n = next.fetch_add(1)) body(n, ws, jorder.get());
    }
  });
}

struct Outputs {
  at::Tensor single;  // (N, T, 4) or undefined
  at::Tensor boxes;   // (M, 4) or undefined
  at::Tensor counts;  // (N, T) or undefined
};

Outputs run_cpu(const at::Tensor& cams_in, const at::Tensor& thresholds_in, int64_t height, int64_t width,
                double percentile, bool normalize, const std::string& box_rule, bool single, bool multi) {
  check_cam_boxes_input(cams_in, thresholds_in, height, width, percentile, box_rule);
  TORCH_CHECK(cams_in.device().is_cpu(), "cam_boxes (CPU kernel): expected CPU tensors");
  const bool paper = is_paper_rule(box_rule);
  const at::Tensor cams = cams_in.contiguous();
  const at::Tensor thr = thresholds_in.contiguous();
  const int64_t N = cams.size(0), h = cams.size(1), w = cams.size(2), T = thr.size(0);
  const int64_t H = height, W = width;
  std::vector<cubic::Tap> tx(static_cast<size_t>(W)), ty(static_cast<size_t>(H));
  cubic::make_taps(W, w, tx.data());
  cubic::make_taps(H, h, ty.data());
  boxes::StrideTables strides;  // every map of the call has the same row stride
  strides.build(ring_tables(), static_cast<int>(W));
  Outputs out;
  int64_t* sp = nullptr;
  if (single) {
    out.single = at::empty({N, T, 4}, cams.options().dtype(at::kLong));
    sp = out.single.mutable_data_ptr<int64_t>();
  }
  std::vector<Groups> groups(multi ? static_cast<size_t>(N) : 0);
  const double* tp = thr.const_data_ptr<double>();
  std::atomic<int64_t> bad_index{N};
  std::atomic<int> bad_status{0};
  AT_DISPATCH_FLOATING_TYPES(cams.scalar_type(), "cam_boxes_cpu", [&] {
    const scalar_t* cp = cams.const_data_ptr<scalar_t>();
    for_each_map(N, H, W, T, [&](int64_t n, int32_t* ws, int32_t* jorder) {
      if (multi) groups[n].resize(static_cast<size_t>(T));
      CpuEmit emit{single ? sp + n * T * 4 : nullptr, multi ? &groups[n] : nullptr};
      boxes::MapBoxes<CpuEmit> map(static_cast<int>(H), static_cast<int>(W), ws, jorder, ring_tables(), strides, emit);
      const int status = map.quantize_cam(cp + n * h * w, h, w, tx.data(), ty.data(), normalize);
      if (status != cubic::kQuantizeOk) {
        int64_t cur = bad_index.load();
        while (n < cur && !bad_index.compare_exchange_weak(cur, n)) {
        }
        if (bad_index.load() == n) bad_status.store(status);
        return;
      }
      map.run(tp, static_cast<int>(T), percentile, single, multi, paper);
    });
  });
  if (bad_index.load() < N) fail_bad_scoremap(bad_index.load(), bad_status.load());
  if (multi) {
    out.counts = at::empty({N, T}, cams.options().dtype(at::kLong));
    int64_t* cp = out.counts.mutable_data_ptr<int64_t>();
    int64_t total = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < T; ++j) total += (cp[n * T + j] = static_cast<int64_t>(groups[n][j].size()));
    out.boxes = at::empty({total, 4}, cams.options().dtype(at::kLong));
    int64_t* op = out.boxes.mutable_data_ptr<int64_t>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < T; ++j)
        for (const auto& b : groups[n][j])
          for (int k = 0; k < 4; ++k) *op++ = b[k];
  }
  return out;
}

at::Tensor cam_boxes_cpu(const at::Tensor& cams, const at::Tensor& thresholds, int64_t height, int64_t width,
                         double percentile, bool normalize, std::string_view box_rule) {
  return run_cpu(cams, thresholds, height, width, percentile, normalize, std::string(box_rule), true, false).single;
}

std::tuple<at::Tensor, at::Tensor> cam_all_boxes_cpu(const at::Tensor& cams, const at::Tensor& thresholds,
                                                     int64_t height, int64_t width, double percentile, bool normalize,
                                                     std::string_view box_rule) {
  Outputs o = run_cpu(cams, thresholds, height, width, percentile, normalize, std::string(box_rule), false, true);
  return {o.boxes, o.counts};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cam_boxes_both_cpu(const at::Tensor& cams, const at::Tensor& thresholds,
                                                                  int64_t height, int64_t width, double percentile,
                                                                  bool normalize, std::string_view box_rule) {
  Outputs o = run_cpu(cams, thresholds, height, width, percentile, normalize, std::string(box_rule), true, true);
  return {o.single, o.boxes, o.counts};
}

at::Tensor resize_cubic_cpu(const at::Tensor& cams_in, int64_t height, int64_t width, bool normalize) {
  check_resize_input(cams_in, height, width);
  const at::Tensor cams = cams_in.contiguous();
  const int64_t N = cams.size(0), h = cams.size(1), w = cams.size(2), H = height, W = width;
  at::Tensor out = at::empty({N, H, W}, cams.options().dtype(at::kDouble));
  std::vector<cubic::Tap> tx(static_cast<size_t>(W)), ty(static_cast<size_t>(H));
  cubic::make_taps(W, w, tx.data());
  cubic::make_taps(H, h, ty.data());
  double* op = out.mutable_data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(cams.scalar_type(), "resize_cubic_cpu", [&] {
    const scalar_t* cp = cams.const_data_ptr<scalar_t>();
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> rows(static_cast<size_t>(cubic::resize_scratch_doubles(W)));
      for (int64_t n = begin; n < end; ++n) {
        const cubic::MapStats st =
            cubic::resize_map(cp + n * h * w, h, w, H, W, tx.data(), ty.data(), rows.data(), op + n * H * W);
        if (normalize) cubic::normalize_map(op + n * H * W, H * W, st);
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(wsolx, CPU, m) {
  m.impl("resize_cubic", &resize_cubic_cpu);
  m.impl("cam_boxes", &cam_boxes_cpu);
  m.impl("cam_all_boxes", &cam_all_boxes_cpu);
  m.impl("cam_boxes_both", &cam_boxes_both_cpu);
}

}  // namespace ops
}  // namespace wsolx
