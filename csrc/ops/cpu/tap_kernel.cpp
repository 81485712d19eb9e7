// TAP forward/backward on the CPU, parallel with at::parallel_for (OpenMP).
// Forward: per channel one pass for the max and one for the thresholded sum (the plane is still
// in cache), writing the packed keep bits. The thresholded sum is accumulated in float64 and the
// count in int64 (tap.h::tap_sum_t), so float32/16/bf16 results stay at float32 rounding for any
// plane size (a float32 running sum drifts by percent at 4096x4096 and a float32 count stops at 2^24). Backward: dx =
// bit ? dy / max(count, 1) : 0, reading only the bits (1/32 of x for float32).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ops/tap.h"

namespace wsolx {
namespace ops {
namespace {

// NCHW: planes of HW consecutive values; mask rows of ceil(HW / 8) bytes. The loops keep 8
// independent lanes (one per bit of a mask byte) so the compiler can vectorise them.
template <typename scalar_t, typename acc_t>
void tap_forward_nchw(const scalar_t* x, int64_t planes, int64_t hw, acc_t theta, scalar_t* y, uint8_t* mask,
                      acc_t* count) {
  const int64_t row = (hw + 7) / 8;
  const int64_t full = hw / 8;
  at::parallel_for(0, planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* xp = x + p * hw;
      uint8_t* mp = mask + p * row;
      acc_t mx[8];
      bool nan[8];
      for (int j = 0; j < 8; ++j) {
        mx[j] = -std::numeric_limits<acc_t>::infinity();
        nan[j] = false;
      }
      for (int64_t b = 0; b < full; ++b) {
        for (int j = 0; j < 8; ++j) {
          const acc_t v = static_cast<acc_t>(xp[b * 8 + j]);
          mx[j] = v > mx[j] ? v : mx[j];
          nan[j] |= (v != v);
        }
      }
      for (int64_t i = full * 8; i < hw; ++i) {
        const acc_t v = static_cast<acc_t>(xp[i]);
        mx[0] = v > mx[0] ? v : mx[0];
        nan[0] |= (v != v);
      }
      acc_t m = mx[0];
      bool any_nan = nan[0];
      for (int j = 1; j < 8; ++j) {
        m = mx[j] > m ? mx[j] : m;
        any_nan |= nan[j];
      }
      const acc_t t = any_nan ? std::numeric_limits<acc_t>::quiet_NaN() : theta * m;
      double sum[8];
      int64_t cnt[8];
      for (int j = 0; j < 8; ++j) {
        sum[j] = 0;
        cnt[j] = 0;
      }
      for (int64_t b = 0; b < full; ++b) {
        unsigned bits = 0;
        for (int j = 0; j < 8; ++j) {
          const acc_t v = static_cast<acc_t>(xp[b * 8 + j]);
          const bool k = v > t;
          sum[j] += k ? static_cast<double>(v) : 0.0;
          cnt[j] += k;
          bits |= static_cast<unsigned>(k) << j;
        }
        mp[b] = static_cast<uint8_t>(bits);
      }
      if (full < row) {
        unsigned bits = 0;
        for (int64_t i = full * 8; i < hw; ++i) {
          const acc_t v = static_cast<acc_t>(xp[i]);
          const bool k = v > t;
          sum[0] += k ? static_cast<double>(v) : 0.0;
          cnt[0] += k;
          bits |= static_cast<unsigned>(k) << (i - full * 8);
        }
        mp[full] = static_cast<uint8_t>(bits);
      }
      double total = 0;
      int64_t n = 0;
      for (int j = 0; j < 8; ++j) {
        total += sum[j];
        n += cnt[j];
      }
      count[p] = static_cast<acc_t>(n);
      y[p] = static_cast<scalar_t>(any_nan ? std::numeric_limits<double>::quiet_NaN()
                                           : total / static_cast<double>(std::max<int64_t>(n, 1)));
    }
  });
}

#if defined(__SSE2__)
// float32 NCHW with SSE2 (baseline on x86-64): two 4-lane vectors per mask byte. Same results as
// the generic loop up to the order of the float32 summation.
void tap_forward_nchw_sse(const float* x, int64_t planes, int64_t hw, float theta, float* y, uint8_t* mask,
                          float* count) {
  const int64_t row = (hw + 7) / 8;
  const int64_t full = hw / 8;
  at::parallel_for(0, planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* xp = x + p * hw;
      uint8_t* mp = mask + p * row;
      __m128 mx0 = _mm_set1_ps(-std::numeric_limits<float>::infinity()), mx1 = mx0;
      __m128 nan = _mm_setzero_ps();
      for (int64_t b = 0; b < full; ++b) {
        const __m128 a = _mm_loadu_ps(xp + 8 * b), c = _mm_loadu_ps(xp + 8 * b + 4);
        mx0 = _mm_max_ps(a, mx0);  // (a > mx) ? a : mx
        mx1 = _mm_max_ps(c, mx1);
        nan = _mm_or_ps(nan, _mm_or_ps(_mm_cmpunord_ps(a, a), _mm_cmpunord_ps(c, c)));
      }
      alignas(16) float lanes[8];
      _mm_store_ps(lanes, mx0);
      _mm_store_ps(lanes + 4, mx1);
      float m = lanes[0];
      for (int j = 1; j < 8; ++j) m = lanes[j] > m ? lanes[j] : m;
      bool any_nan = _mm_movemask_ps(nan) != 0;
      for (int64_t i = full * 8; i < hw; ++i) {
        m = xp[i] > m ? xp[i] : m;
        any_nan |= xp[i] != xp[i];
      }
      const float t = any_nan ? std::numeric_limits<float>::quiet_NaN() : theta * m;
      // Four float32 vectors (16 values) are added as a depth-2 tree, ((a + c) + (e + g)), then
      // widened to float64 and accumulated there: each value sees at most two float32 roundings
      // whatever the plane size (a relative error of at most ~1.2e-7 of the sum), at about the cost
      // of the plain float32 loop. Counts: int32 lanes (a kept lane's mask is -1), hw < 2^31.
      const __m128 tv = _mm_set1_ps(t);
      __m128d s0 = _mm_setzero_pd(), s1 = s0;
      __m128i n0 = _mm_setzero_si128(), n1 = n0;
      auto keep8 = [&](int64_t b, __m128& lo, __m128& hi) {
        const __m128 a = _mm_loadu_ps(xp + 8 * b), c = _mm_loadu_ps(xp + 8 * b + 4);
        const __m128 ka = _mm_cmpgt_ps(a, tv), kc = _mm_cmpgt_ps(c, tv);
        lo = _mm_and_ps(ka, a);
        hi = _mm_and_ps(kc, c);
        mp[b] = static_cast<uint8_t>(_mm_movemask_ps(ka) | (_mm_movemask_ps(kc) << 4));
        n0 = _mm_sub_epi32(n0, _mm_castps_si128(ka));
        n1 = _mm_sub_epi32(n1, _mm_castps_si128(kc));
      };
      auto widen_add = [&](__m128 v) {
        s0 = _mm_add_pd(s0, _mm_cvtps_pd(v));
        s1 = _mm_add_pd(s1, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
      };
      int64_t b = 0;
      for (; b + 1 < full; b += 2) {
        __m128 va, vc, ve, vg;
        keep8(b, va, vc);
        keep8(b + 1, ve, vg);
        widen_add(_mm_add_ps(_mm_add_ps(va, vc), _mm_add_ps(ve, vg)));
      }
      if (b < full) {
        __m128 va, vc;
        keep8(b, va, vc);
        widen_add(_mm_add_ps(va, vc));
      }
      alignas(16) int32_t lanes_n[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(lanes_n), n0);
      _mm_store_si128(reinterpret_cast<__m128i*>(lanes_n + 4), n1);
      int64_t n = 0;
      for (int j = 0; j < 8; ++j) n += lanes_n[j];
      alignas(16) double sums[2];
      _mm_store_pd(sums, _mm_add_pd(s0, s1));
      double total = sums[0] + sums[1];
      if (full < row) {
        unsigned bits = 0;
        for (int64_t i = full * 8; i < hw; ++i) {
          const bool k = xp[i] > t;
          total += k ? static_cast<double>(xp[i]) : 0.0;
          n += k;
          bits |= static_cast<unsigned>(k) << (i - full * 8);
        }
        mp[full] = static_cast<uint8_t>(bits);
      }
      count[p] = static_cast<float>(n);
      y[p] = any_nan ? std::numeric_limits<float>::quiet_NaN()
                     : static_cast<float>(total / static_cast<double>(std::max<int64_t>(n, 1)));
    }
  });
}

