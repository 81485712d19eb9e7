// TAP forward/backward on CUDA, launched on the current stream.
//  * NCHW: one warp per (b, c) plane; lanes stride over HW (coalesced), warp-shuffle reductions.
//    The second (thresholded sum) pass re-reads the plane from L1/L2.
//  * NHWC: one thread per (b, 8 channels), i.e. per mask byte.
//  * Sums are accumulated in float64 and counts in int64 (as the CPU kernel), so float32/16/bf16
//    results stay at float32 rounding for any plane size.
//  * Both write the packed keep bits (tap.h::tap_mask_shape); the backward reads only those bits,
//    one element per thread, grid-stride.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <limits>

#include "ops/tap.h"

namespace wsolx {
namespace ops {
namespace {

constexpr int kThreads = 256;

template <typename acc_t>
__device__ __forceinline__ acc_t warp_max(acc_t v) {
  for (int o = 16; o > 0; o >>= 1) {
    const acc_t w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename scalar_t, typename acc_t>
__global__ void tap_forward_nchw_kernel(const scalar_t* __restrict__ x, int64_t planes, int64_t hw, acc_t theta,
                                        scalar_t* __restrict__ y, uint8_t* __restrict__ mask,
                                        acc_t* __restrict__ count) {
  const int lane = threadIdx.x & 31;
  const int64_t row = (hw + 7) / 8;
  const int64_t warps_per_grid = (int64_t)gridDim.x * (blockDim.x >> 5);
  for (int64_t p = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); p < planes; p += warps_per_grid) {
    const scalar_t* xp = x + p * hw;
    acc_t mx = -std::numeric_limits<acc_t>::infinity();
    int nan = 0;
    for (int64_t i = lane; i < hw; i += 32) {
      const acc_t v = static_cast<acc_t>(xp[i]);
      mx = v > mx ? v : mx;
      nan |= (v != v);
    }
    mx = warp_max(mx);
    nan = __any_sync(0xffffffffu, nan);
    const acc_t t = nan ? std::numeric_limits<acc_t>::quiet_NaN() : theta * mx;
    double sum = 0;
    long long cnt = 0;
    uint8_t* mp = mask + p * row;
    // All lanes run the same number of iterations so the ballot covers 32 consecutive elements.
    for (int64_t base = 0; base < hw; base += 32) {
      const int64_t i = base + lane;
      const acc_t v = i < hw ? static_cast<acc_t>(xp[i]) : acc_t(0);
      const bool k = i < hw && v > t;
      sum += k ? static_cast<double>(v) : 0.0;
      cnt += k;
      const unsigned bits = __ballot_sync(0xffffffffu, k);
      if (lane < 4 && base / 8 + lane < row) mp[base / 8 + lane] = static_cast<uint8_t>(bits >> (8 * lane));
    }
    sum = warp_sum(sum);
    cnt = warp_sum(cnt);
    if (lane == 0) {
      count[p] = static_cast<acc_t>(cnt);
      y[p] = static_cast<scalar_t>(nan ? std::numeric_limits<double>::quiet_NaN()
                                       : sum / static_cast<double>(cnt > 1 ? cnt : 1));
    }
  }
}

// NHWC: one thread per (b, group of 8 channels) = one mask byte per spatial position; a warp
// reads 256 consecutive channels per position (coalesced).
template <typename scalar_t, typename acc_t>
__global__ void tap_forward_nhwc_kernel(const scalar_t* __restrict__ x, int64_t batch, int64_t channels, int64_t hw,
                                        acc_t theta, scalar_t* __restrict__ y, uint8_t* __restrict__ mask,
                                        acc_t* __restrict__ count) {
  const int64_t groups = (channels + 7) / 8;
  const int64_t n = batch * groups;
  for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < n; o += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = o / groups, g = o % groups;
    const int64_t c0 = g * 8;
    const int nc = static_cast<int>(channels - c0 < 8 ? channels - c0 : 8);
    const scalar_t* xb = x + b * hw * channels + c0;
    acc_t mx[8], t[8];
    double sum[8];
    long long cnt[8];
    bool nan[8];
    for (int c = 0; c < 8; ++c) {
      mx[c] = -std::numeric_limits<acc_t>::infinity();
      nan[c] = false;
      sum[c] = 0;
      cnt[c] = 0;
    }
    for (int64_t i = 0; i < hw; ++i) {
      for (int c = 0; c < nc; ++c) {
        const acc_t v = static_cast<acc_t>(xb[i * channels + c]);
        mx[c] = v > mx[c] ? v : mx[c];
        nan[c] |= (v != v);
      }
    }
    for (int c = 0; c < 8; ++c) t[c] = nan[c] ? std::numeric_limits<acc_t>::quiet_NaN() : theta * mx[c];
    uint8_t* mb = mask + b * hw * groups + g;
    for (int64_t i = 0; i < hw; ++i) {
      unsigned bits = 0;
      for (int c = 0; c < nc; ++c) {
        const acc_t v = static_cast<acc_t>(xb[i * channels + c]);
        const bool k = v > t[c];
        sum[c] += k ? static_cast<double>(v) : 0.0;
        cnt[c] += k;
        bits |= static_cast<unsigned>(k) << c;
      }
      mb[i * groups] = static_cast<uint8_t>(bits);
    }
    for (int c = 0; c < nc; ++c) {
      const int64_t out = b * channels + c0 + c;
      count[out] = static_cast<acc_t>(cnt[c]);
      y[out] = static_cast<scalar_t>(nan[c] ? std::numeric_limits<double>::quiet_NaN()
                                            : sum[c] / static_cast<double>(cnt[c] > 1 ? cnt[c] : 1));
    }
  }
}

template <typename scalar_t, typename acc_t, bool kChannelsLast>
__global__ void tap_backward_kernel(const uint8_t* __restrict__ mask, const acc_t* __restrict__ scale, int64_t n,
                                    int64_t channels, int64_t hw, scalar_t* __restrict__ dx) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t bc, bit;
    if (kChannelsLast) {
      const int64_t r = i / channels, c = i % channels;  // r = b * hw + k
      bc = (r / hw) * channels + c;
      bit = r * ((channels + 7) / 8) * 8 + c;
    } else {
      bc = i / hw;
      bit = bc * ((hw + 7) / 8) * 8 + i % hw;
    }
    const bool k = (mask[bit >> 3] >> (bit & 7)) & 1;
    dx[i] = static_cast<scalar_t>(k ? scale[bc] : acc_t(0));
  }
}

int64_t grid_for(int64_t work, int threads) {
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t blocks = (work + threads - 1) / threads;
  return std::max<int64_t>(1, std::min<int64_t>(blocks, sms * 32));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tap_forward_cuda(const at::Tensor& input, double theta) {
  check_tap_input(input, theta);
  TORCH_CHECK(input.is_cuda(), "tap_forward_cuda: expected a CUDA tensor");
  const c10::cuda::CUDAGuard guard(input.device());
  const auto layout = tap_layout(input);
  const at::Tensor x = input.contiguous(layout);
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const auto acc = tap_acc_type(x.scalar_type());
  at::Tensor y = at::empty({B, C}, x.options());
  at::Tensor mask = at::empty(tap_mask_shape(x, layout), x.options().dtype(at::kByte));
  at::Tensor count = at::empty({B, C}, x.options().dtype(acc));
  if (x.numel() == 0) return {y, mask, count};
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "tap_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t th = static_cast<acc_t>(theta);
    if (layout == at::MemoryFormat::ChannelsLast) {
      tap_forward_nhwc_kernel<scalar_t, acc_t><<<grid_for(B * ((C + 7) / 8), kThreads), kThreads, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), B, C, HW, th, y.mutable_data_ptr<scalar_t>(), mask.mutable_data_ptr<uint8_t>(),
          count.mutable_data_ptr<acc_t>());
    } else {
      tap_forward_nchw_kernel<scalar_t, acc_t><<<grid_for(B * C * 32, kThreads), kThreads, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), B * C, HW, th, y.mutable_data_ptr<scalar_t>(), mask.mutable_data_ptr<uint8_t>(),
          count.mutable_data_ptr<acc_t>());
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {y, mask, count};
}

