// The CUDA entry points of a build without the CUDA toolkit: no GPU, and a clear error.
#include "model/backend.h"

namespace hangar::model {

bool cuda_built() { return false; }
bool cuda_device_present() { return false; }
std::string cuda_probe_message() { return "built without CUDA"; }
Result<GpuMemory> cuda_memory() { return Error("no CUDA device: this hangar was built without CUDA"); }

Result<std::unique_ptr<Backend>> make_cuda_backend(const Model&, ThreadPool&, const BackendOptions&) {
  return Error("device cuda: this hangar was built without CUDA (configure with -DHANGAR_CUDA=ON)");
}

}  // namespace hangar::model