// 256 x 8 lane masks (all ones where the bit is set) to expand a mask byte into 8 floats.
const std::array<std::array<uint32_t, 8>, 256>& byte_lanes() {
  static const auto table = [] {
    std::array<std::array<uint32_t, 8>, 256> t{};
    for (int b = 0; b < 256; ++b)
      for (int j = 0; j < 8; ++j) t[b][j] = ((b >> j) & 1) ? 0xffffffffu : 0u;
    return t;
  }();
  return table;
}

void tap_backward_nchw_sse(const uint8_t* mask, const float* scale, int64_t planes, int64_t hw, float* dx) {
  const int64_t row = (hw + 7) / 8;
  const int64_t full = hw / 8;
  const auto& lanes = byte_lanes();
  at::parallel_for(0, planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const uint8_t* m = mask + p * row;
      float* out = dx + p * hw;
      const __m128 sv = _mm_set1_ps(scale[p]);
      for (int64_t b = 0; b < full; ++b) {
        const uint32_t* l = lanes[m[b]].data();
        const __m128 lo = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l)));
        const __m128 hi = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l + 4)));
        _mm_storeu_ps(out + 8 * b, _mm_and_ps(lo, sv));
        _mm_storeu_ps(out + 8 * b + 4, _mm_and_ps(hi, sv));
      }
      for (int64_t i = full * 8; i < hw; ++i) out[i] = ((m[i >> 3] >> (i & 7)) & 1) ? scale[p] : 0.0f;
    }
  });
}
#endif

