// CUDA runtime wrappers: device probing, device and pinned memory, streams and graphs.
//
// Plain C++ (no CUDA headers), so that model/ can drive the GPU without nvcc. Every call that
// can fail returns a Status or Result naming the operation and the driver's message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"

namespace hangar::kernels::cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int n_sm = 0;
  uint64_t total_bytes = 0, free_bytes = 0;
};

// Device 0, or an error carrying the driver's reason ("no CUDA-capable device is detected").
Result<DeviceInfo> probe_device();

// Device memory (cudaMalloc), freed on destruction. Move-only.
class DeviceBuffer {
 public:
  static Result<DeviceBuffer> allocate(size_t bytes, const char* what);
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* data() const { return p_; }
  size_t size() const { return n_; }
  void reset();

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// Page-locked host memory (cudaHostAlloc), so copies to and from the GPU run at bus speed and
// asynchronously. Move-only.
class PinnedBuffer {
 public:
  static Result<PinnedBuffer> allocate(size_t bytes, const char* what);
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return p_; }
  size_t size() const { return n_; }
  void reset();

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// A CUDA stream (non-blocking). Work on one stream runs in order. Move-only.
class Stream {
 public:
  static Result<Stream> create();
  Stream() = default;
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void* handle() const { return s_; }  // cudaStream_t
  // Waits for all work queued on the stream; reports any error of that work.
  Status synchronize() const;

 private:
  void* s_ = nullptr;
};

// Asynchronous copies on `s` (pinned host memory for the copy to overlap; pageable works too).
Status copy_to_device(void* dst, const void* src, size_t n, const Stream& s);
Status copy_to_host(void* dst, const void* src, size_t n, const Stream& s);
Status copy_on_device(void* dst, const void* src, size_t n, const Stream& s);
Status fill_zero(void* dst, size_t n, const Stream& s);
// The error of the last kernel launch, if any, as "launching <what>: <reason>".
Status check_launch(const char* what);

// Bytes read plus written per second (GB/s) by device-to-device copies of `bytes`, the best of
// several after a warm-up (the ceiling a memory-bound kernel can reach).
Result<double> measure_copy_bandwidth(size_t bytes);

// A captured sequence of work on one stream, replayed with one launch (cudaGraph). Capture
// records kernels with their arguments by value, so the buffers they use must stay in place.
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(Graph&& o) noexcept;
  Graph& operator=(Graph&& o) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  // Starts capturing the work this thread queues on `s`.
  Status begin_capture(const Stream& s);
  // Ends the capture and instantiates the graph; on error the stream is left usable.
  Status end_capture(const Stream& s);
  Status launch(const Stream& s) const;
  bool ready() const { return exec_ != nullptr; }

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

}  // namespace hangar::kernels::cuda
