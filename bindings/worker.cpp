#include "worker.h"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <stdexcept>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "args.h"
#include "cpu/parallel.h"
#include "cpu_executor.h"

namespace dendrite::bindings {

Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& message) {
  Napi::Error error;
  const char* code = "ERR_DENDRITE_INTERNAL";
  switch (kind) {
    case ErrorKind::InvalidArgument:
      error = Napi::TypeError::New(env, message);
      code = "ERR_DENDRITE_INVALID_ARGUMENT";
      break;
    case ErrorKind::OutOfRange:
      error = Napi::RangeError::New(env, message);
      code = "ERR_DENDRITE_OUT_OF_RANGE";
      break;
    case ErrorKind::DeviceUnavailable:
      error = Napi::Error::New(env, message);
      code = "ERR_DENDRITE_DEVICE_UNAVAILABLE";
      break;
    case ErrorKind::OutOfMemory:
      // A size the machine cannot hold: a RangeError, as for a JS array too large to allocate.
      error = Napi::RangeError::New(env, message);
      code = "ERR_DENDRITE_OUT_OF_MEMORY";
      break;
    case ErrorKind::Internal:
      error = Napi::Error::New(env, message);
      break;
  }
  error.Set("code", Napi::String::New(env, code));
  return error;
}

JobFailure run_catching(const std::function<void()>& job) {
  JobFailure f;
  try {
    job();
  } catch (const Error& e) {
    f = {true, e.kind(), e.what()};
  } catch (const std::bad_alloc&) {
    f = {true, ErrorKind::OutOfMemory, "out of memory (a native allocation failed)"};
  } catch (const std::length_error& e) {
    f = {true, ErrorKind::OutOfMemory, std::string("out of memory (a native allocation is too large: ") + e.what() + ")"};
  } catch (const std::exception& e) {
    f = {true, ErrorKind::Internal, e.what()};
  } catch (...) {
    f = {true, ErrorKind::Internal, "unknown native error"};
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Handing native buffers to JS.

namespace {

// Small results are copied into a new array buffer (cheaper than an external one, which Node
// tracks with a finalizer); large ones are handed over without a copy.
constexpr size_t kMinExternalBytes = size_t{1} << 20;
constexpr size_t kMaxExternalBytes = size_t{1} << 31;

template <class T>
napi_value hand_over_value(Napi::Env env, const Buffer<T>& b, napi_typedarray_type type) {
  const size_t n = b.size();
  napi_value ab = nullptr;
  if (n * sizeof(T) >= kMinExternalBytes && n * sizeof(T) <= kMaxExternalBytes) {
    // The array buffer shares the job's vector; its finalizer drops that share.
    auto* share = new std::shared_ptr<T[]>(b.shared());
    const napi_status s = napi_create_external_arraybuffer(
        env, b.data(), n * sizeof(T),
        [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<T[]>*>(hint); }, share, &ab);
    if (s != napi_ok) {
      // Runtimes without external buffers refuse before taking the finalizer; on other failures
      // Node may already own it, so the share is left to it.
      if (s == napi_no_external_buffers_allowed) delete share;
      ab = nullptr;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
      }
    }
  }
  if (ab == nullptr) {
    Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, n * sizeof(T));
    if (n > 0) std::memcpy(copy.Data(), b.data(), n * sizeof(T));
    ab = copy;
  }
  napi_value result = nullptr;
  const napi_status s = napi_create_typedarray(env, type, n, ab, 0, &result);
  NAPI_THROW_IF_FAILED(env, s, nullptr);
  return result;
}

}  // namespace

Napi::Float32Array hand_over(Napi::Env env, const Buffer<float>& b) {
  return Napi::Float32Array(env, hand_over_value(env, b, napi_float32_array));
}
Napi::Int32Array hand_over(Napi::Env env, const Buffer<int32_t>& b) {
  return Napi::Int32Array(env, hand_over_value(env, b, napi_int32_array));
}
Napi::Uint8Array hand_over(Napi::Env env, const Buffer<uint8_t>& b) {
  return Napi::Uint8Array(env, hand_over_value(env, b, napi_uint8_array));
}

