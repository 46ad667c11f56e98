// The CUDA emulator's runtime (see cuda_runtime.h): device memory as checked host allocations,
// synchronous streams, and kernels run block by block with one fiber per CUDA thread.
#include "cuda_runtime.h"

#include <sys/mman.h>
#if !(defined(__x86_64__) && defined(__LP64__) && defined(__ELF__))
#include <ucontext.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_EMU_CLANG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(CUDA_EMU_CLANG_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDA_EMU_ASAN 1
#endif

namespace cuda_emu {

namespace {

constexpr size_t kTotalMemory = size_t(16) << 30;  // what the emulated device reports
constexpr size_t kAlignment = 256;                // as cudaMalloc guarantees
constexpr size_t kStackBytes = size_t(256) << 10;  // per fiber, 64 KiB of it colouring; ASan frames are large

// ---- errors: the last one per host thread, as in CUDA ----
thread_local cudaError_t last_error = cudaSuccess;
thread_local std::string error_text;  // the emulator's detail of `error_text_of`
thread_local cudaError_t error_text_of = cudaSuccess;

cudaError_t fail_with(cudaError_t e, const std::string& detail) {
  last_error = e;
  error_text = detail;
  error_text_of = e;
  return e;
}

// ---- device memory: every allocation known, so copies outside one are caught ----
std::mutex memory_mutex;
std::map<uintptr_t, size_t> allocations;  // base -> bytes
size_t allocated = 0;

// Whether one allocation holds all of [p, p + bytes) (bytes = 1: whether p is device memory).
bool in_device_memory(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(memory_mutex);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second && a + bytes >= a;
}

// Checks both sides of a copy against the kind of copy.
cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) return cudaSuccess;
  if (dst_dev ? !in_device_memory(dst, bytes) : in_device_memory(dst, 1)) {
    return fail_with(cudaErrorInvalidValue, std::string(what) + ": destination " +
                                                (dst_dev ? "not inside one device allocation" : "is device memory"));
  }
  if (src_dev ? !in_device_memory(src, bytes) : in_device_memory(src, 1)) {
    return fail_with(cudaErrorInvalidValue, std::string(what) + ": source " +
                                                (src_dev ? "not inside one device allocation" : "is device memory"));
  }
  return cudaSuccess;
}

// ---- streams ----
std::mutex stream_mutex;
std::set<const CUstream_st*> streams;

bool valid_stream(cudaStream_t s) {
  if (s == nullptr) return true;
  std::lock_guard<std::mutex> lock(stream_mutex);
  return streams.count(s) != 0;
}

// ---- the schedule: the order of threads between barriers, and of blocks ----
enum class Order { Forward, Reverse, Shuffle };

struct Schedule {
  Order order = Order::Shuffle;
  uint64_t state = 1;

  Schedule() {
    const char* env = std::getenv("DENDRITE_CUDA_EMU_SCHEDULE");
    if (env != nullptr && *env != '\0' && !set(env)) {
      std::fprintf(stderr, "cuda_emu: DENDRITE_CUDA_EMU_SCHEDULE must be forward, reverse or shuffle[:seed], got %s\n",
                   env);
      std::exit(2);
    }
  }
  bool set(const std::string& s) {
    if (s == "forward") {
      order = Order::Forward;
    } else if (s == "reverse") {
      order = Order::Reverse;
    } else if (s == "shuffle") {
      order = Order::Shuffle;
      state = 1;
    } else if (s.rfind("shuffle:", 0) == 0 && s.size() > 8 &&
               s.find_first_not_of("0123456789", 8) == std::string::npos) {
      order = Order::Shuffle;
      state = std::strtoull(s.c_str() + 8, nullptr, 10);
    } else {
      return false;
    }
    return true;
  }
  uint64_t next() {  // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  void arrange(std::vector<unsigned>& v) {
    std::iota(v.begin(), v.end(), 0u);
    if (order == Order::Reverse) std::reverse(v.begin(), v.end());
    if (order == Order::Shuffle) {
      for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[next() % i]);
    }
  }
};

