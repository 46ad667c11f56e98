#include "cpu_executor.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

namespace dendrite::bindings {
namespace {

class CpuExecutor {
 public:
  CpuExecutor() : thread_([this] { loop(); }) { thread_.detach(); }

  void run(const std::function<void()>& job) {
    std::packaged_task<void()> task(job);
    std::future<void> done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
    done.get();  // rethrows the job's exception
  }

 private:
  void loop() {
    for (;;) {
      std::packaged_task<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace

void run_on_cpu_executor(const std::function<void()>& job) {
  // Never destroyed: at process exit a running job must not hold up the exit in a join.
  static CpuExecutor* executor = new CpuExecutor;
  executor->run(job);
}

std::string check_threads(int threads) {
  static std::mutex mutex;
  static int verified = 1;  // the largest team known to start
  std::lock_guard<std::mutex> lock(mutex);
  if (threads <= verified) return "";
  // The team's other threads all exist at once: each waits for the gate to open.
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool open = false;
  std::vector<std::thread> started;
  std::string failure;
  try {
    started.reserve(static_cast<size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) {
      started.emplace_back([&] {
        std::unique_lock<std::mutex> g(gate_mutex);
        gate_cv.wait(g, [&] { return open; });
      });
    }
  } catch (const std::system_error& e) {
    failure = "only " + std::to_string(started.size() + 1) + " threads could be started (" + e.code().message() + ")";
  } catch (const std::bad_alloc&) {
    failure = "out of memory starting thread " + std::to_string(started.size() + 2);
  }
  {
    std::lock_guard<std::mutex> g(gate_mutex);
    open = true;
  }
  gate_cv.notify_all();
  for (std::thread& t : started) t.join();
  if (failure.empty()) {
    verified = threads;
    return "";
  }
  std::string limit;
#if defined(__unix__) || defined(__APPLE__)
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NPROC, &rl) == 0) {
    limit = rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(static_cast<unsigned long long>(rl.rlim_cur));
    limit = "; the limit on processes and threads of this user (ulimit -u) is " + limit;
  }
#endif
  return "the system cannot start that many threads: " + failure + limit + "; use fewer threads";
}

}  // namespace dendrite::bindings
