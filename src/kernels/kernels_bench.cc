// kernels_bench: memory read bandwidth, then matvec (decode) and batched matmul (prefill)
// throughput per weight type and thread count. Prints figures; asserts nothing.
//
// Usage: kernels_bench [--quick] [--cpu-time] [--cached] [--ggml-layout]
//                      [--isa scalar|avx2|avx512|avx512vnni]
//                      [--types q4_K,q8_0,...] [--shapes RxC,...] [--only decode|prefill|sweep|model] [--threads N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/kernels.h"

namespace hangar::kernels {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// With --cpu-time, runs are timed by the calling thread's CPU time instead of wall time: on a
// machine shared with other jobs this measures the kernel's own cost (meaningful for 1 thread).
bool g_cpu_time = false;
// With --cached, decode reuses one matrix (cache-resident when small): the kernels' compute
// speed rather than the memory's.
bool g_cached = false;
// With --ggml-layout, Q5_0 matrices stay in ggml layout instead of the row pairs a model loaded
// into memory uses on AVX-512 (pack_row_pairs).
bool g_ggml_layout = false;

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Deterministic pseudo-random floats in about [-1, 1].
std::vector<float> noise(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 747796405u + 2891336453u;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = static_cast<float>(s) * 0x1p-31f - 1.0f;
  }
  return v;
}

// Runs fn until `min_seconds` have passed (at least `min_runs` times) after one warm-up run;
// returns the median time of one run (the minimum with --cpu-time).
template <typename F>
double time_median(F&& fn, double min_seconds, int min_runs = 3) {
  fn();
  std::vector<double> t;
  const auto start = Clock::now();
  while (static_cast<int>(t.size()) < min_runs || seconds_since(start) < min_seconds) {
    const double t0 = now_seconds();
    fn();
    t.push_back(now_seconds() - t0);
  }
  std::sort(t.begin(), t.end());
  // CPU time is disturbed only upwards (cache and memory contention): take the best run.
  return g_cpu_time ? t.front() : t[t.size() / 2];
}

// Streams through a buffer much larger than the caches, summing 64-bit words.
double read_bandwidth(ThreadPool& pool, size_t bytes) {
  std::vector<uint64_t> buf(bytes / 8);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  volatile uint64_t sink = 0;
  const double t = time_median(
      [&] {
        std::vector<uint64_t> partial(static_cast<size_t>(pool.size()), 0);
        pool.run([&](int ith, int nth) {
          const size_t n = buf.size(), b = n * static_cast<size_t>(ith) / static_cast<size_t>(nth),
                       e = n * static_cast<size_t>(ith + 1) / static_cast<size_t>(nth);
          uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (size_t i = b; i + 4 <= e; i += 4) {
            s0 += buf[i];
            s1 += buf[i + 1];
            s2 += buf[i + 2];
            s3 += buf[i + 3];
          }
          partial[static_cast<size_t>(ith)] = s0 + s1 + s2 + s3;
        });
        uint64_t s = 0;
        for (uint64_t p : partial) s += p;
        sink = sink + s;
      },
      1.0);
  return static_cast<double>(bytes) / t / 1e9;
}

// `copies` matrices of rows x cols (distinct memory, so that cycling through them reads DRAM
// rather than cache), filled from a few quantized random rows.
struct BenchMatrices {
  std::vector<uint8_t> storage;
  std::vector<Matrix> m;
  size_t bytes_each = 0;
};