// ---- context switches: a few instructions on x86-64 (swapcontext makes a system call per
// switch, which made the emulator 5x slower), ucontext elsewhere ----
#if defined(__x86_64__) && defined(__LP64__) && defined(__ELF__)
// Saves the callee-saved registers and the SSE/x87 control words on the current stack, stores the
// stack pointer in *from, switches to `to` and restores what was saved there.
extern "C" void cuda_emu_switch(void** from, void* to);
asm(R"(
  .pushsection .text
  .p2align 4
  .type cuda_emu_switch, @function
cuda_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_emu_switch, .-cuda_emu_switch
  .popsection
)");

struct Context {
  void* sp = nullptr;
};

// Prepares `c` to enter entry() (which never returns) on the stack [stack, stack + bytes).
void start_context(Context& c, void* stack, size_t bytes, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack) + bytes;
  top &= ~uintptr_t(15);
  auto* slot = reinterpret_cast<uint64_t*>(top);
  slot[-1] = 0;                                   // entry's return address: none
  slot[-2] = reinterpret_cast<uint64_t>(entry);  // where cuda_emu_switch returns to
  for (int r = 3; r <= 8; ++r) slot[-r] = 0;      // rbp, rbx, r12-r15
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  slot[-9] = mxcsr | (uint64_t(fpucw) << 32);
  c.sp = &slot[-9];
}
void switch_context(Context& from, Context& to) { cuda_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc{};
};
void start_context(Context& c, void* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// ---- fibers ----
struct Fiber {
  enum class State { Ready, AtSyncthreads, AtShuffle, Done };
  Context context;
  void* stack = nullptr;  // kStackBytes, the lowest page a guard
  ThreadPlace place{};
  State state = State::Done;
  uint64_t exchange = 0;  // this lane's value in a warp exchange
  bool fresh = true;      // needs start_context before it runs
  size_t color = 0;       // bytes left unused at the stack's top (see make_fiber)
};

class Scheduler {
 public:
  ~Scheduler() {
    for (auto& f : fibers_) munmap(f->stack, kStackBytes);
  }

  // Runs body(arg) on every thread of the launch; returns the fault, or "" when none.
  std::string run(const char* kernel, dim3 grid, dim3 block, void (*body)(void*), void* arg) {
    body_ = body;
    arg_ = arg;
    fault_.clear();
    const unsigned n = block.x * block.y * block.z;
    while (fibers_.size() < n) fibers_.push_back(make_fiber());
    const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
    // Blocks are ordered by the schedule within chunks of 2^20 (the order array stays small).
    std::vector<unsigned> block_order(static_cast<size_t>(std::min<uint64_t>(blocks, 1u << 20)));
    for (uint64_t base = 0; base < blocks; base += block_order.size()) {
      const size_t count = static_cast<size_t>(std::min<uint64_t>(block_order.size(), blocks - base));
      block_order.resize(count);
      schedule_.arrange(block_order);
      for (unsigned b : block_order) {
        const uint64_t id = base + b;
        const uint3 bi{static_cast<unsigned>(id % grid.x), static_cast<unsigned>(id / grid.x % grid.y),
                       static_cast<unsigned>(id / (uint64_t(grid.x) * grid.y))};
        run_block(grid, block, bi, n);
        if (!fault_.empty()) {
          return std::string(kernel) + ": " + fault_ + " (block " + str(bi) + ")";
        }
      }
    }
    return "";
  }

  // Called on a fiber: wait for the block (or the warp) at a barrier. Which __syncthreads call
  // each thread waits at is not compared: GCC merges and duplicates such calls freely (it has no
  // notion of a convergent call), so call sites do not identify CUDA barriers.
  void arrive(Fiber::State at) {
    Fiber* f = running_;
    f->state = at;
    to_host(f, false);
  }

  // Ends the launch from a fiber. `what` is a plain string: nothing owned may stay on the
  // abandoned stack.
  [[noreturn]] void fault(const char* what) {
    fault_ = std::string(what) + " (thread " + str(running_->place.thread_idx) + ")";
    Fiber* f = running_;
    f->state = Fiber::State::Done;
    f->fresh = true;  // its stack is abandoned: it restarts from scratch
    to_host(f, true);
    std::abort();  // never resumed
  }

  // The full-warp exchange behind __shfl_xor_sync.
  uint64_t exchange(unsigned mask, uint64_t bits, unsigned src_lane) {
    if (mask != 0xffffffffu) fault("warp shuffle with a partial mask (not emulated)");
    const unsigned warp0 = running_->place.linear & ~31u;
    const dim3 b = running_->place.block_dim;
    if (warp0 + 32 > b.x * b.y * b.z) fault("warp shuffle in a warp with fewer than 32 threads");
    running_->exchange = bits;
    arrive(Fiber::State::AtShuffle);
    const uint64_t v = fibers_[warp0 + src_lane]->exchange;
    arrive(Fiber::State::AtShuffle);  // nobody overwrites `exchange` before every lane has read
    return v;
  }

 private:
  static std::string str(uint3 v) {
    return "(" + std::to_string(v.x) + ", " + std::to_string(v.y) + ", " + std::to_string(v.z) + ")";
  }

  std::unique_ptr<Fiber> make_fiber() {
    auto f = std::make_unique<Fiber>();
    f->stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (f->stack == MAP_FAILED) {
      std::fprintf(stderr, "cuda_emu: cannot map a fiber stack\n");
      std::abort();
    }
    mprotect(f->stack, 4096, PROT_NONE);  // a stack overflow faults instead of corrupting memory
    // Stacks start at different offsets modulo 64 KiB: with equal offsets the top frames of all
    // the block's fibers would fall into the same few cache sets and evict one another.
    f->color = fibers_.size() * 17 * 64 % 65536;
    return f;
  }

  void prepare(Fiber* f) {
#if CUDA_EMU_ASAN
    // A fiber abandoned by a fault left its frames' redzones poisoned.
    __asan_unpoison_memory_region(f->stack, kStackBytes);
#endif
    start_context(f->context, f->stack, kStackBytes - f->color, &Scheduler::fiber_main);
    f->fresh = false;
  }

  static void fiber_main();

  void run_block(dim3 grid, dim3 block, uint3 bi, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      Fiber* f = fibers_[i].get();
      f->place.thread_idx = uint3{i % block.x, i / block.x % block.y, i / (block.x * block.y)};
      f->place.block_idx = bi;
      f->place.block_dim = block;
      f->place.grid_dim = grid;
      f->place.linear = i;
      f->state = Fiber::State::Ready;
    }
    std::vector<unsigned> order(n);
    for (;;) {
      schedule_.arrange(order);
      for (unsigned i : order) {
        Fiber* f = fibers_[i].get();
        if (f->state != Fiber::State::Ready) continue;
        resume(f);
        if (!fault_.empty()) return abandon(n);
      }
      switch (release(n)) {
        case Release::Some: break;
        case Release::Finished: return;
        case Release::Stuck: return abandon(n);
      }
    }
  }

  enum class Release { Some, Finished, Stuck };

  // Every thread is now at a barrier or done: lets through the warps whose every lane is at a
  // shuffle, else the block when every thread is at __syncthreads. Stuck (and a fault) when
  // neither can happen: real hardware would hang or give undefined results.
  Release release(unsigned n) {
    using S = Fiber::State;
    bool any = false, done = false, at_sync = false, at_shuffle = false;
    for (unsigned w = 0; w < n; w += 32) {
      const unsigned end = std::min(n, w + 32);
      unsigned shuffle = 0, finished = 0;
      for (unsigned i = w; i < end; ++i) {
        shuffle += fibers_[i]->state == S::AtShuffle;
        finished += fibers_[i]->state == S::Done;
        at_sync |= fibers_[i]->state == S::AtSyncthreads;
      }
      done |= finished > 0;
      if (shuffle == 0) continue;
      if (shuffle == end - w) {
        for (unsigned i = w; i < end; ++i) fibers_[i]->state = S::Ready;
        any = true;
      } else if (finished > 0) {
        fault_ = "warp shuffle: lanes " + std::to_string(w) + "-" + std::to_string(end - 1) +
                 " include threads that exited";
        return Release::Stuck;
      } else {
        at_shuffle = true;
      }
    }
    if (any) return Release::Some;
    if (!at_sync && !at_shuffle) return Release::Finished;
    if (at_shuffle) {
      fault_ = "warp shuffle not reached by every lane of its warp (divergent shuffle: a hang on a GPU)";
      return Release::Stuck;
    }
    if (done) {
      fault_ = "__syncthreads not reached by every thread of the block (some exited before it)";
      return Release::Stuck;
    }
    for (unsigned i = 0; i < n; ++i) fibers_[i]->state = S::Ready;
    return Release::Some;
  }

  // After a fault: fibers stopped inside the kernel restart from scratch at the next launch.
  void abandon(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      if (fibers_[i]->state != Fiber::State::Done) fibers_[i]->fresh = true;
      fibers_[i]->state = Fiber::State::Done;
    }
  }

  void resume(Fiber* f) {
    if (f->fresh) prepare(f);
    running_ = f;
    current() = &f->place;
#if CUDA_EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, kStackBytes);
    switch_context(host_, f->context);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    switch_context(host_, f->context);
#endif
    current() = nullptr;
    running_ = nullptr;
  }

  // `final`: the fiber will not resume where it stands (ASan may then drop its fake stack).
  void to_host(Fiber* f, bool final) {
#if CUDA_EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(final ? nullptr : &fake, host_stack_, host_stack_size_);
    switch_context(f->context, host_);
    __sanitizer_finish_switch_fiber(fake, &host_stack_, &host_stack_size_);
#else
    (void)final;
    switch_context(f->context, host_);
#endif
  }

  Context host_;
  std::vector<std::unique_ptr<Fiber>> fibers_;
  Fiber* running_ = nullptr;
  void (*body_)(void*) = nullptr;
  void* arg_ = nullptr;
  std::string fault_;
  Schedule schedule_;
