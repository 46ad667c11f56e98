#include "cpu_executor.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

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

}  // namespace dendrite::bindings
