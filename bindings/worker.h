// Runs a native job off the main thread and settles a promise with its result.
//
// The JS arrays a job reads or writes are allocated or checked on the main thread and kept
// alive by references until the promise settles; the job itself sees raw pointers only.
#pragma once

#include <napi.h>

#include <functional>
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

// Wraps a binding so that a dendrite::Error thrown while checking arguments on the main
// thread becomes the matching JS error.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Error& e) {
    throw to_js_error(info.Env(), e.kind(), e.what());
  }
}

}  // namespace dendrite::bindings
