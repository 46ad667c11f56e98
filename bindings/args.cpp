#include "args.h"

#include "cpu_executor.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>
#include <type_traits>

namespace dendrite::bindings {

Args::Args(const Napi::CallbackInfo& info, const char* fn, std::initializer_list<const char*> keys)
    : Args(info, std::string(fn), std::vector<const char*>(keys)) {}

Args::Args(const Napi::CallbackInfo& info, const std::string& fn, std::vector<const char*> keys)
    : env_(info.Env()), fn_(fn) {
  if (info.Length() != 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray() || info[0].IsFunction()) {
    throw Napi::TypeError::New(env_, fn_ + ": expected one options object");
  }
  read(info[0].As<Napi::Object>(), std::move(keys));
}

Args::Args(Napi::Env env, Napi::Value options, const std::string& fn, std::initializer_list<const char*> keys)
    : env_(env), fn_(fn) {
  if (!options.IsObject() || options.IsArray() || options.IsTypedArray() || options.IsFunction()) {
    throw Napi::TypeError::New(env_, fn_ + ": expected an options object");
  }
  read(options.As<Napi::Object>(), keys);
}

void Args::read(Napi::Object options, std::vector<const char*> keys) {
  keys_ = std::move(keys);
  values_.assign(keys_.size(), nullptr);
  napi_value names = nullptr;
  uint32_t count = 0;
  NAPI_THROW_IF_FAILED_VOID(env_, napi_get_property_names(env_, options, &names));
  NAPI_THROW_IF_FAILED_VOID(env_, napi_get_array_length(env_, names, &count));
  for (uint32_t i = 0; i < count; ++i) {
    napi_value name = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env_, napi_get_element(env_, names, i, &name));
    // Every key is shorter than this buffer: a name that fills it is unknown.
    char text[64];
    size_t length = 0;
    const bool named = napi_get_value_string_utf8(env_, name, text, sizeof text, &length) == napi_ok;
    const size_t k = named && length + 1 < sizeof text ? index_of(text) : keys_.size();
    if (k == keys_.size()) {
      std::string list;
      for (const char* key : keys_) list += (list.empty() ? "" : ", ") + std::string(key);
      throw Napi::TypeError::New(env_, fn_ + ": unknown option \"" + Napi::Value(env_, name).ToString().Utf8Value() +
                                           "\" (expected " + list + ")");
    }
    NAPI_THROW_IF_FAILED_VOID(env_, napi_get_property(env_, options, name, &values_[k]));
  }
}

size_t Args::index_of(const char* key) const {
  for (size_t k = 0; k < keys_.size(); ++k)
    if (keys_[k] == key) return k;  // the same literal, as a rule
  for (size_t k = 0; k < keys_.size(); ++k)
    if (std::strcmp(keys_[k], key) == 0) return k;
  return keys_.size();
}

void Args::type_error(const std::string& key, const std::string& message) const {
  throw Napi::TypeError::New(env_, fn_ + ": " + key + " " + message);
}

void Args::range_error(const std::string& key, const std::string& message) const {
  throw Napi::RangeError::New(env_, fn_ + ": " + key + " " + message);
}

Napi::Value Args::get(const char* key) const {
  const size_t k = index_of(key);
  return k < values_.size() && values_[k] != nullptr ? Napi::Value(env_, values_[k]) : env_.Undefined();
}

int64_t Args::integer(const char* key, int64_t min, int64_t max) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) type_error(key, "is required (an integer)");
  return integer_or(key, 0, min, max);
}

int64_t Args::integer_or(const char* key, int64_t fallback, int64_t min, int64_t max) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) type_error(key, "must be an integer, got " + std::string(v.IsString() ? "a string" : "a non-number"));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) range_error(key, "must be an integer, got " + v.ToString().Utf8Value());
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    range_error(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                         v.ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

float Args::number(const char* key, double min, double max) const {
  if (get(key).IsUndefined()) type_error(key, "is required (a number)");
  return number_or(key, 0.0f, min, max);
}

float Args::number_or(const char* key, float fallback, double min, double max) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) type_error(key, "must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) range_error(key, "must be finite, got " + v.ToString().Utf8Value());
  if (d < min || d > max) {
    range_error(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                         v.ToString().Utf8Value());
  }
  // Values beyond float's range would become infinite in the kernels.
  if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
    range_error(key, "is too large for float32: " + v.ToString().Utf8Value());
  }
  return static_cast<float>(d);
}

