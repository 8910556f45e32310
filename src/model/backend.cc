// Device names and the choice of backend.
#include "model/backend.h"

#include <string>

namespace hangar::model {

const char* device_name(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

Result<Device> resolve_device(std::string_view name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "auto") return cuda_device_present() ? Device::kCuda : Device::kCpu;
  if (name == "cuda") {
    if (!cuda_device_present()) {
      if (!cuda_built())
        return Error("device cuda: this hangar was built without CUDA (configure with -DHANGAR_CUDA=ON)");
      return Error("device cuda: no CUDA GPU found (" + cuda_probe_message() + ")");
    }
    return Device::kCuda;
  }
  return Error("device \"" + std::string(name) + "\": expected auto, cpu or cuda");
}

Result<std::unique_ptr<Backend>> make_backend(Device device, Model& model, ThreadPool& pool,
                                              const BackendOptions& opts) {
  if (device == Device::kCuda) return make_cuda_backend(model, pool, opts);
  return make_cpu_backend(model, pool, opts);
}

}  // namespace hangar::model