#if CUDA_EMU_ASAN
  const void* host_stack_ = nullptr;
  size_t host_stack_size_ = 0;
#endif

  friend Scheduler& scheduler();
  friend bool cuda_emu::set_schedule(const char*);
};

Scheduler& scheduler() {
  static thread_local Scheduler s;
  return s;
}

// A fiber runs CUDA threads one after another: each call of the body is one thread.
void Scheduler::fiber_main() {
  Scheduler& s = scheduler();
#if CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &s.host_stack_, &s.host_stack_size_);
#endif
  for (;;) {
    Fiber* f = s.running_;
    s.body_(s.arg_);
    f->state = Fiber::State::Done;
    s.to_host(f, false);  // resumed for the next thread
  }
}

}  // namespace

bool set_schedule(const char* spec) { return scheduler().schedule_.set(spec); }

void syncthreads() { scheduler().arrive(Fiber::State::AtSyncthreads); }

uint64_t warp_exchange(unsigned mask, uint64_t bits, unsigned src_lane) {
  return scheduler().exchange(mask, bits, src_lane);
}

void device_fault(const char* what) {
  if (current() == nullptr) {
    std::fprintf(stderr, "cuda_emu: %s (outside a kernel)\n", what);
    std::abort();
  }
  scheduler().fault(what);
}

