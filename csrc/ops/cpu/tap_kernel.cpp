// TAP forward/backward on the CPU: one pass for the max and one for the thresholded sum per
// channel, parallel over (batch, channel) planes with at::parallel_for (OpenMP).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ops/tap.h"

namespace wsolx {
namespace ops {
namespace {

// Planes are contiguous (NCHW): each (b, c) owns HW consecutive values.
template <typename scalar_t, typename acc_t>
void tap_forward_nchw(const scalar_t* x, int64_t planes, int64_t hw, acc_t theta, scalar_t* y, acc_t* tau,
                      acc_t* count) {
  at::parallel_for(0, planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* xp = x + p * hw;
      acc_t mx = -std::numeric_limits<acc_t>::infinity();
      bool nan = false;
      for (int64_t i = 0; i < hw; ++i) {
        const acc_t v = static_cast<acc_t>(xp[i]);
        mx = v > mx ? v : mx;
        nan |= (v != v);
      }
      const acc_t t = theta * mx;
      acc_t sum = 0, cnt = 0;
      for (int64_t i = 0; i < hw; ++i) {
        const acc_t v = static_cast<acc_t>(xp[i]);
        const bool k = v > t;
        sum += k ? v : acc_t(0);
        cnt += k ? acc_t(1) : acc_t(0);
      }
      tau[p] = nan ? std::numeric_limits<acc_t>::quiet_NaN() : t;
      count[p] = cnt;
      y[p] = static_cast<scalar_t>(nan ? std::numeric_limits<acc_t>::quiet_NaN() : sum / std::max(cnt, acc_t(1)));
    }
  });
}

// Channels-last (NHWC): for each image, channels are the contiguous inner dimension, so the
// reductions run over HW rows of C accumulators at once (vectorisable, cache friendly).
template <typename scalar_t, typename acc_t>
void tap_forward_nhwc(const scalar_t* x, int64_t batch, int64_t channels, int64_t hw, acc_t theta, scalar_t* y,
                      acc_t* tau, acc_t* count) {
  constexpr int64_t kBlock = 256;  // channels per task
  const int64_t blocks = (channels + kBlock - 1) / kBlock;
  at::parallel_for(0, batch * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> mx(kBlock), sum(kBlock), cnt(kBlock), thr(kBlock);
    std::vector<unsigned char> nan(kBlock);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks;
      const int64_t c0 = (task % blocks) * kBlock;
      const int64_t nc = std::min(kBlock, channels - c0);
      const scalar_t* xb = x + b * hw * channels + c0;
      std::fill(mx.begin(), mx.begin() + nc, -std::numeric_limits<acc_t>::infinity());
      std::fill(nan.begin(), nan.begin() + nc, 0);
      for (int64_t i = 0; i < hw; ++i) {
        const scalar_t* row = xb + i * channels;
        for (int64_t c = 0; c < nc; ++c) {
          const acc_t v = static_cast<acc_t>(row[c]);
          mx[c] = v > mx[c] ? v : mx[c];
          nan[c] |= (v != v);
        }
      }
      for (int64_t c = 0; c < nc; ++c) {
        thr[c] = theta * mx[c];
        sum[c] = 0;
        cnt[c] = 0;
      }
      for (int64_t i = 0; i < hw; ++i) {
        const scalar_t* row = xb + i * channels;
        for (int64_t c = 0; c < nc; ++c) {
          const acc_t v = static_cast<acc_t>(row[c]);
          const bool k = v > thr[c];
          sum[c] += k ? v : acc_t(0);
          cnt[c] += k ? acc_t(1) : acc_t(0);
        }
      }
      for (int64_t c = 0; c < nc; ++c) {
        const int64_t o = b * channels + c0 + c;
        const acc_t nanv = std::numeric_limits<acc_t>::quiet_NaN();
        tau[o] = nan[c] ? nanv : thr[c];
        count[o] = cnt[c];
        y[o] = static_cast<scalar_t>(nan[c] ? nanv : sum[c] / std::max(cnt[c], acc_t(1)));
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tap_forward_cpu(const at::Tensor& input, double theta) {
  check_tap_input(input, theta);
  TORCH_CHECK(input.device().is_cpu(), "tap_forward_cpu: expected a CPU tensor");
  const auto layout = tap_layout(input);
  const at::Tensor x = input.contiguous(layout);
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const auto acc = tap_acc_type(x.scalar_type());
  at::Tensor y = at::empty({B, C}, x.options());
  at::Tensor tau = at::empty({B, C}, x.options().dtype(acc));
  at::Tensor count = at::empty({B, C}, x.options().dtype(acc));
  if (B * C == 0) return {y, tau, count};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "tap_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t th = static_cast<acc_t>(theta);
    if (layout == at::MemoryFormat::ChannelsLast) {
      tap_forward_nhwc<scalar_t, acc_t>(x.const_data_ptr<scalar_t>(), B, C, HW, th, y.mutable_data_ptr<scalar_t>(),
                                        tau.mutable_data_ptr<acc_t>(), count.mutable_data_ptr<acc_t>());
    } else {
      tap_forward_nchw<scalar_t, acc_t>(x.const_data_ptr<scalar_t>(), B * C, HW, th, y.mutable_data_ptr<scalar_t>(),
                                        tau.mutable_data_ptr<acc_t>(), count.mutable_data_ptr<acc_t>());
    }
  });
  return {y, tau, count};
}

at::Tensor tap_backward_cpu(const at::Tensor& grad_in, const at::Tensor& input, const at::Tensor& tau_in,
                            const at::Tensor& count_in) {
  check_tap_backward(grad_in, input, tau_in, count_in);
  const auto layout = tap_layout(input);
  const at::Tensor x = input.contiguous(layout);
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const auto acc = tap_acc_type(x.scalar_type());
  // Per-channel scale dy / max(count, 1) once, in the accumulation dtype.
  const at::Tensor scale = (grad_in.to(acc) / count_in.to(acc).clamp_min(1)).contiguous();
  const at::Tensor tau = tau_in.to(acc).contiguous();
  at::Tensor dx = at::empty_like(x, layout);
  if (x.numel() == 0) return dx;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "tap_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const acc_t* sp = scale.const_data_ptr<acc_t>();
    const acc_t* tp = tau.const_data_ptr<acc_t>();
    scalar_t* dp = dx.mutable_data_ptr<scalar_t>();
    if (layout == at::MemoryFormat::ChannelsLast) {
      at::parallel_for(0, B * HW, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t b = r / HW;
          const scalar_t* row = xp + r * C;
          scalar_t* out = dp + r * C;
          const acc_t* s = sp + b * C;
          const acc_t* t = tp + b * C;
          for (int64_t c = 0; c < C; ++c) {
            out[c] = static_cast<scalar_t>(static_cast<acc_t>(row[c]) > t[c] ? s[c] : acc_t(0));
          }
        }
      });
    } else {
      at::parallel_for(0, B * C, 16, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const scalar_t* xpl = xp + p * HW;
          scalar_t* out = dp + p * HW;
          const acc_t s = sp[p], t = tp[p];
          for (int64_t i = 0; i < HW; ++i) {
            out[i] = static_cast<scalar_t>(static_cast<acc_t>(xpl[i]) > t ? s : acc_t(0));
          }
        }
      });
    }
  });
  return dx;
}

}  // namespace

TORCH_LIBRARY_IMPL(wsolx, CPU, m) {
  m.impl("tap_forward", &tap_forward_cpu);
  m.impl("tap_backward", &tap_backward_cpu);
}

}  // namespace ops
}  // namespace wsolx