BenchMatrices make_matrices(TensorType type, int64_t rows, int64_t cols, int copies, ThreadPool& pool) {
  BenchMatrices b;
  const size_t row_bytes = static_cast<size_t>(tensor_row_bytes(type, cols));
  b.bytes_each = row_bytes * static_cast<size_t>(rows);
  b.storage.resize(b.bytes_each * static_cast<size_t>(copies));
  constexpr int kDistinctRows = 16;
  std::vector<uint8_t> proto(row_bytes * kDistinctRows);
  for (int r = 0; r < kDistinctRows; ++r) {
    const auto w = noise(cols, static_cast<uint32_t>(r + 1));
    quantize_row(type, w.data(), proto.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  for (int c = 0; c < copies; ++c) {
    uint8_t* base = b.storage.data() + b.bytes_each * static_cast<size_t>(c);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(base + static_cast<size_t>(r) * row_bytes,
                  proto.data() + static_cast<size_t>(r % kDistinctRows) * row_bytes, row_bytes);
    b.m.push_back(Matrix{type, base, rows, cols, row_bytes});
    if (!g_ggml_layout) pack_row_pairs(b.m.back(), base, pool);
  }
  return b;
}

struct Shape {
  int64_t rows, cols;
};

void bench_decode(const std::vector<TensorType>& types, const std::vector<Shape>& shapes,
                  const std::vector<int>& threads, double min_seconds, double bw1, double bw2) {
  std::printf("\n== decode: matvec (1 token), weights read from DRAM ==\n");
  std::printf("%-6s %-14s %3s %9s %9s %9s %8s\n", "type", "rows x cols", "thr", "us", "GB/s",
              "GFLOP/s", "%bw");
  for (TensorType type : types) {
    for (const Shape& s : shapes) {
      if (s.cols % tensor_type_info(type).block_elems != 0) {
        std::printf("%-6s %6lldx%-7lld skipped: columns not a multiple of the block size\n",
                    tensor_type_name(type).c_str(), static_cast<long long>(s.rows), static_cast<long long>(s.cols));
        continue;
      }
      const size_t bytes = static_cast<size_t>(tensor_row_bytes(type, s.cols) * s.rows);
      const int copies = g_cached ? 1 : static_cast<int>(std::max<size_t>(1, (320u << 20) / bytes + 1));
      ThreadPool setup_pool(2);
      BenchMatrices bm = make_matrices(type, s.rows, s.cols, copies, setup_pool);
      const auto x = noise(s.cols, 99);
      std::vector<float> y(static_cast<size_t>(s.rows));
      MatmulScratch scratch;
      for (int nth : threads) {
        ThreadPool pool(nth);
        size_t next = 0;
        const double t = time_median(
            [&] {
              matmul(bm.m[next], x.data(), 1, s.cols, y.data(), s.rows, pool, scratch);
              next = (next + 1) % bm.m.size();
            },
            min_seconds, 10);
        const double gbs = static_cast<double>(bytes) / t / 1e9;
        std::printf("%-6s %6lldx%-7lld %3d %9.1f %9.2f %9.2f %7.0f%%\n", tensor_type_name(type).c_str(),
                    static_cast<long long>(s.rows), static_cast<long long>(s.cols), nth, t * 1e6, gbs,
                    2.0 * s.rows * s.cols / t / 1e9, 100.0 * gbs / (nth == 1 ? bw1 : bw2));
      }
    }
  }
}

// Returns seconds per call.
double bench_prefill_one(TensorType type, const Shape& s, int64_t n_tokens, ThreadPool& pool,
                         double min_seconds) {
  BenchMatrices bm = make_matrices(type, s.rows, s.cols, 1, pool);
  const auto x = noise(s.cols * n_tokens, 7);
  std::vector<float> y(static_cast<size_t>(s.rows * n_tokens));
  MatmulScratch scratch;
  return time_median(
      [&] { matmul(bm.m[0], x.data(), n_tokens, s.cols, y.data(), s.rows, pool, scratch); },
      min_seconds, 2);
}

void bench_prefill(const std::vector<TensorType>& types, const std::vector<Shape>& shapes,
                   const std::vector<int>& threads, int64_t n_tokens, double min_seconds) {
  std::printf("\n== prefill: matmul with %lld tokens ==\n", static_cast<long long>(n_tokens));
  std::printf("%-6s %-14s %3s %10s %10s %10s\n", "type", "rows x cols", "thr", "ms", "GFLOP/s", "tok/s");
  for (TensorType type : types)
    for (const Shape& s : shapes)
      for (int nth : threads) {
        ThreadPool pool(nth);
        const double t = bench_prefill_one(type, s, n_tokens, pool, min_seconds);
        std::printf("%-6s %6lldx%-7lld %3d %10.2f %10.1f %10.1f\n", tensor_type_name(type).c_str(),
                    static_cast<long long>(s.rows), static_cast<long long>(s.cols), nth, t * 1e3,
                    2.0 * s.rows * s.cols * n_tokens / t / 1e9, n_tokens / t);
      }
}

// Token-count sweep of one shape: where the tiled kernel starts to beat the direct one.
void bench_batch_sweep(TensorType type, const Shape& s, ThreadPool& pool, double min_seconds) {
  std::printf("\n== batch sweep %s %lldx%lld, %d threads: us per token ==\n", tensor_type_name(type).c_str(),
              static_cast<long long>(s.rows), static_cast<long long>(s.cols), pool.size());
  for (int64_t nt : {1, 2, 4, 6, 8, 12, 16, 24, 32, 64}) {
    const double t = bench_prefill_one(type, s, nt, pool, min_seconds);
    std::printf("  %3lld tokens: %8.1f us/token\n", static_cast<long long>(nt), t * 1e6 / nt);
  }
}

// The matmuls of one prefill of a llama-3.2-1B-shaped Q4_K_M model (16 layers, n_embd 2048,
// n_ff 8192, 8 KV heads of 64, vocab 128256), attention itself excluded.
void bench_model_prefill(ThreadPool& pool, int64_t n_tokens, double min_seconds) {
  struct Mm { TensorType type; Shape s; int count; };
  const TensorType q4 = TensorType::kQ4_K, q6 = TensorType::kQ6_K;
  // llama.cpp's Q4_K_M gives attn_v and ffn_down Q6_K in about half of the layers.
  const std::vector<Mm> mms = {
      {q4, {2048, 2048}, 32}, {q4, {512, 2048}, 16 + 8}, {q6, {512, 2048}, 8},
      {q4, {8192, 2048}, 32}, {q4, {2048, 8192}, 8},     {q6, {2048, 8192}, 8},
      {q6, {128256, 2048}, 1}};
  double total = 0, output = 0;
  std::printf("\n== llama-1B-shaped Q4_K_M prefill, %lld tokens, %d threads (matmuls only) ==\n",
              static_cast<long long>(n_tokens), pool.size());
  for (const Mm& m : mms) {
    const double t = bench_prefill_one(m.type, m.s, n_tokens, pool, min_seconds);
    std::printf("  %-5s %6lldx%-5lld x%2d: %8.1f ms\n", tensor_type_name(m.type).c_str(),
                static_cast<long long>(m.s.rows), static_cast<long long>(m.s.cols), m.count, t * m.count * 1e3);
    total += t * m.count;
    if (m.s.rows == 128256) output = t * m.count;
  }
  std::printf("  total %.1f ms -> %.1f tok/s\n", total * 1e3, n_tokens / total);
  // A prompt needs logits for its last token only (as llama-bench's pp test measures).
  std::printf("  without the output projection of all but the last token: %.1f tok/s\n",
              n_tokens / (total - output));
}

int run(int argc, char** argv) {
  bool quick = false;
  std::string only;  // decode, prefill, sweep or model
  int n_threads = 0;  // 0: 1 and 2
  std::vector<TensorType> types = {TensorType::kQ4_K, TensorType::kQ6_K, TensorType::kQ8_0, TensorType::kF16};
  std::vector<Shape> decode_shapes = {{2048, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--cpu-time") {
      g_cpu_time = true;
    } else if (a == "--cached") {
      g_cached = true;
    } else if (a == "--ggml-layout") {
      g_ggml_layout = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      n_threads = std::atoi(argv[++i]);
    } else if (a == "--isa" && i + 1 < argc) {
      const std::string v = argv[++i];
      bool found = false;
      for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni})
        if (v == isa_name(isa) && static_cast<int>(isa) <= static_cast<int>(best_isa())) {
          set_active_isa(isa);
          found = true;
        }
      if (!found) {
        std::fprintf(stderr, "kernels_bench: --isa %s is unknown or unsupported here\n", v.c_str());
        return 2;
      }
    } else if (a == "--shapes" && i + 1 < argc) {
      // rows x cols pairs for the decode table, e.g. 896x896,4864x896 (a model's own shapes).
      decode_shapes.clear();
      std::string list = argv[++i];
      for (size_t p = 0; p < list.size();) {
        const size_t q = std::min(list.find(',', p), list.size());
        long long r = 0, c = 0;
        if (std::sscanf(list.substr(p, q - p).c_str(), "%lldx%lld", &r, &c) != 2 || r <= 0 || c <= 0 || c % 32 != 0) {
          std::fprintf(stderr, "kernels_bench: bad shape '%s' (expected ROWSxCOLS)\n", list.substr(p, q - p).c_str());
          return 2;
        }
        decode_shapes.push_back({r, c});
        p = q + 1;
      }
    } else if (a == "--types" && i + 1 < argc) {
      types.clear();
      std::string list = argv[++i];
      for (size_t p = 0; p <= list.size();) {
        const size_t q = std::min(list.find(',', p), list.size());
        const auto t = tensor_type_from_name(list.substr(p, q - p));
        if (!t || !is_supported_weight_type(*t)) {
          std::fprintf(stderr, "kernels_bench: unknown weight type '%s'\n", list.substr(p, q - p).c_str());
          return 2;
        }
        types.push_back(*t);
        p = q + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: kernels_bench [--quick] [--cpu-time] [--cached] [--ggml-layout] [--isa NAME]\n"
                   "                     [--types a,b,...]\n"
                   "                     [--shapes RxC,...]\n"
                   "                     [--only decode|prefill|sweep|model] [--threads N]\n");
      return 2;
    }
  }
  const double min_s = quick ? 0.2 : 1.0;
  std::printf("kernels_bench: isa %s (best %s), %d physical cores\n", isa_name(active_isa()),
              isa_name(best_isa()), ThreadPool::physical_cores());
  std::vector<int> thread_list = {1, 2};
  if (n_threads > 0) thread_list = {n_threads};
  ThreadPool pool1(1), pool2(2), pool_n(n_threads > 0 ? n_threads : 2);
  if (only.empty() || only == "decode") {
    const double bw1 = read_bandwidth(pool1, size_t{1} << 30);
    const double bw2 = read_bandwidth(pool2, size_t{1} << 30);
    std::printf("read bandwidth (1 GiB streaming sum): 1 thread %.2f GB/s, 2 threads %.2f GB/s\n", bw1, bw2);
    bench_decode(types, decode_shapes, thread_list, min_s, bw1, bw2);
  }
  if (only.empty() || only == "prefill") {
    const std::vector<Shape> pshapes = {{2048, 2048}, {8192, 2048}, {2048, 8192}};
    bench_prefill(types, pshapes, thread_list, 512, min_s);
  }
  if (only.empty() || only == "sweep") bench_batch_sweep(types[0], {2048, 2048}, pool_n, min_s / 2);
  if (only.empty() || only == "model") bench_model_prefill(pool_n, 512, min_s / 2);
  return 0;
}

}  // namespace
}  // namespace hangar::kernels

int main(int argc, char** argv) { return hangar::kernels::run(argc, argv); }