void Launch::execute(const char* kernel, void (*body)(void*), void* arg) {
  const uint64_t threads = uint64_t(block_.x) * block_.y * block_.z;
  std::string bad;
  if (block_.x == 0 || block_.y == 0 || block_.z == 0 || block_.x > 1024 || block_.y > 1024 || block_.z > 64 ||
      threads > 1024) {
    bad = "block (" + std::to_string(block_.x) + ", " + std::to_string(block_.y) + ", " + std::to_string(block_.z) +
          ") outside the limits (1024 threads, z at most 64)";
  } else if (grid_.x == 0 || grid_.y == 0 || grid_.z == 0 || grid_.x > 0x7fffffffu || grid_.y > 65535 ||
             grid_.z > 65535) {
    bad = "grid (" + std::to_string(grid_.x) + ", " + std::to_string(grid_.y) + ", " + std::to_string(grid_.z) +
          ") outside the limits";
  } else if (shared_bytes_ > 48 * 1024) {
    bad = "more than 48 KiB of dynamic shared memory";
  }
  if (!bad.empty()) {
    fail_with(cudaErrorInvalidConfiguration, std::string(kernel) + ": " + bad);
    return;
  }
  if (!valid_stream(stream_)) {
    fail_with(cudaErrorInvalidResourceHandle, std::string(kernel) + ": launched on a destroyed stream");
    return;
  }
  const std::string fault = scheduler().run(kernel, grid_, block_, body, arg);
  if (!fault.empty()) {
    std::fprintf(stderr, "cuda_emu: %s\n", fault.c_str());
    fail_with(cudaErrorLaunchFailure, fault);
  }
}

}  // namespace cuda_emu