// Vectorised float32 NCHW kernels where available; the generic loops otherwise.
template <typename scalar_t, typename acc_t>
bool tap_forward_nchw_fast(const scalar_t*, int64_t, int64_t, acc_t, scalar_t*, uint8_t*, acc_t*) {
  return false;
}
template <typename scalar_t, typename acc_t>
bool tap_backward_nchw_fast(const uint8_t*, const acc_t*, int64_t, int64_t, scalar_t*) {
  return false;
}
#if defined(__SSE2__)
inline bool tap_forward_nchw_fast(const float* x, int64_t planes, int64_t hw, float theta, float* y, uint8_t* mask,
                                  float* count) {
  tap_forward_nchw_sse(x, planes, hw, theta, y, mask, count);
  return true;
}
inline bool tap_backward_nchw_fast(const uint8_t* mask, const float* scale, int64_t planes, int64_t hw, float* dx) {
  tap_backward_nchw_sse(mask, scale, planes, hw, dx);
  return true;
}
#endif

// NHWC: channels are the contiguous inner dimension, so the reductions run over HW rows of a
// block of channel accumulators (vectorisable); mask rows of ceil(C / 8) bytes per (b, hw).
template <typename scalar_t, typename acc_t>
void tap_forward_nhwc(const scalar_t* x, int64_t batch, int64_t channels, int64_t hw, acc_t theta, scalar_t* y,
                      uint8_t* mask, acc_t* count) {
  constexpr int64_t kBlock = 256;  // channels per task, a multiple of 8 (whole mask bytes)
  const int64_t blocks = (channels + kBlock - 1) / kBlock;
  const int64_t row = (channels + 7) / 8;
  at::parallel_for(0, batch * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> mx(kBlock), thr(kBlock);
    std::vector<double> sum(kBlock);
    std::vector<int32_t> cnt(kBlock);
    std::vector<unsigned char> nan(kBlock), keep(kBlock), keep2(kBlock);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks;
      const int64_t c0 = (task % blocks) * kBlock;
      const int64_t nc = std::min(kBlock, channels - c0);
      const scalar_t* xb = x + b * hw * channels + c0;
      std::fill(mx.begin(), mx.begin() + nc, -std::numeric_limits<acc_t>::infinity());
      std::fill(nan.begin(), nan.begin() + nc, 0);
      for (int64_t i = 0; i < hw; ++i) {
        const scalar_t* r = xb + i * channels;
        for (int64_t c = 0; c < nc; ++c) {
          const acc_t v = static_cast<acc_t>(r[c]);
          mx[c] = v > mx[c] ? v : mx[c];
          nan[c] |= (v != v);
        }
      }
      for (int64_t c = 0; c < nc; ++c) {
        thr[c] = nan[c] ? std::numeric_limits<acc_t>::quiet_NaN() : theta * mx[c];
        sum[c] = 0;
        cnt[c] = 0;
      }
      // Two rows at a time: their kept values are added in acc_t (one rounding), then the pair is
      // accumulated in float64, so the error does not grow with the plane size; counts in int32
      // (hw < 2^31 is checked by the caller).
      auto pack = [&](int64_t i, const unsigned char* k) {
        uint8_t* mrow = mask + (b * hw + i) * row + c0 / 8;
        const int64_t whole = nc / 8;
        for (int64_t byte = 0; byte < whole; ++byte) {
          const unsigned char* kb = k + byte * 8;
          mrow[byte] = static_cast<uint8_t>(kb[0] | (kb[1] << 1) | (kb[2] << 2) | (kb[3] << 3) | (kb[4] << 4) |
                                            (kb[5] << 5) | (kb[6] << 6) | (kb[7] << 7));
        }
        if (whole * 8 < nc) {
          unsigned bits = 0;
          for (int64_t c = whole * 8; c < nc; ++c) bits |= unsigned(k[c]) << (c - whole * 8);
          mrow[whole] = static_cast<uint8_t>(bits);
        }
      };
      int64_t i = 0;
      for (; i + 1 < hw; i += 2) {
        const scalar_t* r0 = xb + i * channels;
        const scalar_t* r1 = r0 + channels;
        for (int64_t c = 0; c < nc; ++c) {
          const acc_t v0 = static_cast<acc_t>(r0[c]), v1 = static_cast<acc_t>(r1[c]);
          const bool k0 = v0 > thr[c], k1 = v1 > thr[c];
          const acc_t part = (k0 ? v0 : acc_t(0)) + (k1 ? v1 : acc_t(0));
          sum[c] += static_cast<double>(part);
          cnt[c] += static_cast<int32_t>(k0) + static_cast<int32_t>(k1);
          keep[c] = k0;
          keep2[c] = k1;
        }
        pack(i, keep.data());
        pack(i + 1, keep2.data());
      }
      if (i < hw) {
        const scalar_t* r = xb + i * channels;
        for (int64_t c = 0; c < nc; ++c) {
          const acc_t v = static_cast<acc_t>(r[c]);
          const bool k = v > thr[c];
          sum[c] += k ? static_cast<double>(v) : 0.0;
          cnt[c] += k;
          keep[c] = k;
        }
        pack(i, keep.data());
      }
      for (int64_t c = 0; c < nc; ++c) {
        const int64_t o = b * channels + c0 + c;
        count[o] = static_cast<acc_t>(cnt[c]);
        y[o] = static_cast<scalar_t>(nan[c] ? std::numeric_limits<double>::quiet_NaN()
                                            : sum[c] / static_cast<double>(std::max<int32_t>(cnt[c], 1)));
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
  TORCH_CHECK(HW < (int64_t(1) << 31),
              "tap_forward_cpu: planes of 2^31 or more elements are not supported, got H*W = ", HW);
  const auto acc = tap_acc_type(x.scalar_type());
  at::Tensor y = at::empty({B, C}, x.options());
  at::Tensor mask = at::empty(tap_mask_shape(x, layout), x.options().dtype(at::kByte));
  at::Tensor count = at::empty({B, C}, x.options().dtype(acc));
  if (x.numel() == 0) return {y, mask, count};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "tap_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t th = static_cast<acc_t>(theta);
    if (layout == at::MemoryFormat::ChannelsLast) {
      tap_forward_nhwc<scalar_t, acc_t>(x.const_data_ptr<scalar_t>(), B, C, HW, th, y.mutable_data_ptr<scalar_t>(),
                                        mask.mutable_data_ptr<uint8_t>(), count.mutable_data_ptr<acc_t>());
    } else {
      if (tap_forward_nchw_fast(x.const_data_ptr<scalar_t>(), B * C, HW, th, y.mutable_data_ptr<scalar_t>(),
                                mask.mutable_data_ptr<uint8_t>(), count.mutable_data_ptr<acc_t>())) {
        return;
      }
      tap_forward_nchw<scalar_t, acc_t>(x.const_data_ptr<scalar_t>(), B * C, HW, th, y.mutable_data_ptr<scalar_t>(),
                                        mask.mutable_data_ptr<uint8_t>(), count.mutable_data_ptr<acc_t>());
    }
  });
  return {y, mask, count};
}

