// Test driver: runs the box kernel (csrc/ops/boxes/) as a plain C++ program, so the tests can check build
// configurations the extension does not use on this machine (the portable code the CUDA kernel
// runs: -DWSOLX_BOXES_NO_SIMD -DWSOLX_BOXES_STRIPES=1; other stripe counts).
//
// Input file:  int32 N, h, w, H, W, T, multi, normalize, paper; float32 raw CAMs (N, h, w);
//              float64 thresholds (T,); float64 percentile. Each CAM is resized to (H, W) and
//              quantised by cubic_resize.h, then boxed (the fused path of the extension).
// Output file: single box: int32 (N, T, 4); multi box: per map and threshold an int32 count and
//              that many [x0, y0, x1, y1] boxes in increasing lexicographic order.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "ops/boxes/map_boxes.h"

namespace {

using Box = std::array<int32_t, 4>;

struct Collect {
  std::vector<std::vector<Box>>* groups;
  void box(int j, int x0, int y0, int x1, int y1) { (*groups)[j].push_back({x0, y0, x1, y1}); }
  void best(int j, int x0, int y0, int x1, int y1) { (*groups)[j].push_back({x0, y0, x1, y1}); }
};

bool read_all(FILE* f, void* dst, size_t size, size_t count) { return fread(dst, size, count, f) == count; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s INPUT OUTPUT\n", argv[0]);
    return 2;
  }
  FILE* in = fopen(argv[1], "rb");
  if (!in) return 3;
  int32_t hdr[9];
  if (!read_all(in, hdr, 4, 9)) return 4;
  const int N = hdr[0], h = hdr[1], w = hdr[2], H = hdr[3], W = hdr[4], T = hdr[5];
  const bool multi = hdr[6] != 0, normalize = hdr[7] != 0, paper = hdr[8] != 0;
  std::vector<float> maps(static_cast<size_t>(N) * h * w);
  std::vector<double> thresholds(static_cast<size_t>(T));
  double percentile = 100.0;
  if (!read_all(in, maps.data(), 4, maps.size()) || !read_all(in, thresholds.data(), 8, thresholds.size()) ||
      !read_all(in, &percentile, 8, 1))
    return 4;
  fclose(in);

  wsolx::boxes::RingTables tables;
  tables.build();
  wsolx::boxes::StrideTables strides;
  strides.build(tables, W);
  std::vector<wsolx::cubic::Tap> tx(static_cast<size_t>(W)), ty(static_cast<size_t>(H));
  wsolx::cubic::make_taps(W, w, tx.data());
  wsolx::cubic::make_taps(H, h, ty.data());
  std::vector<int32_t> ws(static_cast<size_t>(wsolx::boxes::workspace_words(H, W)) + 8);
  int32_t* aligned = ws.data();
  while (reinterpret_cast<uintptr_t>(aligned) % 32 != 0) ++aligned;
  std::vector<int32_t> jorder(static_cast<size_t>(T));
  std::vector<int32_t> out;
  for (int n = 0; n < N; ++n) {
    std::vector<std::vector<Box>> groups(static_cast<size_t>(T));
    Collect emit{&groups};
    wsolx::boxes::MapBoxes<Collect> map(H, W, aligned, jorder.data(), tables, strides, emit);
    const int status =
        map.quantize_cam(maps.data() + static_cast<size_t>(n) * h * w, h, w, tx.data(), ty.data(), normalize);
    if (status != wsolx::cubic::kQuantizeOk) {
      fprintf(stderr, "map %d: bad score map (status %d)\n", n, status);
      return 7;
    }
    map.run(thresholds.data(), T, percentile, !multi, multi, paper);
    for (auto& g : groups) {
      if (multi) {
        std::sort(g.begin(), g.end());
        out.push_back(static_cast<int32_t>(g.size()));
      } else if (g.size() != 1) {
        fprintf(stderr, "single-box mode gave %zu boxes\n", g.size());
        return 5;
      }
      for (const Box& b : g) out.insert(out.end(), b.begin(), b.end());
    }
  }
  FILE* o = fopen(argv[2], "wb");
  if (!o || fwrite(out.data(), 4, out.size(), o) != out.size()) return 6;
  fclose(o);
  return 0;
}