void WriteBack::write(Napi::Env env, const std::vector<Napi::Value>& held) const {
  // Check every array first: all are written or none.
  std::vector<float*> dest(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    napi_typedarray_type type;
    size_t length = 0;
    void* storage = nullptr;
    napi_value ab;
    size_t offset;
    const napi_status s = napi_get_typedarray_info(env, held.at(i), &type, &length, &storage, &ab, &offset);
    if (s != napi_ok || type != napi_float32_array || length != data[i].size() || (length > 0 && storage == nullptr)) {
      throw Napi::TypeError::New(env, fn + ": " + names[i] + " was detached or resized while the call ran (length " +
                                          std::to_string(data[i].size()) + " at the call, " +
                                          std::to_string(length) + " now); no array was updated");
    }
    dest[i] = static_cast<float*>(storage);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (!data[i].size()) continue;
    std::memcpy(dest[i], data[i].data(), data[i].size() * sizeof(float));
  }
}

// ---------------------------------------------------------------------------------------------
// External memory.

int64_t ExternalMemory::heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
#else
  return 0;
#endif
}

void ExternalMemory::report(Napi::Env env, int64_t bytes) {
  if (bytes <= 0) return;
  int64_t adjusted = 0;
  if (napi_adjust_external_memory(env, bytes, &adjusted) == napi_ok) {
    env_ = env;
    bytes_ = bytes;
  }
}

void ExternalMemory::release() noexcept {
  if (env_ != nullptr && bytes_ > 0) {
    int64_t adjusted = 0;
    napi_adjust_external_memory(env_, -bytes_, &adjusted);
  }
  const bool large = bytes_ >= (int64_t{1} << 20);
  env_ = nullptr;
  bytes_ = 0;
#if defined(__GLIBC__)
  // glibc keeps freed heap memory mapped (its mmap threshold grows with large frees): a dropped
  // network would stay in the process's resident set. Return the free pages now.
  if (large) malloc_trim(0);
#else
  (void)large;
#endif
}

// ---------------------------------------------------------------------------------------------
// Jobs.

namespace {

void clear_pending_exception(napi_env env) noexcept {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

// One asynchronous call: created and queued on the main thread, run on a libuv worker thread,
// completed on the main thread. Raw N-API (not Napi::AsyncWorker) so that the completion is under
// our control: it throws nothing and does nothing with an environment that is going away.
class AsyncJob {
 public:
  struct Spec {
    std::function<void()> run;       // worker thread
    Finish finish;                   // main thread
    std::function<void()> settled;   // main thread, native state only, before the promise settles
    std::string context;             // message prefix of failures
    std::vector<Napi::Value> hold;   // JS values referenced until completion (objects only)
  };

  static Napi::Promise queue(Napi::Env env, Spec spec) {
    std::unique_ptr<AsyncJob> job(new AsyncJob(std::move(spec)));
    napi_value promise = job->create_promise(env);
    if (promise == nullptr) return Napi::Promise();
    napi_value name = Napi::String::New(env, "dendrite");
    napi_status s = napi_create_async_work(env, nullptr, name, execute, complete, job.get(), &job->work_);
    if (s != napi_ok) {
      job->delete_refs(env);
      NAPI_THROW_IF_FAILED(env, s, Napi::Promise());
    }
    s = napi_add_env_cleanup_hook(env, on_cleanup, job.get());
    if (s == napi_ok) {
      s = napi_queue_async_work(env, job->work_);
      if (s != napi_ok) napi_remove_env_cleanup_hook(env, on_cleanup, job.get());
    }
    if (s != napi_ok) {
      napi_delete_async_work(env, job->work_);
      job->delete_refs(env);
      NAPI_THROW_IF_FAILED(env, s, Napi::Promise());
    }
    job.release();  // complete() deletes it
    return Napi::Promise(env, promise);
  }

  // Runs the job here, on the main thread, and returns its promise already settled the way the
  // queued job's would be (same errors, same finish): the small-call fast path.
  static Napi::Promise run_now(Napi::Env env, Spec spec) {
    AsyncJob job(std::move(spec));
    napi_value promise = job.create_promise(env);
    if (promise == nullptr) return Napi::Promise();
    job.failure_ = run_catching(job.run_);
    job.settle(env, napi_ok);
    job.delete_refs(env);
    return Napi::Promise(env, promise);
  }

 private:
  explicit AsyncJob(Spec spec)
      : run_(std::move(spec.run)),
        finish_(std::move(spec.finish)),
        settled_(std::move(spec.settled)),
        context_(std::move(spec.context)) {
    for (Napi::Value& v : spec.hold)
      if (!v.IsEmpty() && !v.IsUndefined()) hold_values_.push_back(v);
  }

  // The promise, and references to the values to hold; null (a JS exception pending) on failure.
  napi_value create_promise(napi_env env) {
    napi_value promise = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred_, &promise), nullptr);
    for (const Napi::Value& v : hold_values_) {
      napi_ref ref = nullptr;
      if (napi_create_reference(env, v, 1, &ref) != napi_ok) {
        delete_refs(env);
        NAPI_THROW_IF_FAILED(env, napi_generic_failure, nullptr);
      }
      refs_.push_back(ref);
    }
    hold_values_.clear();  // handles of the call's scope: only the references outlive it
    return promise;
  }

