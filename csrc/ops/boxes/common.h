// Build switches and constants shared by the box kernel's headers (csrc/ops/boxes/).
#pragma once

#include <stdint.h>

// WSOLX_BOXES_NO_SIMD forces the portable code that the CUDA kernel runs (tests of that path).
#if defined(__SSE2__) && !defined(__CUDACC__) && !defined(WSOLX_BOXES_NO_SIMD)
#include <emmintrin.h>
#define WSOLX_BOXES_SSE2 1
#endif

#include "ops/cubic_resize.h"  // defines WSOLX_HD

#ifdef __CUDACC__
#define WSOLX_NOINLINE
#else
#define WSOLX_NOINLINE __attribute__((noinline))
#endif

namespace wsolx {
namespace boxes {

// Distinct values of a quantised map (uint8).
constexpr int kLevels = 256;

// Column stripes: the pixels of one level are visited stripe by stripe (raster order inside a
// stripe), so consecutive pixels mostly stay on one component and the register accumulator of the
// foreground pass changes root far less often (CAM-like 224x224 maps: ~0.28 -> 0.23 ms per map).
// Eight independent stripes also let the counting sort run eight store chains at once. The device
// uses one stripe: its per-thread arrays live in scarce local memory.
#if defined(WSOLX_BOXES_STRIPES)
constexpr int kStripes = WSOLX_BOXES_STRIPES;  // tests of other stripe counts
#elif defined(__CUDA_ARCH__)
constexpr int kStripes = 1;
#else
constexpr int kStripes = 8;
#endif

}  // namespace boxes
}  // namespace wsolx