uint64_t Args::u64_or(const char* key, uint64_t fallback) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return fallback;
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) range_error(key, "must be a bigint in [0, 2^64)");
    return u;
  }
  if (!v.IsNumber()) type_error(key, "must be a non-negative integer or a bigint");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > 9007199254740991.0) {
    range_error(key, "must be a non-negative safe integer (or a bigint), got " + v.ToString().Utf8Value());
  }
  return static_cast<uint64_t>(d);
}

uint64_t Args::u64(const char* key) const {
  if (get(key).IsUndefined()) type_error(key, "is required (a non-negative integer or a bigint)");
  return u64_or(key, 0);
}

bool Args::boolean_or(const char* key, bool fallback) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) type_error(key, "must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string Args::string_or(const char* key, const std::string& fallback) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) type_error(key, "must be a string");
  return v.As<Napi::String>().Utf8Value();
}

double Args::real(const char* key) const {
  Napi::Value v = get(key);
  if (v.IsUndefined()) type_error(key, "is required (a number)");
  if (!v.IsNumber()) type_error(key, "must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) range_error(key, "must be finite, got " + v.ToString().Utf8Value());
  return d;
}

std::vector<double> Args::reals(const char* key) const {
  Napi::Value v = get(key);
  if (!v.IsArray()) type_error(key, "must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<double> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) type_error(key, "must be an array of numbers (entry " + std::to_string(i) + " is not)");
    out[i] = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(out[i])) range_error(key, "entry " + std::to_string(i) + " must be finite, got " + e.ToString().Utf8Value());
  }
  return out;
}

size_t Args::choice(const char* key, const std::vector<std::string>& choices) const {
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "\"" : ", \"") + c + "\"";
  Napi::Value v = get(key);
  if (!v.IsString()) type_error(key, "must be one of " + list);
  const std::string s = v.As<Napi::String>().Utf8Value();
  for (size_t i = 0; i < choices.size(); ++i) {
    if (s == choices[i]) return i;
  }
  range_error(key, "must be one of " + list + ", got \"" + s + "\"");
}

namespace {
template <class T>
constexpr napi_typedarray_type typed_array_type() {
  if constexpr (std::is_same_v<T, float>) return napi_float32_array;
  if constexpr (std::is_same_v<T, int32_t>) return napi_int32_array;
  if constexpr (std::is_same_v<T, uint8_t>) return napi_uint8_array;
}
template <class T>
constexpr const char* typed_array_name() {
  if constexpr (std::is_same_v<T, float>) return "a Float32Array";
  if constexpr (std::is_same_v<T, int32_t>) return "an Int32Array";
  if constexpr (std::is_same_v<T, uint8_t>) return "a Uint8Array";
}
}  // namespace

template <class T>
ArrayArg<T> Args::array(const char* key, size_t length, bool optional) const {
  return array_of<T>(get(key), key, length, optional, false);
}

template <class T>
ArrayArg<T> Args::array_of(Napi::Value v, const char* key, size_t length, bool optional, bool borrow) const {
  ArrayArg<T> arg;
  arg.value = v;
  if (v.IsUndefined() && optional) return arg;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != typed_array_type<T>()) {
    type_error(key, std::string("must be ") + typed_array_name<T>());
  }
  auto typed = v.As<Napi::TypedArrayOf<T>>();
  if (typed.ElementLength() != length) {
    range_error(key, "has length " + std::to_string(typed.ElementLength()) + ", expected " + std::to_string(length));
  }
  arg.length = length;
  if (borrow) {
    arg.data = typed.Data();
    return arg;
  }
  // Copied now, with no JS run between reading the array's storage and copying it.
  arg.buffer = Buffer<T>::copy(typed.Data(), length);
  arg.data = arg.buffer.data();
  return arg;
}

ArrayArg<float> Args::float32_any(const char* key, size_t max_length) const {
  Napi::Value v = get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    type_error(key, "must be a Float32Array");
  }
  const size_t length = v.As<Napi::TypedArray>().ElementLength();
  if (length > max_length) {
    range_error(key, "has length " + std::to_string(length) + ", at most " + std::to_string(max_length) + " allowed");
  }
  return array<float>(key, length, false);
}

template ArrayArg<float> Args::array<float>(const char*, size_t, bool) const;
template ArrayArg<int32_t> Args::array<int32_t>(const char*, size_t, bool) const;
template ArrayArg<uint8_t> Args::array<uint8_t>(const char*, size_t, bool) const;
template ArrayArg<float> Args::array_of<float>(Napi::Value, const char*, size_t, bool, bool) const;

