// gemm, gemv, ger.

#include "args.h"
#include "bindings.h"
#include "common/staging.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;

// An input's copy: the one float32_input made, or a new one of a borrowed array (a result that
// starts as an input must never be written where JS can see it).
Buffer<float> owned(const ArrayArg<float>& x) { return x.buffer ? x.buffer : Buffer<float>::copy(x.data, x.length); }

// gemm({ a, b, c?, m, n, k, transA?, transB?, alpha?, beta?, device?, threads? })
// -> Promise<Float32Array> holding alpha * op(a) * op(b) + beta * c (m x n); inputs are untouched.
Napi::Value gemm(const Napi::CallbackInfo& info) {
  Args args(info, "gemm", {"a", "b", "c", "m", "n", "k", "transA", "transB", "alpha", "beta", "device", "threads"});
  const int64_t m = args.integer("m", 1, kMaxDim), n = args.integer("n", 1, kMaxDim),
                k = args.integer("k", 1, kMaxDim);
  const bool trans_a = args.boolean_or("transA", false), trans_b = args.boolean_or("transB", false);
  const float alpha = args.number_or("alpha", 1.0f, -3.4e38, 3.4e38);
  const float beta = args.number_or("beta", 0.0f, -3.4e38, 3.4e38);
  const size_t la = args.product({m, k}, "a (m*k)"), lb = args.product({k, n}, "b (k*n)"), mn = args.product({m, n}, "c (m*n)");
  const Target target = args.target(2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
  // A call that runs at once on the calling thread reads its inputs where they are (Args has run
  // every getter already, and no JS runs until the kernel is done); a queued one copies them.
  const bool borrow = runs_on_calling_thread(target);
  const auto a = args.float32_input("a", la, false, borrow), b = args.float32_input("b", lb, false, borrow),
             c = args.float32_input("c", mn, true, borrow);

  // The result starts as a copy of c (the job's own memory) and is handed over at completion;
  // without c the kernel writes every element.
  const Buffer<float> out = c ? owned(c) : Buffer<float>::uninitialized(mn);
  const GemmShape g = contiguous_gemm(trans_a, trans_b, m, n, k, alpha, c ? beta : 0.0f);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        const float* da = st.in(a.data, a.length);
        const float* db = st.in(b.data, b.length);
        float* dc = g.beta != 0.0f ? st.inout(out.data(), mn) : st.out(out.data(), mn);
        be.gemm(g, da, db, dc);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// gemv({ a, x, y?, rows, cols, trans?, alpha?, beta?, device?, threads? })
// -> Promise<Float32Array> holding alpha * op(a) * x + beta * y, where a is rows x cols and
// op(a) = a^T when trans; x has cols entries (rows when trans), the result rows (cols when
// trans). y is used only with beta; without y, beta is ignored. Inputs are untouched.
Napi::Value gemv(const Napi::CallbackInfo& info) {
  Args args(info, "gemv", {"a", "x", "y", "rows", "cols", "trans", "alpha", "beta", "device", "threads"});
  const int64_t rows = args.integer("rows", 1, kMaxDim), cols = args.integer("cols", 1, kMaxDim);
  const bool trans = args.boolean_or("trans", false);
  const float alpha = args.number_or("alpha", 1.0f, -3.4e38, 3.4e38);
  const float beta = args.number_or("beta", 0.0f, -3.4e38, 3.4e38);
  const size_t la = args.product({rows, cols}, "a (rows*cols)");
  const size_t x_len = static_cast<size_t>(trans ? rows : cols), y_len = static_cast<size_t>(trans ? cols : rows);
  const Target target = args.target(2.0 * static_cast<double>(rows) * static_cast<double>(cols));
  const bool borrow = runs_on_calling_thread(target);  // as in gemm
  const auto a = args.float32_input("a", la, false, borrow), x = args.float32_input("x", x_len, false, borrow),
             y = args.float32_input("y", y_len, true, borrow);

  const Buffer<float> out = y ? owned(y) : Buffer<float>::uninitialized(y_len);
  const float beta_used = y ? beta : 0.0f;
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        const float* da = st.in(a.data, a.length);
        const float* dx = st.in(x.data, x.length);
        float* dy = beta_used != 0.0f ? st.inout(out.data(), y_len) : st.out(out.data(), y_len);
        be.gemv(trans, rows, cols, alpha, da, dx, beta_used, dy);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// ger({ a, x, y, rows, cols, alpha?, device?, threads? })
// -> Promise<Float32Array> holding a + alpha * x * y^T (rows x cols); a is not modified.
Napi::Value ger(const Napi::CallbackInfo& info) {
  Args args(info, "ger", {"a", "x", "y", "rows", "cols", "alpha", "device", "threads"});
  const int64_t rows = args.integer("rows", 1, kMaxDim), cols = args.integer("cols", 1, kMaxDim);
  const float alpha = args.number_or("alpha", 1.0f, -3.4e38, 3.4e38);
  const size_t n = args.product({rows, cols}, "a (rows*cols)");
  auto a = args.float32("a", n);
  auto x = args.float32("x", static_cast<size_t>(rows));
  auto y = args.float32("y", static_cast<size_t>(cols));
  const Target target = args.target(2.0 * static_cast<double>(rows) * static_cast<double>(cols));

  // The result starts as the copy of a and is updated in place.
  const Buffer<float> out = a.buffer;
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        const float* dx = st.in(x.data, x.length);
        const float* dy = st.in(y.data, y.length);
        float* da = st.inout(out.data(), n);
        be.ger(rows, cols, alpha, dx, dy, da);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

}  // namespace

void register_linalg(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New<guarded<gemm>>(env, "gemm"));
  exports.Set("gemv", Napi::Function::New<guarded<gemv>>(env, "gemv"));
  exports.Set("ger", Napi::Function::New<guarded<ger>>(env, "ger"));
}

}  // namespace dendrite::bindings
