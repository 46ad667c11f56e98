#include "cpu_executor.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cpu/parallel.h"

namespace dendrite::bindings {
namespace {

class CpuExecutor {
 public:
  CpuExecutor() : thread_([this] { loop(); }) { thread_.detach(); }

  void run(const std::function<void()>& job) {
    std::promise<void> finished;
    std::future<void> done = finished.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(Task{&job, std::move(finished)});
    }
    wake_.notify_one();
    done.get();  // rethrows the job's exception
  }

  LaneLoad load() {
    std::lock_guard<std::mutex> lock(mutex_);
    LaneLoad l;
    l.queued = static_cast<int64_t>(queue_.size());
    l.running = running_ ? 1 : 0;
    l.done = done_;
    return l;
  }

 private:
  struct Task {
    const std::function<void()>* job;  // the caller's, alive while it waits in run()
    std::promise<void> finished;
  };

  void loop() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
        running_ = true;
      }
      std::exception_ptr error;
      try {
        (*task.job)();
      } catch (...) {
        error = std::current_exception();
      }
      {
        // Counted before the caller wakes, so that what it reads of the load includes its job.
        std::lock_guard<std::mutex> lock(mutex_);
        running_ = false;
        ++done_;
      }
      if (error) task.finished.set_exception(error);
      else task.finished.set_value();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  bool running_ = false;
  uint64_t done_ = 0;
  std::thread thread_;  // last: starts after the members it uses exist
};

// Never destroyed: at process exit a running job must not hold up the exit in a join.
CpuExecutor& executor(CpuLane lane) {
  static CpuExecutor* main_lane = new CpuExecutor;
  static CpuExecutor* small_lane = new CpuExecutor;
  return lane == CpuLane::Main ? *main_lane : *small_lane;
}

std::atomic<double> small_limit{double{1 << 24}};
std::atomic<double> sync_limit{double{1 << 22}};

}  // namespace

void run_on_cpu_executor(CpuLane lane, const std::function<void()>& job) { executor(lane).run(job); }

CpuLane lane_for(double work) { return work <= small_limit.load() ? CpuLane::Small : CpuLane::Main; }

double small_call_limit() { return small_limit.load(); }

void set_small_call_limit(double work) { small_limit.store(work); }

double sync_call_limit() { return sync_limit.load(); }

void set_sync_call_limit(double work) { sync_limit.store(work); }

LaneLoad lane_load(CpuLane lane) { return executor(lane).load(); }

bool main_lane_busy() {
  const LaneLoad l = executor(CpuLane::Main).load();
  return l.running > 0 || l.queued > 0;
}

std::string check_threads(int threads) { return cpu::reserve_threads(threads); }

}  // namespace dendrite::bindings