  // libuv worker thread: no JS, no N-API.
  static void execute(napi_env /*env*/, void* data) {
    auto* job = static_cast<AsyncJob*>(data);
    job->failure_ = run_catching(job->run_);
    job->mark_ran();
  }

  // Main thread, when the work is done (or was cancelled before it started).
  static void complete(napi_env env, napi_status status, void* data) noexcept {
    auto* job = static_cast<AsyncJob*>(data);
    bool gone;
    {
      std::lock_guard<std::mutex> lock(job->mutex_);
      gone = job->env_gone_;
      job->ran_ = true;
    }
    if (gone) {
      // The environment's cleanup already ran: leave its references and work to it.
      delete job;
      return;
    }
    napi_remove_env_cleanup_hook(env, on_cleanup, job);
    job->settle(env, status);
    job->delete_refs(env);
    napi_delete_async_work(env, job->work_);
    delete job;
  }

  // Environment teardown (a worker thread terminated, the process exiting) while the job is
  // queued or running: wait for it, so that nothing it uses is freed under it, and mark the
  // environment gone, so that its completion does not touch it.
  static void on_cleanup(void* data) noexcept {
    auto* job = static_cast<AsyncJob*>(data);
    std::unique_lock<std::mutex> lock(job->mutex_);
    job->env_gone_ = true;
    job->cv_.wait(lock, [job] { return job->ran_; });
  }

  void mark_ran() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ran_ = true;
    }
    cv_.notify_all();
  }

  void settle(napi_env env, napi_status status) noexcept {
    try {
      if (settled_) settled_();
    } catch (...) {
    }
    napi_handle_scope scope = nullptr;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    try {
      Napi::Env e(env);
      napi_value outcome = nullptr;
      bool resolve = false;
      if (status == napi_cancelled) {
        outcome = to_js_error(e, ErrorKind::Internal, context_ + "the call was cancelled").Value();
      } else if (failure_.failed) {
        outcome = to_js_error(e, failure_.kind, context_ + failure_.message).Value();
      } else {
        try {
          std::vector<Napi::Value> held;
          for (napi_ref ref : refs_) {
            napi_value v = nullptr;
            napi_get_reference_value(env, ref, &v);
            held.push_back(Napi::Value(env, v));
          }
          outcome = finish_(e, held);
          resolve = true;
        } catch (const Napi::Error& err) {
          outcome = err.Value();
        } catch (const Error& err) {
          outcome = to_js_error(e, err.kind(), context_ + err.what()).Value();
        } catch (const std::bad_alloc&) {
          outcome = to_js_error(e, ErrorKind::OutOfMemory, context_ + "out of memory (a native allocation failed)").Value();
        } catch (const std::exception& err) {
          outcome = to_js_error(e, ErrorKind::Internal, context_ + err.what()).Value();
        }
      }
      // Fails (and is ignored) where the environment can no longer run JS: it is being torn down.
      if (resolve) napi_resolve_deferred(env, deferred_, outcome);
      else napi_reject_deferred(env, deferred_, outcome);
    } catch (...) {
      // Building a value failed (the environment is stopping, or out of memory): nothing to do.
    }
    clear_pending_exception(env);
    napi_close_handle_scope(env, scope);
  }

  void delete_refs(napi_env env) noexcept {
    for (napi_ref ref : refs_) napi_delete_reference(env, ref);
    refs_.clear();
  }

  std::function<void()> run_;
  Finish finish_;
  std::function<void()> settled_;
  std::string context_;
  std::vector<Napi::Value> hold_values_;
  std::vector<napi_ref> refs_;
  napi_deferred deferred_ = nullptr;
  napi_async_work work_ = nullptr;
  JobFailure failure_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool ran_ = false;       // the work finished (or will never run)
  bool env_gone_ = false;  // the environment's cleanup hook ran
};

}  // namespace