namespace {
template <class T>
size_t any_length(const Args& args, Napi::Value v, const char* key, size_t max_length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != typed_array_type<T>()) {
    args.type_error(key, std::string("must be ") + typed_array_name<T>());
  }
  const size_t length = v.As<Napi::TypedArray>().ElementLength();
  if (length > max_length) {
    args.range_error(key, "has length " + std::to_string(length) + ", at most " + std::to_string(max_length) + " allowed");
  }
  return length;
}
}  // namespace

ArrayArg<uint8_t> Args::uint8_any(const char* key, size_t max_length) const {
  return array<uint8_t>(key, any_length<uint8_t>(*this, get(key), key, max_length), false);
}

ArrayArg<int32_t> Args::int32_any(const char* key, size_t max_length) const {
  return array<int32_t>(key, any_length<int32_t>(*this, get(key), key, max_length), false);
}

Target Args::target(double work) const {
  Target t;
  t.work = work;
  std::string device = string_or("device", "cpu");
  t.device = resolve_device(device);
  t.threads = has("threads") ? static_cast<int>(integer("threads", 1, 1024)) : default_threads();
  if (t.device.kind == DeviceKind::Cpu) {
    const std::string why = check_threads(t.threads);
    if (!why.empty()) range_error("threads", "= " + std::to_string(t.threads) + ": " + why);
  }
  return t;
}

namespace {
// The SharedArrayBuffer behind a typed array, if any (napi_is_arraybuffer is false for one).
bool shared_backing(Napi::Env env, Napi::Value typed) {
  napi_value ab = nullptr;
  if (napi_get_typedarray_info(env, typed, nullptr, nullptr, nullptr, &ab, nullptr) != napi_ok) return false;
  bool plain = false;
  return napi_is_arraybuffer(env, ab, &plain) == napi_ok && !plain;
}
}  // namespace

ArrayArg<float> Args::float32_inplace(const char* key, size_t length) const {
  Napi::Value v = get(key);
  if (v.IsTypedArray() && shared_backing(env_, v)) {
    type_error(key, "must not be backed by a SharedArrayBuffer: it is updated in place when the call completes, "
                    "which would race with other threads' writes");
  }
  return array<float>(key, length, false);
}

ArrayArg<float> Args::float32_inplace_any(const char* key, size_t max_length) const {
  Napi::Value v = get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    type_error(key, "must be a Float32Array");
  }
  const size_t length = v.As<Napi::TypedArray>().ElementLength();
  if (length > max_length) {
    range_error(key, "has length " + std::to_string(length) + ", at most " + std::to_string(max_length) + " allowed");
  }
  return float32_inplace(key, length);
}

size_t Args::uint8_length(const char* key, size_t max_length) const {
  Napi::Value v = get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    type_error(key, "must be a Uint8Array");
  }
  const size_t length = v.As<Napi::TypedArray>().ElementLength();
  if (length > max_length) {
    range_error(key, "has length " + std::to_string(length) + ", at most " + std::to_string(max_length) + " allowed");
  }
  return length;
}

Buffer<uint8_t> Args::uint8_rows(const char* key, size_t row_length, const std::vector<int32_t>& rows) const {
  Napi::Value v = get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    type_error(key, "must be a Uint8Array");
  }
  auto typed = v.As<Napi::Uint8Array>();
  const size_t length = typed.ElementLength();
  const uint8_t* src = typed.Data();
  const size_t available = row_length == 0 ? 0 : length / row_length;
  Buffer<uint8_t> out = Buffer<uint8_t>::uninitialized(rows.size() * row_length);
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t r = rows[i];
    if (r < 0 || static_cast<size_t>(r) >= available) {
      range_error(key, "changed while the call's options were read: row " + std::to_string(r) + " is outside its " +
                           std::to_string(available) + " rows now");
    }
    if (row_length > 0) std::memcpy(out.data() + i * row_length, src + static_cast<size_t>(r) * row_length, row_length);
  }
  return out;
}

size_t Args::product(std::initializer_list<int64_t> dims, const char* what) const {
  // Arrays are indexed with 64-bit integers, but JS typed arrays hold at most 2^32 elements here.
  constexpr int64_t kMaxElements = int64_t{1} << 32;
  int64_t p = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d != 0 && p > kMaxElements / d)) range_error(what, "is too large");
    p *= d;
  }
  if (p > kMaxElements) range_error(what, "is too large");
  return static_cast<size_t>(p);
}

bool Args::boolean(const char* key) const {
  if (get(key).IsUndefined()) type_error(key, "is required (a boolean)");
  return boolean_or(key, false);
}

}  // namespace dendrite::bindings
