// Runs a native job off the main thread and settles a promise with its result: PromiseWorker for
// the addon's functions, queue_class_job() for the methods of its classes (Sequential,
// SegregatedNetwork). Both run CPU work on the one CPU executor thread (cpu_executor.h).
//
// The JS arrays a job reads or writes are allocated or checked on the main thread and kept
// alive by references until the promise settles; the job itself sees raw pointers only.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "args.h"
#include "common/backend.h"
#include "common/error.h"

namespace dendrite::bindings {

// Builds the JS error for a native error: TypeError / RangeError / Error, with a `code`.
Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& message);

// What a job threw on a worker thread, carried to the main thread (nothing may escape there).
struct JobFailure {
  bool failed = false;
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
};

// Runs `job`, catching whatever it throws. Every worker's Execute() goes through here.
JobFailure run_catching(const std::function<void()>& job);

// On the main thread: rejects `deferred` with the failure (its message prefixed by `context`), or
// resolves it with result() (a JS error thrown while building the result rejects it too).
void settle(Napi::Env env, Napi::Promise::Deferred& deferred, const JobFailure& failure, const std::string& context,
            const std::function<Napi::Value()>& result);

class PromiseWorker final : public Napi::AsyncWorker {
 public:
  using Job = std::function<void(Backend&)>;
  // Turns the prepared result into the value the promise resolves with (on the main thread).
  using Finish = std::function<Napi::Value(Napi::Env, Napi::Value)>;

  // Queues `job` on a backend for `target`. The promise resolves with `result` (prepared on
  // the main thread, typically the output arrays), or with finish(env, result) when given.
  // `keep` lists the other JS values (input arrays) whose memory the job uses.
  static Napi::Promise queue(Napi::Env env, const Target& target, std::vector<Napi::Value> keep, Job job,
                             Napi::Value result, Finish finish = nullptr);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  PromiseWorker(Napi::Env env, const Target& target, Job job, Finish finish);

  Napi::Promise::Deferred deferred_;
  Target target_;
  Job job_;
  Finish finish_;
  Napi::Reference<Napi::Value> result_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  JobFailure failure_;
};

// One job of a native class instance. While it runs the instance is busy (its methods refuse to
// run: the native object's buffers are in use), its JS object and the `keep` values are referenced
// (neither the instance nor the arrays the job uses can be collected), and a CPU job runs on the
// CPU executor. The promise resolves with finish() on the main thread, or rejects with the JS
// error of what the job threw, its message prefixed by `context`. The busy flag is cleared first.
struct ClassJob {
  Napi::Object self;              // the instance's JS object
  bool* busy = nullptr;           // the instance's busy flag (set here, cleared before settling)
  bool cpu = true;                // run on the CPU executor (else on the libuv worker thread: a device job)
  std::vector<Napi::Value> keep;  // JS values whose memory the job uses (undefined ones are skipped)
  std::function<void()> run;      // on a worker thread: no JS
  std::function<Napi::Value(Napi::Env)> finish;  // on the main thread: the value the promise resolves with
  std::string context;            // prefix of the messages of a failed job, e.g. "Sequential: "
};

// Queues the job and returns its promise. Throws a JS Error when the instance is already busy.
Napi::Promise queue_class_job(Napi::Env env, ClassJob job);

// Calls f() on the main thread and turns a native error it throws (dendrite::Error, bad_alloc, any
// std::exception) into the matching JS error, its message prefixed by `context`; JS errors pass
// through. Every synchronous binding entry runs inside this, so no C++ exception reaches N-API.
template <class F>
auto js_errors(Napi::Env env, const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw to_js_error(env, e.kind(), context + e.what());
  } catch (const std::bad_alloc&) {
    throw to_js_error(env, ErrorKind::OutOfMemory, context + "out of memory");
  } catch (const std::exception& e) {
    throw to_js_error(env, ErrorKind::Internal, context + e.what());
  }
}

// A binding function whose native errors become JS errors (js_errors).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return js_errors(info.Env(), "", [&] { return F(info); });
}

}  // namespace dendrite::bindings
