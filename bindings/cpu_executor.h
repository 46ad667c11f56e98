// The CPU executor: native threads that run every CPU job, each in arrival order, in two lanes.
//
// Jobs arriving on libuv's pool threads would each open parallel regions at once and fight over
// the cores (under OpenMP, which the kernels used before their own pool, each such thread even had
// a team of its own: running them from a few fixed threads kept warm teams, and a 100x784x500 GEMM
// with 2 threads ran 45% faster). Each job already uses every core, so serialising them costs little,
// except for latency: a kernel call of 50 microseconds queued behind a training chunk of a second
// waits that second. Hence two lanes, one thread each, sharing the thread pool's helpers:
//  - main: the networks' jobs (training chunks, evaluation) and kernel calls above the small-call
//    limit;
//  - small: kernel calls whose estimated work is at most the limit (default 2^24 operations, about
//    a 200x200x200 GEMM: a millisecond or less on one core). They share the cores with a running
//    main-lane job for their short time instead of waiting for it, on one thread while it runs.
// docs/service.md says how the CPU is shared; setCpuScheduling (src/kernels.ts) sets the limit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace dendrite::bindings {

enum class CpuLane { Main, Small };

// Runs `job` on the lane's executor thread and returns when it has finished, rethrowing what it threw.
void run_on_cpu_executor(CpuLane lane, const std::function<void()>& job);

// The lane of a kernel call of `work` estimated operations (Target::work).
CpuLane lane_for(double work);

// The small-call limit in estimated operations (0: every call takes the main lane).
double small_call_limit();
void set_small_call_limit(double work);

// Kernel calls of at most this much estimated work run synchronously on the calling thread, on one
// thread, without the round trip to an executor (default 2^22: a 128x128x128 GEMM, about 40
// microseconds on one core; 0: none). They never wait for a lane.
double sync_call_limit();
void set_sync_call_limit(double work);

// A lane's jobs now: waiting in its queue, and running (0 or 1); `done` counts finished ones.
struct LaneLoad {
  int64_t queued = 0;
  int64_t running = 0;
  uint64_t done = 0;
};
LaneLoad lane_load(CpuLane lane);

// Whether the main lane runs or holds a job now.
bool main_lane_busy();

// Starts the CPU thread pool's threads (native/cpu/parallel.h) until a region of `threads`
// threads could have them all; "" when it could, else why not (with the process limit, ulimit
// -u). Kernels never need this to be safe (a thread they cannot start leaves them with fewer),
// but a count the system cannot start at all is the caller's error, reported before the call.
std::string check_threads(int threads);

}  // namespace dendrite::bindings
