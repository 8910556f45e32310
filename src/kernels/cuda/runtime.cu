// CUDA runtime wrappers (runtime.h).
#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/runtime.h"

namespace hangar::kernels::cuda {
namespace {
Status check(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::Ok();
  return Error("CUDA " + what + ": " + cudaGetErrorString(e));
}
cudaStream_t st(const Stream& s) { return static_cast<cudaStream_t>(s.handle()); }
}  // namespace

Result<DeviceInfo> probe_device() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return Error(std::string("no CUDA device: ") + cudaGetErrorString(e));
  }
  if (n == 0) return Error("no CUDA device: the driver reports none");
  cudaDeviceProp p;
  HANGAR_TRY(check(cudaGetDeviceProperties(&p, 0), "reading device properties"));
  DeviceInfo info;
  info.name = p.name;
  info.major = p.major;
  info.minor = p.minor;
  info.n_sm = p.multiProcessorCount;
  size_t free_b = 0, total_b = 0;
  HANGAR_TRY(check(cudaMemGetInfo(&free_b, &total_b), "reading free memory"));
  info.total_bytes = total_b;
  info.free_bytes = free_b;
  return info;
}

Result<DeviceBuffer> DeviceBuffer::allocate(size_t bytes, const char* what) {
  DeviceBuffer b;
  if (bytes == 0) return std::move(b);
  HANGAR_TRY(check(cudaMalloc(&b.p_, bytes), std::string("allocating ") + std::to_string(bytes) + " bytes of GPU memory for " + what));
  b.n_ = bytes;
  return std::move(b);
}
DeviceBuffer::~DeviceBuffer() { reset(); }
DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}
void DeviceBuffer::reset() {
  if (p_) cudaFree(p_);
  p_ = nullptr;
  n_ = 0;
}

Result<PinnedBuffer> PinnedBuffer::allocate(size_t bytes, const char* what) {
  PinnedBuffer b;
  if (bytes == 0) return std::move(b);
  HANGAR_TRY(check(cudaHostAlloc(&b.p_, bytes, cudaHostAllocDefault),
                   std::string("allocating ") + std::to_string(bytes) + " bytes of pinned host memory for " + what));
  b.n_ = bytes;
  return std::move(b);
}
PinnedBuffer::~PinnedBuffer() { reset(); }
PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}
void PinnedBuffer::reset() {
  if (p_) cudaFreeHost(p_);
  p_ = nullptr;
  n_ = 0;
}

Result<Stream> Stream::create() {
  Stream s;
  cudaStream_t h = nullptr;
  HANGAR_TRY(check(cudaStreamCreateWithFlags(&h, cudaStreamNonBlocking), "creating a stream"));
  s.s_ = h;
  return std::move(s);
}
Stream::~Stream() {
  if (s_) cudaStreamDestroy(static_cast<cudaStream_t>(s_));
}
Stream::Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    if (s_) cudaStreamDestroy(static_cast<cudaStream_t>(s_));
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}
Status Stream::synchronize() const { return check(cudaStreamSynchronize(st(*this)), "running queued GPU work"); }

Status copy_to_device(void* dst, const void* src, size_t n, const Stream& s) {
  return check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st(s)), "copying to the GPU");
}
Status copy_to_host(void* dst, const void* src, size_t n, const Stream& s) {
  return check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, st(s)), "copying from the GPU");
}
Status copy_on_device(void* dst, const void* src, size_t n, const Stream& s) {
  return check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, st(s)), "copying on the GPU");
}
Status fill_zero(void* dst, size_t n, const Stream& s) {
  return check(cudaMemsetAsync(dst, 0, n, st(s)), "clearing GPU memory");
}
Status check_launch(const char* what) { return check(cudaGetLastError(), std::string("launching ") + what); }

Result<double> measure_copy_bandwidth(size_t bytes) {
  HANGAR_ASSIGN(DeviceBuffer a, DeviceBuffer::allocate(bytes, "measuring bandwidth"));
  HANGAR_ASSIGN(DeviceBuffer b, DeviceBuffer::allocate(bytes, "measuring bandwidth"));
  cudaEvent_t start, stop;
  HANGAR_TRY(check(cudaEventCreate(&start), "creating an event"));
  HANGAR_TRY(check(cudaEventCreate(&stop), "creating an event"));
  HANGAR_TRY(check(cudaMemset(a.data(), 1, bytes), "clearing GPU memory"));
  float best_ms = 0;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(start);
    cudaMemcpy(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (i > 0 && (best_ms == 0 || ms < best_ms)) best_ms = ms;  // the first is a warm-up
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  HANGAR_TRY(check(cudaGetLastError(), "measuring bandwidth"));
  return 2.0 * static_cast<double>(bytes) / (best_ms * 1e-3) / 1e9;
}

Graph::~Graph() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
}
Graph::Graph(Graph&& o) noexcept : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}
Graph& Graph::operator=(Graph&& o) noexcept {
  if (this != &o) {
    this->~Graph();
    graph_ = std::exchange(o.graph_, nullptr);
    exec_ = std::exchange(o.exec_, nullptr);
  }
  return *this;
}
Status Graph::begin_capture(const Stream& s) {
  return check(cudaStreamBeginCapture(st(s), cudaStreamCaptureModeThreadLocal), "starting a graph capture");
}
Status Graph::end_capture(const Stream& s) {
  cudaGraph_t g = nullptr;
  HANGAR_TRY(check(cudaStreamEndCapture(st(s), &g), "ending a graph capture"));
  graph_ = g;
  cudaGraphExec_t ex = nullptr;
  HANGAR_TRY(check(cudaGraphInstantiate(&ex, g, 0), "instantiating a graph"));
  exec_ = ex;
  return Status::Ok();
}
Status Graph::launch(const Stream& s) const {
  return check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), st(s)), "launching a graph");
}

}  // namespace hangar::kernels::cuda
