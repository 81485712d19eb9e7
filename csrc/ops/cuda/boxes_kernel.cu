// Raw CAM -> boxes on CUDA: the code of cubic_resize.h and csrc/ops/boxes/, one map per thread, maps
// processed in chunks so the per-map workspace fits in a bounded slice of device memory. Each
// thread resizes, normalises and quantises its own map inside its workspace (no (N, H, W)
// intermediate). Multi-box mode runs twice: a counting pass sizes the ragged output, a second
// pass writes it (and the largest boxes too, when both answers are asked for).
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ops/boxes.h"
#include "ops/boxes/map_boxes.h"
#include "ops/cubic_resize.h"

namespace wsolx {
namespace ops {
namespace {

constexpr int kThreads = 64;

struct DeviceSingleEmit {
  int64_t* out;  // (T, 4) of this map
  __device__ void best(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = out + 4 * static_cast<int64_t>(j);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
  __device__ void box(int, int, int, int, int) {}
};

struct DeviceCountEmit {
  int64_t* counts;  // (T,) of this map
  __device__ void best(int, int, int, int, int) {}
  __device__ void box(int j, int, int, int, int) { counts[j] += 1; }
};

struct DeviceWriteEmit {
  int64_t* out;     // (M, 4)
  int64_t* cursor;  // (T,) of this map: next row to write per threshold
  int64_t* single;  // (T, 4) of this map, or null
  __device__ void best(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = single + 4 * static_cast<int64_t>(j);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
  __device__ void box(int j, int x0, int y0, int x1, int y1) {
    int64_t* o = out + 4 * (cursor[j]++);
    o[0] = x0;
    o[1] = y0;
    o[2] = x1;
    o[3] = y1;
  }
};

enum class Mode { kSingle, kCount, kWrite };

struct Params {
  const cubic::Tap* tx;  // (W,)
  const cubic::Tap* ty;  // (H,)
  const double* thresholds;
  const boxes::RingTables* tables;
  const boxes::StrideTables* strides;
  int64_t n0, n1, h, w;
  int H, W, T;
  double percentile;
  bool normalize, paper, both;
  int32_t* workspace;
  int64_t ws_words;
  int32_t* jorder;
  int32_t* status;  // (N,) cubic::QuantizeStatus per map
};

template <Mode kMode, class scalar_t>
__global__ void boxes_kernel(const scalar_t* __restrict__ cams, Params p, int64_t* __restrict__ out,
                             int64_t* __restrict__ aux, int64_t* __restrict__ single) {
  const int64_t local = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n = p.n0 + local;
  if (n >= p.n1) return;
  const scalar_t* cam = cams + n * p.h * p.w;
  int32_t* ws = p.workspace + local * p.ws_words;
  int32_t* jo = p.jorder + local * p.T;
  if (kMode == Mode::kSingle) {
    DeviceSingleEmit emit{out + n * p.T * 4};
    boxes::MapBoxes<DeviceSingleEmit> map(p.H, p.W, ws, jo, *p.tables, *p.strides, emit);
    const int status = map.quantize_cam(cam, p.h, p.w, p.tx, p.ty, p.normalize);
    p.status[n] = status;
    if (status == cubic::kQuantizeOk) map.run(p.thresholds, p.T, p.percentile, true, false, p.paper);
  } else if (kMode == Mode::kCount) {
    DeviceCountEmit emit{aux + n * p.T};
    boxes::MapBoxes<DeviceCountEmit> map(p.H, p.W, ws, jo, *p.tables, *p.strides, emit);
    const int status = map.quantize_cam(cam, p.h, p.w, p.tx, p.ty, p.normalize);
    p.status[n] = status;
    if (status == cubic::kQuantizeOk) map.run(p.thresholds, p.T, p.percentile, false, true, p.paper);
  } else {
    DeviceWriteEmit emit{out, aux + n * p.T, single ? single + n * p.T * 4 : nullptr};
    boxes::MapBoxes<DeviceWriteEmit> map(p.H, p.W, ws, jo, *p.tables, *p.strides, emit);
    map.quantize_cam(cam, p.h, p.w, p.tx, p.ty, p.normalize);  // checked by the counting pass
    map.run(p.thresholds, p.T, p.percentile, p.both, true, p.paper);
  }
}

// Host-built bytes copied to the device (ring tables: 11 KB; stride tables: 8.7 KB; taps: 48 bytes per
// row / column).
at::Tensor to_device(const void* data, size_t bytes, const at::Tensor& like) {
  at::Tensor t = at::empty({static_cast<int64_t>(bytes)}, at::kByte);
  std::memcpy(t.mutable_data_ptr<uint8_t>(), data, bytes);
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

// The kernel keeps ~8 KB of per-thread arrays in local memory (ptxas: "stack frame"); make sure
// the device's per-thread stack limit (default 1 KB) covers it before the first launch.
template <Mode kMode, class scalar_t>
void ensure_stack_limit() {
  cudaFuncAttributes attr;
  C10_CUDA_CHECK(cudaFuncGetAttributes(&attr, boxes_kernel<kMode, scalar_t>));
  size_t limit = 0;
  C10_CUDA_CHECK(cudaDeviceGetLimit(&limit, cudaLimitStackSize));
  const size_t need = attr.localSizeBytes + 1024;
  if (limit < need) C10_CUDA_CHECK(cudaDeviceSetLimit(cudaLimitStackSize, need));
}

template <Mode kMode, class scalar_t>
void launch_all(const at::Tensor& cams, Params p, int64_t N, int64_t* out, int64_t* aux, int64_t* single) {
  p.ws_words = (boxes::workspace_words(p.H, p.W) + 7) / 8 * 8;  // keep each map 32-byte aligned
  const int64_t chunk = chunk_maps(N, p.ws_words, p.T);
  at::Tensor workspace = at::empty({chunk * p.ws_words}, cams.options().dtype(at::kInt));
  at::Tensor jorder = at::empty({chunk * p.T}, cams.options().dtype(at::kInt));
  p.workspace = workspace.mutable_data_ptr<int32_t>();
  p.jorder = jorder.mutable_data_ptr<int32_t>();
  ensure_stack_limit<kMode, scalar_t>();
  const auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    p.n0 = n0;
    p.n1 = std::min(N, n0 + chunk);
    const int64_t blocks = (p.n1 - n0 + kThreads - 1) / kThreads;
    boxes_kernel<kMode, scalar_t>
        <<<blocks, kThreads, 0, stream>>>(cams.const_data_ptr<scalar_t>(), p, out, aux, single);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// First map whose quantisation failed (normalize=False), if any.
void check_status(const at::Tensor& status) {
  const at::Tensor bad = status.ne(0).nonzero();
  if (bad.size(0) == 0) return;
  const int64_t index = bad[0][0].item<int64_t>();
  fail_bad_scoremap(index, status[index].item<int>());
}

struct Outputs {
  at::Tensor single, boxes, counts;
};

Outputs run_cuda(const at::Tensor& cams_in, const at::Tensor& thresholds_in, int64_t height, int64_t width,
                 double percentile, bool normalize, const std::string& box_rule, bool single, bool multi) {
  check_cam_boxes_input(cams_in, thresholds_in, height, width, percentile, box_rule);
  TORCH_CHECK(cams_in.is_cuda(), "cam_boxes (CUDA kernel): expected CUDA tensors");
  const c10::cuda::CUDAGuard guard(cams_in.device());
  const at::Tensor cams = cams_in.contiguous();
  const at::Tensor thr = thresholds_in.contiguous();
  const int64_t N = cams.size(0), T = thr.size(0);
  Outputs o;
  const auto long_opts = cams.options().dtype(at::kLong);
  if (single) o.single = at::empty({N, T, 4}, long_opts);
  if (multi) o.counts = at::zeros({N, T}, long_opts);
  if (N == 0) {
    if (multi) o.boxes = at::empty({0, 4}, long_opts);
    return o;
  }
  std::vector<cubic::Tap> tx(static_cast<size_t>(width)), ty(static_cast<size_t>(height));
  cubic::make_taps(width, cams.size(2), tx.data());
  cubic::make_taps(height, cams.size(1), ty.data());
  const at::Tensor dtx = to_device(tx.data(), tx.size() * sizeof(cubic::Tap), cams);
  const at::Tensor dty = to_device(ty.data(), ty.size() * sizeof(cubic::Tap), cams);
  boxes::RingTables host_tables;
  host_tables.build();
  const at::Tensor tables = to_device(&host_tables, sizeof(host_tables), cams);
  boxes::StrideTables host_strides;  // every map of the call has the same row stride
  host_strides.build(host_tables, static_cast<int>(width));
  const at::Tensor strides = to_device(&host_strides, sizeof(host_strides), cams);
  at::Tensor status = at::zeros({N}, cams.options().dtype(at::kInt));
  Params p{};
  p.tx = reinterpret_cast<const cubic::Tap*>(dtx.const_data_ptr<uint8_t>());
  p.ty = reinterpret_cast<const cubic::Tap*>(dty.const_data_ptr<uint8_t>());
  p.thresholds = thr.const_data_ptr<double>();
  p.tables = reinterpret_cast<const boxes::RingTables*>(tables.const_data_ptr<uint8_t>());
  p.strides = reinterpret_cast<const boxes::StrideTables*>(strides.const_data_ptr<uint8_t>());
  p.h = cams.size(1);
  p.w = cams.size(2);
  p.H = static_cast<int>(height);
  p.W = static_cast<int>(width);
  p.T = static_cast<int>(T);
  p.percentile = percentile;
  p.normalize = normalize;
  p.paper = is_paper_rule(box_rule);
  p.both = single && multi;
  p.status = status.mutable_data_ptr<int32_t>();
  AT_DISPATCH_FLOATING_TYPES(cams.scalar_type(), "cam_boxes_cuda", [&] {
    if (!multi) {
      launch_all<Mode::kSingle, scalar_t>(cams, p, N, o.single.mutable_data_ptr<int64_t>(), nullptr, nullptr);
      check_status(status);
      return;
    }
    launch_all<Mode::kCount, scalar_t>(cams, p, N, nullptr, o.counts.mutable_data_ptr<int64_t>(), nullptr);
    check_status(status);
    const at::Tensor flat = o.counts.flatten();
    at::Tensor cursor = (flat.cumsum(0) - flat).contiguous();  // start row of every (map, threshold)
    const int64_t total = flat.sum().item<int64_t>();
    o.boxes = at::empty({total, 4}, long_opts);
    launch_all<Mode::kWrite, scalar_t>(cams, p, N, o.boxes.mutable_data_ptr<int64_t>(),
                                       cursor.mutable_data_ptr<int64_t>(),
                                       single ? o.single.mutable_data_ptr<int64_t>() : nullptr);
  });
  return o;
}

at::Tensor cam_boxes_cuda(const at::Tensor& cams, const at::Tensor& thresholds, int64_t height, int64_t width,
                          double percentile, bool normalize, std::string_view box_rule) {
  return run_cuda(cams, thresholds, height, width, percentile, normalize, std::string(box_rule), true, false).single;
}

std::tuple<at::Tensor, at::Tensor> cam_all_boxes_cuda(const at::Tensor& cams, const at::Tensor& thresholds,
                                                      int64_t height, int64_t width, double percentile, bool normalize,
                                                      std::string_view box_rule) {
  Outputs o = run_cuda(cams, thresholds, height, width, percentile, normalize, std::string(box_rule), false, true);
  return {o.boxes, o.counts};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cam_boxes_both_cuda(const at::Tensor& cams, const at::Tensor& thresholds,
                                                                   int64_t height, int64_t width, double percentile,
                                                                   bool normalize, std::string_view box_rule) {
  Outputs o = run_cuda(cams, thresholds, height, width, percentile, normalize, std::string(box_rule), true, true);
  return {o.single, o.boxes, o.counts};
}

}  // namespace

TORCH_LIBRARY_IMPL(wsolx, CUDA, m) {
  m.impl("cam_boxes", &cam_boxes_cuda);
  m.impl("cam_all_boxes", &cam_all_boxes_cuda);
  m.impl("cam_boxes_both", &cam_boxes_both_cuda);
}

}  // namespace ops
}  // namespace wsolx