using cuda_emu::fail_with;

// ---- runtime API ----
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail_with(cudaErrorInvalidDevice, "no such device");
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "CUDA emulator on the CPU (dendrite-bench test)");
  prop->totalGlobalMem = cuda_emu::kTotalMemory;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail_with(cudaErrorInvalidDevice, "no such device");
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaGetLastError() {
  const cudaError_t e = cuda_emu::last_error;
  cuda_emu::last_error = cudaSuccess;
  return e;
}

const char* cudaGetErrorString(cudaError_t error) {
  static thread_local std::string text;
  const char* name = "unknown error";
  switch (error) {
    case cudaSuccess: name = "no error"; break;
    case cudaErrorInvalidValue: name = "invalid argument"; break;
    case cudaErrorMemoryAllocation: name = "out of memory"; break;
    case cudaErrorInvalidConfiguration: name = "invalid configuration argument"; break;
    case cudaErrorInvalidDevicePointer: name = "invalid device pointer"; break;
    case cudaErrorInsufficientDriver: name = "CUDA driver version is insufficient for CUDA runtime version"; break;
    case cudaErrorNoDevice: name = "no CUDA-capable device is detected"; break;
    case cudaErrorInvalidDevice: name = "invalid device ordinal"; break;
    case cudaErrorInvalidResourceHandle: name = "invalid resource handle"; break;
    case cudaErrorLaunchFailure: name = "unspecified launch failure"; break;
  }
  text = name;
  if (error != cudaSuccess && error == cuda_emu::error_text_of) text += " (emulator: " + cuda_emu::error_text + ")";
  return text.c_str();
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  using namespace cuda_emu;
  *ptr = nullptr;
  if (bytes == 0) return fail_with(cudaErrorInvalidValue, "cudaMalloc of 0 bytes");
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    if (rounded > kTotalMemory - allocated) return fail_with(cudaErrorMemoryAllocation, "device memory exhausted");
  }
  // The exact size, so that AddressSanitizer sees a kernel step past its end.
  void* p = nullptr;
  if (posix_memalign(&p, kAlignment, bytes) != 0) return fail_with(cudaErrorMemoryAllocation, "host memory exhausted");
  std::lock_guard<std::mutex> lock(memory_mutex);
  allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  allocated += rounded;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  using namespace cuda_emu;
  if (ptr == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    auto it = allocations.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == allocations.end()) return fail_with(cudaErrorInvalidDevicePointer, "cudaFree of a pointer cudaMalloc did not return");
    allocated -= (it->second + kAlignment - 1) / kAlignment * kAlignment;
    allocations.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(cuda_emu::memory_mutex);
  *total_bytes = cuda_emu::kTotalMemory;
  *free_bytes = cuda_emu::kTotalMemory - cuda_emu::allocated;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  const cudaError_t e = cuda_emu::check_copy(dst, src, bytes, kind, "cudaMemcpy");
  if (e != cudaSuccess) return e;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!cuda_emu::valid_stream(stream)) return fail_with(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: bad stream");
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!cuda_emu::in_device_memory(ptr, bytes)) {
    return fail_with(cudaErrorInvalidValue, "cudaMemset: range not inside one device allocation");
  }
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (!cuda_emu::valid_stream(stream)) return fail_with(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: bad stream");
  return cudaMemset(ptr, value, bytes);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  // A distinct address per stream; the emulator runs everything synchronously anyway.
  auto* s = reinterpret_cast<CUstream_st*>(new char[1]);
  std::lock_guard<std::mutex> lock(cuda_emu::stream_mutex);
  cuda_emu::streams.insert(s);
  *stream = s;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(cuda_emu::stream_mutex);
    if (stream == nullptr || cuda_emu::streams.erase(stream) == 0) {
      return fail_with(cudaErrorInvalidResourceHandle, "cudaStreamDestroy of an unknown stream");
    }
  }
  delete[] reinterpret_cast<char*>(stream);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return cuda_emu::valid_stream(stream) ? cudaSuccess
                                        : fail_with(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: bad stream");
}