bool runs_on_calling_thread(const Target& target) {
  return target.device.kind == DeviceKind::Cpu && target.work <= sync_call_limit();
}

Napi::Promise queue_kernel(Napi::Env env, const Target& target, std::function<void(Backend&)> job, Finish finish,
                           std::vector<Napi::Value> hold) {
  AsyncJob::Spec spec;
  spec.finish = std::move(finish);
  spec.hold = std::move(hold);
  // A call too small to be worth the round trip to another thread (about 35 microseconds) runs
  // here: it holds the event loop for about as long as the round trip would have. Only its chunked
  // loops use other threads (idle pool threads join when they can; nothing here waits for one to
  // wake up), and none beside a running main lane, whose threads have the cores.
  if (runs_on_calling_thread(target)) {
    spec.run = [&job, &target] {
      const cpu::RegionsAlone alone;
      std::unique_ptr<Backend> backend = make_cpu_backend(main_lane_busy() ? 1 : target.threads);
      job(*backend);
    };
    return AsyncJob::run_now(env, std::move(spec));
  }
  spec.run = [target, job = std::move(job)] {
    if (target.device.kind == DeviceKind::Cuda) {
      std::unique_ptr<Backend> backend = make_cuda_backend(target.device.index);
      job(*backend);
    } else {
      // A small call runs on one thread while the main lane works: a team of two beside a running
      // training would oversubscribe the cores, and its barriers would wait for descheduled threads
      // (measured: 128^3 GEMM p99 300 ms). Every kernel's result is the same for any thread count.
      const CpuLane lane = lane_for(target.work);
      run_on_cpu_executor(lane, [&] {
        const bool share = lane == CpuLane::Small && main_lane_busy();
        std::unique_ptr<Backend> backend = make_cpu_backend(share ? 1 : target.threads);
        job(*backend);
      });
    }
  };
  return AsyncJob::queue(env, std::move(spec));
}

Napi::Promise queue_class_job(Napi::Env env, ClassJob job) {
  if (*job.busy) throw Napi::Error::New(env, job.context + "another call on this object is still running (await it first)");
  bool* busy = job.busy;
  AsyncJob::Spec spec;
  if (job.cpu) {
    spec.run = [run = std::move(job.run)] { run_on_cpu_executor(CpuLane::Main, run); };
  } else {
    spec.run = std::move(job.run);
  }
  spec.finish = [finish = std::move(job.finish)](Napi::Env e, const std::vector<Napi::Value>&) { return finish(e); };
  spec.settled = [busy] { *busy = false; };
  spec.context = std::move(job.context);
  spec.hold = {job.self};  // keeps the instance (and so its busy flag) alive
  Napi::Promise promise = AsyncJob::queue(env, std::move(spec));
  *busy = true;
  return promise;
}

}  // namespace dendrite::bindings
