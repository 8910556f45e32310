// Streaming quantizer: plan, write the header, then convert one tensor at a time on the pool.
#include "quant/quantizer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/clock.h"
#include "gguf/gguf_writer.h"
#include "kernels/kernels.h"

namespace hangar::quant {
namespace {

// Drops the mapping's pages of converted input from this process (clean file pages, so a page
// shared with a chunk still being read is simply read again).
void release_pages(const uint8_t* data, uint64_t n) {
  static const uintptr_t kPage = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(data) / kPage * kPage;
  uintptr_t end = reinterpret_cast<uintptr_t>(data) + n;
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Converts `rows` rows of `cols` elements from src_type to dst_type, in parallel by rows.
void convert_tensor(const TensorPlan& p, const uint8_t* src, uint8_t* dst, ThreadPool& pool) {
  const int64_t cols = p.dims.empty() ? 1 : p.dims[0];
  if (cols == 0 || p.n_elements() == 0) return;  // an empty tensor has no rows
  const int64_t rows = p.n_elements() / cols;
  const int64_t src_row = tensor_row_bytes(p.src_type, cols);
  const int64_t dst_row = tensor_row_bytes(p.dst_type, cols);
  // About 64K elements per chunk: big enough to amortise dispatch, small enough to balance.
  const int64_t grain = std::max<int64_t>(1, 65536 / cols);
  std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()));
  pool.parallel_for(rows, grain, [&](int64_t begin, int64_t end, int ith) {
    std::vector<float>& row = scratch[static_cast<size_t>(ith)];
    row.resize(static_cast<size_t>(cols));
    for (int64_t r = begin; r < end; ++r) {
      kernels::dequantize_row(p.src_type, src + r * src_row, row.data(), cols);
      kernels::quantize_row(p.dst_type, row.data(), dst + r * dst_row, cols);
    }
    release_pages(src + begin * src_row, static_cast<uint64_t>((end - begin) * src_row));
  });
}

Status check_paths(const std::string& in_path, const std::string& out_path) {
  std::error_code ec;
  if (std::filesystem::exists(out_path, ec) && std::filesystem::equivalent(in_path, out_path, ec))
    return Error(out_path + ": output is the input file; expected a different path");
  return Status::Ok();
}

}  // namespace

Result<QuantizeSummary> quantize_file(const std::string& in_path, const std::string& out_path,
                                      const SchemeInfo& scheme, const PlanOptions& opts, ThreadPool& pool,
                                      const ProgressFn& on_tensor) {
  Stopwatch total;
  HANGAR_ASSIGN(gguf::File in, gguf::File::open(in_path));
  HANGAR_TRY(check_paths(in_path, out_path));
  HANGAR_ASSIGN(std::vector<TensorPlan> plans, plan_file(in, scheme, opts));

  gguf::Writer w;
  for (const auto& [key, value] : in.metadata()) w.set(key, value);
  w.set("general.quantization_version", gguf::Value::u32(2));
  w.set("general.file_type", gguf::Value::u32(scheme.file_type));
  if (in.alignment() != gguf::kDefaultAlignment) w.set_alignment(in.alignment());
  for (const auto& p : plans) w.add_tensor_spec({p.name, p.dst_type, p.dims});
  HANGAR_TRY(w.begin(out_path));

  QuantizeSummary sum;
  sum.n_tensors = plans.size();
  std::vector<uint8_t> out;
  const auto& infos = in.tensors();
  uint64_t bytes_in_total = 0;
  for (size_t i = 0; i < plans.size(); ++i) bytes_in_total += infos[i].n_bytes;
  for (size_t i = 0; i < plans.size(); ++i) {
    Stopwatch sw;
    const TensorPlan& p = plans[i];
    const gguf::TensorInfo& t = infos[i];
    const uint64_t n_out = gguf::TensorSpec{p.name, p.dst_type, p.dims}.n_bytes();
    Status st;
    if (p.dst_type == p.src_type) {
      st = w.write_tensor_data(t.data, t.n_bytes);
    } else {
      out.resize(n_out);
      convert_tensor(p, t.data, out.data(), pool);
      st = w.write_tensor_data(out.data(), out.size());
    }
    if (!st.ok()) return st.error();  // the writer has removed the partial file
    // Again as a whole: fault-around maps neighbours of pages that chunks had already released.
    release_pages(t.data, t.n_bytes);
    sum.n_quantized += p.quantized;
    sum.n_fallback += p.note.starts_with("fallback");
    sum.n_elements += p.n_elements();
    sum.bytes_in += t.n_bytes;
    sum.bytes_out += n_out;
    if (on_tensor) on_tensor({i, plans.size(), &p, t.n_bytes, n_out, sw.elapsed_s(), sum.bytes_in, bytes_in_total});
  }
  // Keep the largest buffer from outliving its use while the file is synced.
  std::vector<uint8_t>().swap(out);
  HANGAR_TRY(w.finish());
  sum.seconds = total.elapsed_s();
  return sum;
}

}  // namespace hangar::quant
