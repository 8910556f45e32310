// Linux memory readings from /proc and cgroup v2.
#include "manager/memory_reader.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "manager/units.h"

namespace hangar::manager {
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s.front()))) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

uint64_t MemorySnapshot::headroom() const {
  uint64_t room = system_available;
  if (cgroup_limit && cgroup_current) {
    uint64_t cg = *cgroup_limit > *cgroup_current ? *cgroup_limit - *cgroup_current : 0;
    room = std::min(room, cg);
  }
  return room;
}

std::optional<uint64_t> parse_meminfo_kb(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        line[key.size()] == ':') {
      auto kb = parse_u64(line.substr(key.size() + 1));
      if (kb) return *kb * 1024;
    }
  }
  return std::nullopt;
}

std::optional<std::string> parse_cgroup_v2_path(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    // The v2 entry is "0::<path>"; v1 entries have a controller list between the colons.
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_cgroup_bytes(std::string_view text) { return parse_u64(text); }

MemorySnapshot ProcMemoryReader::read() {
  MemorySnapshot s;
  if (auto status = read_text(proc_root_ + "/self/status")) {
    s.process_rss = parse_meminfo_kb(*status, "VmRSS").value_or(0);
  }
  if (auto meminfo = read_text(proc_root_ + "/meminfo")) {
    s.system_total = parse_meminfo_kb(*meminfo, "MemTotal").value_or(0);
    s.system_available = parse_meminfo_kb(*meminfo, "MemAvailable").value_or(0);
  }
  auto cg_text = read_text(proc_root_ + "/self/cgroup");
  auto cg_path = cg_text ? parse_cgroup_v2_path(*cg_text) : std::nullopt;
  if (!cg_path) return s;
  // A limit may sit on any ancestor; the one with the least headroom is what binds us.
  std::filesystem::path rel = std::filesystem::path(*cg_path).relative_path();
  for (;;) {
    std::string dir = (std::filesystem::path(cgroup_root_) / rel).string();
    auto max_text = read_text(dir + "/memory.max");
    auto cur_text = read_text(dir + "/memory.current");
    auto limit = max_text ? parse_cgroup_bytes(*max_text) : std::nullopt;
    auto current = cur_text ? parse_cgroup_bytes(*cur_text) : std::nullopt;
    if (limit && current) {
      uint64_t room = *limit > *current ? *limit - *current : 0;
      uint64_t best = s.cgroup_limit ? (*s.cgroup_limit > *s.cgroup_current
                                            ? *s.cgroup_limit - *s.cgroup_current
                                            : 0)
                                     : UINT64_MAX;
      if (room < best) {
        s.cgroup_limit = limit;
        s.cgroup_current = current;
      }
    }
    if (rel.empty() || rel == rel.parent_path()) break;
    rel = rel.parent_path();
  }
  return s;
}

uint64_t auto_memory_budget(const MemorySnapshot& s, double fraction) {
  return static_cast<uint64_t>(static_cast<double>(s.process_rss + s.headroom()) * fraction);
}

uint64_t gpu_memory_margin(uint64_t free_bytes) {
  return std::max<uint64_t>(free_bytes / 20, uint64_t{512} << 20);
}

Result<uint64_t> gpu_memory_budget(const std::string& value, const GpuMemoryReader& free_gpu, std::string* reason) {
  std::string why;
  uint64_t budget = 0;
  const Result<uint64_t> free = free_gpu ? free_gpu() : Result<uint64_t>(Error("no GPU reader"));
  if (value == "auto") {
    if (!free.ok()) {
      why = "auto: no GPU (" + free.error().message() + "), no GPU tier";
    } else {
      const uint64_t margin = gpu_memory_margin(*free);
      budget = *free > margin ? *free - margin : 0;
      why = "auto: " + format_bytes(*free) + " of GPU memory free less a margin of " + format_bytes(margin);
      // A GPU too full to leave anything: no tier rather than a budget nothing fits.
      if (budget == 0) why += ": nothing left, no GPU tier";
    }
  } else {
    HANGAR_ASSIGN(budget, parse_bytes(value, "--gpu-memory-budget"));
    if (budget != 0 && !free.ok()) return Error("--gpu-memory-budget " + value + ": no GPU (" + free.error().message() + ")");
    why = budget ? "fixed: --gpu-memory-budget " + format_bytes(budget) : "--gpu-memory-budget 0: no GPU tier";
  }
  if (reason != nullptr) *reason = why;
  return budget;
}

}  // namespace hangar::manager