at::Tensor tap_backward_cuda(const at::Tensor& grad_in, const at::Tensor& mask_in, const at::Tensor& count_in,
                             const at::Tensor& input) {
  check_tap_backward(grad_in, mask_in, count_in, input);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto layout = tap_layout(input);
  const int64_t C = input.size(1), HW = input.size(2) * input.size(3);
  const auto acc = tap_acc_type(input.scalar_type());
  const at::Tensor scale = (grad_in.to(acc) / count_in.to(acc).clamp_min(1)).contiguous();
  const at::Tensor mask = mask_in.contiguous();
  at::Tensor dx = at::empty(input.sizes(), input.options().memory_format(layout));
  const int64_t n = dx.numel();
  if (n == 0) return dx;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "tap_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    if (layout == at::MemoryFormat::ChannelsLast) {
      tap_backward_kernel<scalar_t, acc_t, true><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
          mask.const_data_ptr<uint8_t>(), scale.const_data_ptr<acc_t>(), n, C, HW, dx.mutable_data_ptr<scalar_t>());
    } else {
      tap_backward_kernel<scalar_t, acc_t, false><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
          mask.const_data_ptr<uint8_t>(), scale.const_data_ptr<acc_t>(), n, C, HW, dx.mutable_data_ptr<scalar_t>());
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(wsolx, CUDA, m) {
  m.impl("tap_forward", &tap_forward_cuda);
  m.impl("tap_backward", &tap_backward_cuda);
}

}  // namespace ops
}  // namespace wsolx
