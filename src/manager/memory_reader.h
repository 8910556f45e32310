// MemoryReader: the process's RSS and how much memory the machine (or its cgroup) has left.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hangar::manager {

struct MemorySnapshot {
  uint64_t process_rss = 0;       // VmRSS of this process
  uint64_t system_total = 0;      // MemTotal
  uint64_t system_available = 0;  // MemAvailable (what can be had without swapping)
  // The tightest cgroup v2 memory.max on the path from our cgroup to the root, and that
  // cgroup's memory.current; nullopt when no ancestor has a limit.
  std::optional<uint64_t> cgroup_limit;
  std::optional<uint64_t> cgroup_current;

  // Bytes this process could still grow by: the system's available memory, capped by the
  // cgroup's headroom.
  uint64_t headroom() const;
};

// Injected into the cache's monitor and the preloader; tests pass a fake.
class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  // Thread-safe.
  virtual MemorySnapshot read() = 0;
};

// Reads Linux's /proc and cgroup v2 files. Roots are parameters so that tests can point it at
// a fake tree. Fields that cannot be read stay 0 / nullopt (a container without /sys is fine).
class ProcMemoryReader final : public MemoryReader {
 public:
  explicit ProcMemoryReader(std::string proc_root = "/proc",
                            std::string cgroup_root = "/sys/fs/cgroup")
      : proc_root_(std::move(proc_root)), cgroup_root_(std::move(cgroup_root)) {}
  MemorySnapshot read() override;

 private:
  std::string proc_root_, cgroup_root_;
};

// Parsers for the files above (exposed for tests). Each returns nullopt when the field is absent.
std::optional<uint64_t> parse_meminfo_kb(std::string_view text, std::string_view key);  // bytes
std::optional<std::string> parse_cgroup_v2_path(std::string_view proc_self_cgroup);
// memory.max holds a byte count or "max" (no limit -> nullopt).
std::optional<uint64_t> parse_cgroup_bytes(std::string_view text);

// The budget for `--memory-budget auto`: `fraction` of what this process can have (its current
// RSS plus the headroom).
uint64_t auto_memory_budget(const MemorySnapshot& s, double fraction = 0.8);

// Free GPU memory in bytes now, or an Error saying why there is no GPU to read (none on the
// machine, a build without a GPU backend). Injected: serve passes the GPU backend's reading,
// tests a fake.
using GpuMemoryReader = std::function<Result<uint64_t>()>;
// What --gpu-memory-budget auto leaves to the CUDA context, graphs and other processes' use:
// 5% of the free memory, at least 512 MiB.
uint64_t gpu_memory_margin(uint64_t free_bytes);
// The GPU budget of `--gpu-memory-budget VALUE`: a size (8G, 512Mi; 0: no GPU tier), or "auto":
// the free GPU memory less gpu_memory_margin(), and 0 (no GPU tier) without a GPU. `reason`
// (optional) says how it was reached. Errors name the flag: a bad size, or a size other than 0
// without a GPU (the reader's reason).
Result<uint64_t> gpu_memory_budget(const std::string& value, const GpuMemoryReader& free_gpu,
                                   std::string* reason = nullptr);

}  // namespace hangar::manager
