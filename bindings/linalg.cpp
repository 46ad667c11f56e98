// gemm, gemv, ger.
#include "args.h"
#include "bindings.h"
#include "common/staging.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;

// gemm({ a, b, c?, m, n, k, transA?, transB?, alpha?, beta?, device?, threads? })
// -> Promise<Float32Array> holding alpha * op(a) * op(b) + beta * c (m x n); inputs are untouched.
Napi::Value gemm(const Napi::CallbackInfo& info) {
  Args args(info, "gemm", {"a", "b", "c", "m", "n", "k", "transA", "transB", "alpha", "beta", "device", "threads"});
  const int64_t m = args.integer("m", 1, kMaxDim), n = args.integer("n", 1, kMaxDim),
                k = args.integer("k", 1, kMaxDim);
  const bool trans_a = args.boolean_or("transA", false), trans_b = args.boolean_or("transB", false);
  const float alpha = args.number_or("alpha", 1.0f, -3.4e38, 3.4e38);
  const float beta = args.number_or("beta", 0.0f, -3.4e38, 3.4e38);
  auto a = args.float32("a", args.product({m, k}, "a (m*k)"));
  auto b = args.float32("b", args.product({k, n}, "b (k*n)"));
  const size_t mn = args.product({m, n}, "c (m*n)");
  auto c = args.float32_optional("c", mn);
  Target target = args.target();

  Napi::Float32Array out = Napi::Float32Array::New(args.env(), mn);
  if (c) std::copy(c.data, c.data + mn, out.Data());
  float* out_data = out.Data();
  const GemmShape g = contiguous_gemm(trans_a, trans_b, m, n, k, alpha, c ? beta : 0.0f);
  return PromiseWorker::queue(
      args.env(), target, {a.value, b.value},
      [=](Backend& be) {
        HostStaging st(be);
        const float* da = st.in(a.data, a.length);
        const float* db = st.in(b.data, b.length);
        float* dc = g.beta != 0.0f ? st.inout(out_data, mn) : st.out(out_data, mn);
        be.gemm(g, da, db, dc);
        st.finish();
      },
      out);
}

}  // namespace

void register_linalg(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New<guarded<gemm>>(env, "gemm"));
}

}  // namespace dendrite::bindings
