// CAM score map -> boxes on the CPU: one map per task, at::parallel_for (OpenMP) over maps, one
// workspace per task.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <cstdint>
#include <vector>

#include "ops/boxes.h"
#include "ops/boxes_core.h"

namespace wsolx {
namespace ops {
namespace {

struct SingleEmit {
  int64_t* out;  // (T, 4) of this map
  void box(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = out + 4 * static_cast<int64_t>(j);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
};

struct MultiEmit {
  std::vector<std::vector<std::array<int32_t, 4>>>* groups;  // per threshold of this map
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

// Runs body(n, workspace, jorder) for every map. Threads claim maps one at a time from a shared
// counter, so a slow core or a costly map does not hold up a static share of the batch. The
// workspace is left uninitialised: a map touches only what it writes first (the component
// records of a smooth map are a few kilobytes of a multi-megabyte worst-case area).
template <class Body>
void for_each_map(int64_t N, int64_t H, int64_t W, int64_t T, const Body& body) {
  if (N == 0) return;
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), N);
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    const size_t words = static_cast<size_t>(boxes::workspace_words(H, W));
    std::unique_ptr<int32_t[]> ws(new int32_t[words + 8]);
    std::unique_ptr<int32_t[]> jorder(new int32_t[static_cast<size_t>(T)]);
    int32_t* aligned = ws.get();
    while (reinterpret_cast<uintptr_t>(aligned) % 32 != 0) ++aligned;
    for (int64_t w = begin; w < end; ++w) {
      for (int64_t n = next.fetch_add(1); n < N; n = next.fetch_add(1)) body(n, aligned, jorder.get());
    }
  });
}

at::Tensor scoremap_boxes_cpu(const at::Tensor& scoremaps_in, const at::Tensor& thresholds_in, double percentile) {
  check_boxes_input(scoremaps_in, thresholds_in, percentile);
  const at::Tensor s = scoremaps_in.contiguous();
  const at::Tensor thr = thresholds_in.contiguous();
  const int64_t N = s.size(0), H = s.size(1), W = s.size(2), T = thr.size(0);
  at::Tensor out = at::empty({N, T, 4}, s.options().dtype(at::kLong));
  const float* sp = s.const_data_ptr<float>();
  const double* tp = thr.const_data_ptr<double>();
  int64_t* op = out.mutable_data_ptr<int64_t>();
  for_each_map(N, H, W, T, [&](int64_t n, int32_t* ws, int32_t* jorder) {
    SingleEmit emit{op + n * T * 4};
    boxes::MapBoxes<SingleEmit> map(static_cast<int>(H), static_cast<int>(W), ws, jorder, ring_tables(), emit);
    map.run(sp + n * H * W, tp, static_cast<int>(T), percentile, false);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> scoremap_all_boxes_cpu(const at::Tensor& scoremaps_in,
                                                           const at::Tensor& thresholds_in, double percentile) {
  check_boxes_input(scoremaps_in, thresholds_in, percentile);
  const at::Tensor s = scoremaps_in.contiguous();
  const at::Tensor thr = thresholds_in.contiguous();
  const int64_t N = s.size(0), H = s.size(1), W = s.size(2), T = thr.size(0);
  std::vector<std::vector<std::vector<std::array<int32_t, 4>>>> groups(static_cast<size_t>(N));
  const float* sp = s.const_data_ptr<float>();
  const double* tp = thr.const_data_ptr<double>();
  for_each_map(N, H, W, T, [&](int64_t n, int32_t* ws, int32_t* jorder) {
    groups[n].resize(static_cast<size_t>(T));
    MultiEmit emit{&groups[n]};
    boxes::MapBoxes<MultiEmit> map(static_cast<int>(H), static_cast<int>(W), ws, jorder, ring_tables(), emit);
    map.run(sp + n * H * W, tp, static_cast<int>(T), percentile, true);
  });
  at::Tensor counts = at::empty({N, T}, s.options().dtype(at::kLong));
  int64_t* cp = counts.mutable_data_ptr<int64_t>();
  int64_t total = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < T; ++j) total += (cp[n * T + j] = static_cast<int64_t>(groups[n][j].size()));
  at::Tensor out = at::empty({total, 4}, s.options().dtype(at::kLong));
  int64_t* op = out.mutable_data_ptr<int64_t>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < T; ++j)
      for (const auto& b : groups[n][j])
        for (int k = 0; k < 4; ++k) *op++ = b[k];
  return {out, counts};
}

}  // namespace

TORCH_LIBRARY_IMPL(wsolx, CPU, m) {
  m.impl("scoremap_boxes", &scoremap_boxes_cpu);
  m.impl("scoremap_all_boxes", &scoremap_all_boxes_cpu);
}

}  // namespace ops
}  // namespace wsolx
