// One native thread that runs every CPU job, in arrival order.
//
// OpenMP keeps a separate thread team for each thread that opens a parallel region. Jobs arriving
// on libuv's pool threads would each wake a different (often sleeping) team and fight over the
// cores; running them all from one thread keeps one warm team (measured: a 100x784x500 GEMM with
// 2 threads ran 45% faster). Each job already uses every core, so serialising them costs little.
#pragma once

#include <functional>

namespace dendrite::bindings {

// Runs `job` on the CPU executor thread and returns when it has finished, rethrowing what it threw.
void run_on_cpu_executor(const std::function<void()>& job);

}  // namespace dendrite::bindings
