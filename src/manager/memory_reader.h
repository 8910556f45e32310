// MemoryReader: the process's RSS and how much memory the machine (or its cgroup) has left.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace hangar::manager
