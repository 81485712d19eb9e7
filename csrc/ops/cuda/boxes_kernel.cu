// CAM score map -> boxes on CUDA: the algorithm of boxes_core.h, one map per thread, maps
// processed in chunks so the per-map workspace fits in a bounded slice of device memory.
// Multi-box mode runs twice: a counting pass sizes the ragged output, a second pass writes it.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstring>

#include "ops/boxes.h"
#include "ops/boxes_core.h"

namespace wsolx {
namespace ops {
namespace {

constexpr int kThreads = 64;

struct DeviceSingleEmit {
  int64_t* out;  // (T, 4) of this map
  __device__ void box(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = out + 4 * static_cast<int64_t>(j);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
};

struct DeviceCountEmit {
  int64_t* counts;  // (T,) of this map
  __device__ void box(int j, int, int, int, int) { counts[j] += 1; }
};

struct DeviceWriteEmit {
  int64_t* out;     // (M, 4)
  int64_t* cursor;  // (T,) of this map: next row to write per threshold
  __device__ void box(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = out + 4 * (cursor[j]++);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
};

enum class Mode { kSingle, kCount, kWrite };

template <Mode kMode>
__global__ void boxes_kernel(const float* __restrict__ scoremaps, const double* __restrict__ thresholds,
                             const boxes::RingTables* __restrict__ tables, int64_t n0, int64_t n1, int H, int W, int T,
                             double percentile, int32_t* __restrict__ workspace, int64_t ws_words,
                             int32_t* __restrict__ jorder, int64_t* __restrict__ out, int64_t* __restrict__ aux) {
  const int64_t local = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n = n0 + local;
  if (n >= n1) return;
  const float* s = scoremaps + n * H * W;
  int32_t* ws = workspace + local * ws_words;
  int32_t* jo = jorder + local * T;
  if (kMode == Mode::kSingle) {
    DeviceSingleEmit emit{out + n * T * 4};
    boxes::MapBoxes<DeviceSingleEmit> map(H, W, ws, jo, *tables, emit);
    map.run(s, thresholds, T, percentile, false);
  } else if (kMode == Mode::kCount) {
    DeviceCountEmit emit{aux + n * T};
    boxes::MapBoxes<DeviceCountEmit> map(H, W, ws, jo, *tables, emit);
    map.run(s, thresholds, T, percentile, true);
  } else {
    DeviceWriteEmit emit{out, aux + n * T};
    boxes::MapBoxes<DeviceWriteEmit> map(H, W, ws, jo, *tables, emit);
    map.run(s, thresholds, T, percentile, true);
  }
}

// Ring tables built on the host once per call and copied to the device (1.5 KB).
at::Tensor device_tables(const at::Tensor& like) {
  boxes::RingTables host;
  host.build();
  at::Tensor t = at::empty({static_cast<int64_t>(sizeof(boxes::RingTables))}, at::kByte);
  std::memcpy(t.mutable_data_ptr<uint8_t>(), &host, sizeof(host));
  return t.to(like.device(), /*non_blocking=*/false);
}

// Maps per chunk: the workspace of one chunk uses at most a quarter of the free memory (<= 4 GiB).
int64_t chunk_maps(int64_t N, int64_t ws_words, int64_t T) {
  size_t free_bytes = 0, total_bytes = 0;
  C10_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const int64_t budget = std::min<int64_t>(static_cast<int64_t>(free_bytes / 4), int64_t(4) << 30);
  const int64_t per_map = (ws_words + T) * 4;
  return std::max<int64_t>(1, std::min<int64_t>(N, budget / per_map));
}

// The kernel keeps ~10 KB of per-thread arrays in local memory (ptxas: "stack frame"); make sure
// the device's per-thread stack limit (default 1 KB) covers it before the first launch.
template <Mode kMode>
void ensure_stack_limit() {
  cudaFuncAttributes attr;
  C10_CUDA_CHECK(cudaFuncGetAttributes(&attr, boxes_kernel<kMode>));
  size_t limit = 0;
  C10_CUDA_CHECK(cudaDeviceGetLimit(&limit, cudaLimitStackSize));
  const size_t need = attr.localSizeBytes + 1024;
  if (limit < need) C10_CUDA_CHECK(cudaDeviceSetLimit(cudaLimitStackSize, need));
}

template <Mode kMode>
void launch_all(const at::Tensor& s, const at::Tensor& thr, double percentile, at::Tensor* out, at::Tensor* aux) {
  const int64_t N = s.size(0), H = s.size(1), W = s.size(2), T = thr.size(0);
  const int64_t ws_words = (boxes::workspace_words(H, W) + 7) / 8 * 8;  // keep each map 32-byte aligned
  const int64_t chunk = chunk_maps(N, ws_words, T);
  at::Tensor workspace = at::empty({chunk * ws_words}, s.options().dtype(at::kInt));
  at::Tensor jorder = at::empty({chunk * T}, s.options().dtype(at::kInt));
  at::Tensor tables = device_tables(s);
  ensure_stack_limit<kMode>();
  const auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n1 = std::min(N, n0 + chunk);
    const int64_t blocks = (n1 - n0 + kThreads - 1) / kThreads;
    boxes_kernel<kMode><<<blocks, kThreads, 0, stream>>>(
        s.const_data_ptr<float>(), thr.const_data_ptr<double>(),
        reinterpret_cast<const boxes::RingTables*>(tables.const_data_ptr<uint8_t>()), n0, n1, static_cast<int>(H),
        static_cast<int>(W), static_cast<int>(T), percentile, workspace.mutable_data_ptr<int32_t>(), ws_words,
        jorder.mutable_data_ptr<int32_t>(), out ? out->mutable_data_ptr<int64_t>() : nullptr,
        aux ? aux->mutable_data_ptr<int64_t>() : nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

at::Tensor scoremap_boxes_cuda(const at::Tensor& scoremaps_in, const at::Tensor& thresholds_in, double percentile) {
  check_boxes_input(scoremaps_in, thresholds_in, percentile);
  TORCH_CHECK(scoremaps_in.is_cuda(), "scoremap_boxes_cuda: expected CUDA tensors");
  const c10::cuda::CUDAGuard guard(scoremaps_in.device());
  const at::Tensor s = scoremaps_in.contiguous();
  const at::Tensor thr = thresholds_in.contiguous();
  at::Tensor out = at::empty({s.size(0), thr.size(0), 4}, s.options().dtype(at::kLong));
  if (s.size(0) == 0) return out;
  launch_all<Mode::kSingle>(s, thr, percentile, &out, nullptr);
  return out;
}

std::tuple<at::Tensor, at::Tensor> scoremap_all_boxes_cuda(const at::Tensor& scoremaps_in,
                                                            const at::Tensor& thresholds_in, double percentile) {
  check_boxes_input(scoremaps_in, thresholds_in, percentile);
  TORCH_CHECK(scoremaps_in.is_cuda(), "scoremap_all_boxes_cuda: expected CUDA tensors");
  const c10::cuda::CUDAGuard guard(scoremaps_in.device());
  const at::Tensor s = scoremaps_in.contiguous();
  const at::Tensor thr = thresholds_in.contiguous();
  const int64_t N = s.size(0), T = thr.size(0);
  at::Tensor counts = at::zeros({N, T}, s.options().dtype(at::kLong));
  if (N == 0) return {at::empty({0, 4}, s.options().dtype(at::kLong)), counts};
  launch_all<Mode::kCount>(s, thr, percentile, nullptr, &counts);
  const at::Tensor flat = counts.flatten();
  at::Tensor cursor = (flat.cumsum(0) - flat).contiguous();  // start row of every (map, threshold)
  const int64_t total = flat.sum().item<int64_t>();
  at::Tensor out = at::empty({total, 4}, s.options().dtype(at::kLong));
  launch_all<Mode::kWrite>(s, thr, percentile, &out, &cursor);
  return {out, counts};
}

}  // namespace

TORCH_LIBRARY_IMPL(wsolx, CUDA, m) {
  m.impl("scoremap_boxes", &scoremap_boxes_cuda);
  m.impl("scoremap_all_boxes", &scoremap_all_boxes_cuda);
}

}  // namespace ops
}  // namespace wsolx
