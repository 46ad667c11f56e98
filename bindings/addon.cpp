// Module entry point, the device queries and the CPU scheduling settings.
#include <napi.h>

#include "args.h"
#include "bindings.h"
#include "cpu_executor.h"
#include "common/devices.h"
#include "cpu/kernels.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

Napi::Value devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);

  CpuInfo cpu = cpu_info();
  Napi::Object c = Napi::Object::New(env);
  c.Set("logicalCores", cpu.logical_cores);
  c.Set("defaultThreads", cpu.default_threads);
  c.Set("openmp", cpu.openmp);
  c.Set("simd", cpu.simd);
  result.Set("cpu", c);

  CudaInfo cuda = cuda_info();
  Napi::Object g = Napi::Object::New(env);
  g.Set("compiled", cuda.compiled);
  g.Set("architectures", cuda.architectures.empty() ? env.Null() : Napi::Value(Napi::String::New(env, cuda.architectures)));
  g.Set("available", cuda.unavailable.empty());
  if (!cuda.unavailable.empty()) g.Set("reason", cuda.unavailable);
  g.Set("runtimeVersion", cuda.runtime_version);
  g.Set("driverVersion", cuda.driver_version);
  Napi::Array list = Napi::Array::New(env, cuda.devices.size());
  for (size_t i = 0; i < cuda.devices.size(); ++i) {
    const CudaDeviceInfo& d = cuda.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("totalMemory", static_cast<double>(d.total_memory));
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("multiprocessors", d.multiprocessors);
    list.Set(static_cast<uint32_t>(i), o);
  }
  g.Set("devices", list);
  result.Set("cuda", g);
  return result;
}

// resolveDevice(text) -> { device: "cpu" | "cuda:N", fallback?: reason }
Napi::Value resolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "resolveDevice: device must be a string (cpu, cuda, cuda:N or auto)");
  }
  DeviceSpec spec = resolve_device(info[0].As<Napi::String>().Utf8Value());
  Napi::Object result = Napi::Object::New(env);
  result.Set("device", spec.kind == DeviceKind::Cpu ? std::string("cpu") : "cuda:" + std::to_string(spec.index));
  if (!spec.fallback_reason.empty()) result.Set("fallback", spec.fallback_reason);
  return result;
}

// cpuScheduling({ smallCallLimit?, syncCallLimit? }) -> { smallCallLimit, syncCallLimit, threadLimit,
// lanes: { main, small } }: sets the limits given (cpu_executor.h); says the thread cut of busy
// machines (native/cpu/team.cpp; null: none) and what each CPU lane holds now.
Napi::Value cpu_scheduling(const Napi::CallbackInfo& info) {
  Args args(info, "cpuScheduling", {"smallCallLimit", "syncCallLimit"});
  // Both checked before either is set: a call with one bad value changes nothing.
  const bool small = args.has("smallCallLimit"), sync = args.has("syncCallLimit");
  const double small_limit = small ? args.real("smallCallLimit") : 0, sync_limit = sync ? args.real("syncCallLimit") : 0;
  if (small_limit < 0) args.range_error("smallCallLimit", "must be >= 0 (0 sends every call to the main lane)");
  if (sync_limit < 0) args.range_error("syncCallLimit", "must be >= 0 (0: every call runs on an executor thread)");
  if (small) set_small_call_limit(small_limit);
  if (sync) set_sync_call_limit(sync_limit);
  Napi::Env env = info.Env();
  Napi::Object lanes = Napi::Object::New(env);
  for (CpuLane lane : {CpuLane::Main, CpuLane::Small}) {
    const LaneLoad l = lane_load(lane);
    Napi::Object o = Napi::Object::New(env);
    o.Set("queued", static_cast<double>(l.queued));
    o.Set("running", static_cast<double>(l.running));
    o.Set("done", static_cast<double>(l.done));
    lanes.Set(lane == CpuLane::Main ? "main" : "small", o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("smallCallLimit", small_call_limit());
  result.Set("syncCallLimit", sync_call_limit());
  const int limit = cpu::team_limit();
  result.Set("threadLimit", limit > 0 ? Napi::Value(Napi::Number::New(env, limit)) : env.Null());
  result.Set("lanes", lanes);
  return result;
}

}  // namespace

void register_devices(Napi::Env env, Napi::Object exports) {
  exports.Set("devices", Napi::Function::New<guarded<devices>>(env, "devices"));
  exports.Set("resolveDevice", Napi::Function::New<guarded<resolve>>(env, "resolveDevice"));
  exports.Set("cpuScheduling", Napi::Function::New<guarded<cpu_scheduling>>(env, "cpuScheduling"));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  register_devices(env, exports);
  register_linalg(env, exports);
  register_nn(env, exports);
  register_random(env, exports);
  register_sequential(env, exports);
  register_segregated(env, exports);
  return exports;
}

}  // namespace dendrite::bindings

namespace {
Napi::Object init_module(Napi::Env env, Napi::Object exports) { return dendrite::bindings::init(env, exports); }
}  // namespace

NODE_API_MODULE(dendrite, init_module)
