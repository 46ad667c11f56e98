// One native thread that runs every CPU job, in arrival order.
//
// OpenMP keeps a separate thread team for each thread that opens a parallel region. Jobs arriving
// on libuv's pool threads would each wake a different (often sleeping) team and fight over the
// cores; running them all from one thread keeps one warm team (measured: a 100x784x500 GEMM with
// 2 threads ran 45% faster). Each job already uses every core, so serialising them costs little.
#pragma once

#include <functional>
#include <string>

namespace dendrite::bindings {

// Runs `job` on the CPU executor thread and returns when it has finished, rethrowing what it threw.
void run_on_cpu_executor(const std::function<void()>& job);

// Checks that a team of `threads` CPU threads can be started, before OpenMP is asked for one:
// libgomp cannot report a thread it fails to create (it prints "Thread creation failed" and exits
// the process, or hangs it). Starts threads - 1 threads (a team's other threads), waits until all
// run, and ends them; returns "" when they all started, else why not (with the process limit,
// ulimit -u). The largest count that started is remembered, so smaller ones cost nothing.
// A limit reached only later (other processes taking the last slots) is not caught.
std::string check_threads(int threads);

}  // namespace dendrite::bindings
