// `hangar quantize IN OUT TYPE`: writes a quantized copy of an F32/F16/BF16 GGUF model.
#include <cstdio>
#include <iostream>

#include "base/progress.h"
#include "cli/common.h"
#include "kernels/kernels.h"
#include "quant/quantizer.h"

namespace hangar::cli {
namespace {

struct QuantizeOptions {
  std::string in_path, out_path, type;
  int threads = 0;
  bool keep_output = false;
  bool quiet = false;
  std::string token_embedding_type;
};

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

double mib(uint64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

int quantize(const QuantizeOptions& o) {
  auto scheme = quant::parse_scheme(o.type);
  if (!scheme.ok()) return fail(scheme.error().message());
  quant::PlanOptions plan;
  plan.keep_output = o.keep_output;
  if (!o.token_embedding_type.empty()) {
    auto t = tensor_type_from_name(o.token_embedding_type);
    if (!t || !kernels::is_supported_weight_type(*t))
      return fail("--token-embedding-type: \"" + o.token_embedding_type +
                  "\" is not a supported weight type (expected e.g. F16, Q8_0, Q6_K, Q4_K)");
    plan.token_embedding_type = *t;
  }
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::physical_cores());
  if (!o.quiet)
    std::printf("hangar quantize: %s -> %s as %s on %d threads\n", o.in_path.c_str(), o.out_path.c_str(),
                scheme->name, pool.size());
  // The per-tensor report scrolls on stdout; the progress line stays below it on a terminal.
  SteadyClock clock;
  Progress bar(clock, std::cerr, !o.quiet && stderr_is_terminal(), "quantize", Progress::Unit::kBytes);
  auto progress = [&](const quant::TensorProgress& p) {
    if (o.quiet) return;
    bar.set_total(double(p.bytes_in_total));
    bar.clear();
    const int width = static_cast<int>(std::to_string(p.count).size());
    std::printf("[%*zu/%zu] %-32s %-5s -> %-5s %-16s %9.2f MiB -> %9.2f MiB  %.2fs%s%s\n", width, p.index + 1,
                p.count, p.plan->name.c_str(), tensor_type_name(p.plan->src_type).c_str(),
                tensor_type_name(p.plan->dst_type).c_str(), dims_text(p.plan->dims).c_str(), mib(p.bytes_in),
                mib(p.bytes_out), p.seconds, p.plan->note.empty() ? "" : "  ", p.plan->note.c_str());
    std::fflush(stdout);
    bar.update(double(p.bytes_in_done), "tensor " + std::to_string(p.index + 1) + "/" + std::to_string(p.count));
  };
  auto sum = quant::quantize_file(o.in_path, o.out_path, *scheme, plan, pool, progress);
  bar.finish();
  if (!sum.ok()) return fail(sum.error().message());
  std::printf(
      "hangar quantize: %zu tensors (%zu quantized, %zu fallback), %.2f MiB -> %.2f MiB, "
      "%.2f bits per weight, %.1f s\n",
      sum->n_tensors, sum->n_quantized, sum->n_fallback, mib(sum->bytes_in), mib(sum->bytes_out),
      sum->bits_per_weight(), sum->seconds);
  return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "write a quantized copy of an F32/F16/BF16 GGUF model");
  cmd->add_option("input", opts->in_path, "input GGUF (F32, F16 or BF16 weights)")->required();
  cmd->add_option("output", opts->out_path, "output GGUF")->required();
  cmd->add_option(
         "type", opts->type,
         "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, or the mixes Q4_K_M, Q5_K_M, Q4_K_S, Q5_K_S")
      ->required();
  cmd->add_option("-t,--threads", opts->threads, "threads (default: physical cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", opts->quiet, "print only the summary: no per-tensor lines, no progress");
  cmd->add_flag("--keep-output", opts->keep_output, "leave output.weight in its input type");
  cmd->add_option("--token-embedding-type", opts->token_embedding_type, "type for token_embd.weight");
  cmd->callback([opts, &exit_code] { exit_code = quantize(*opts); });
}

}  // namespace hangar::cli