at::Tensor tap_backward_cpu(const at::Tensor& grad_in, const at::Tensor& mask_in, const at::Tensor& count_in,
                            const at::Tensor& input) {
  check_tap_backward(grad_in, mask_in, count_in, input);
  const auto layout = tap_layout(input);
  const int64_t B = input.size(0), C = input.size(1), HW = input.size(2) * input.size(3);
  const auto acc = tap_acc_type(input.scalar_type());
  // Per-channel scale dy / max(count, 1) once, in the accumulation dtype.
  const at::Tensor scale = (grad_in.to(acc) / count_in.to(acc).clamp_min(1)).contiguous();
  const at::Tensor mask = mask_in.contiguous();
  at::Tensor dx = at::empty(input.sizes(), input.options().memory_format(layout));
  if (dx.numel() == 0) return dx;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "tap_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const uint8_t* mp = mask.const_data_ptr<uint8_t>();
    const acc_t* sp = scale.const_data_ptr<acc_t>();
    scalar_t* dp = dx.mutable_data_ptr<scalar_t>();
    if (layout == at::MemoryFormat::ChannelsLast) {
      const int64_t row = (C + 7) / 8;
      at::parallel_for(0, B * HW, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const acc_t* s = sp + (r / HW) * C;
          const uint8_t* m = mp + r * row;
          scalar_t* out = dp + r * C;
          for (int64_t c = 0; c < C; ++c) {
            out[c] = static_cast<scalar_t>(((m[c >> 3] >> (c & 7)) & 1) ? s[c] : acc_t(0));
          }
        }
      });
    } else {
      if (tap_backward_nchw_fast(mp, sp, B * C, HW, dp)) return;
      const int64_t row = (HW + 7) / 8;
      at::parallel_for(0, B * C, 16, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const uint8_t* m = mp + p * row;
          const scalar_t s = static_cast<scalar_t>(sp[p]);
          const scalar_t zero = static_cast<scalar_t>(0);
          scalar_t* out = dp + p * HW;
          const int64_t full = HW / 8;
          for (int64_t b = 0; b < full; ++b) {
            const unsigned bits = m[b];
            for (int j = 0; j < 8; ++j) out[b * 8 + j] = ((bits >> j) & 1u) ? s : zero;
          }
          for (int64_t i = full * 8; i < HW; ++i) out[i] = ((m[i >> 3] >> (i & 7)) & 1) ? s : zero;
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
