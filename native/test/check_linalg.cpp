// gemm, gemv, ger, unary ops, row/column sums, softmax cross-entropy, and calls with empty sizes.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <string>

#include "../common/staging.h"
#include "checks.h"
#include "reference.h"

namespace dendrite::test {
namespace {

std::string dims(int64_t a, int64_t b) { return std::to_string(a) + "x" + std::to_string(b); }
std::string dims(int64_t a, int64_t b, int64_t c) { return dims(a, b) + "x" + std::to_string(c); }

std::string num(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void gemm_case(Checker& ck, const Mode& mode, Inputs& in, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
               int64_t pad, float alpha, float beta) {
  GemmShape g = contiguous_gemm(ta, tb, m, n, k, alpha, beta);
  g.lda += pad;
  g.ldb += pad;
  g.ldc += pad;
  const Vec a = in.uniform(ref::gemm_a_size(g), -1, 1);
  const Vec b = in.uniform(ref::gemm_b_size(g), -1, 1);
  Vec c0 = in.uniform(ref::gemm_c_size(g), -1, 1);
  // beta == 0: C must not be read, so NaN there must not show (the padding stays finite).
  if (beta == 0.0f) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c0[i * g.ldc + j] = NAN;
  }
  const std::string name = mode.prefix + " gemm " + (ta ? "T" : "N") + (tb ? "T" : "N") + " " + dims(m, n, k) +
                           (pad ? " ld+" + std::to_string(pad) : "") + " alpha=" + num(alpha) + " beta=" + num(beta);
  ck.run(name, [&] {
    const ref::Sum r = ref::gemm(g, a, b, c0);
    // Each C element is a sum of k products plus beta * c; padding is untouched (tolerance 0).
    const Expect e{r.val, sum_tol(r.mag, static_cast<double>(k + 1))};
    return verify(
        mode,
        [&](Backend& be) {
          Vec c = c0;
          HostStaging st(be);
          be.gemm(g, st.in(a.data(), a.size()), st.in(b.data(), b.size()), st.inout(c.data(), c.size()));
          st.finish();
          return std::vector<Output>{output("C", c)};
        },
        {e});
  });
}

void gemv_case(Checker& ck, const Mode& mode, Inputs& in, bool trans, int64_t rows, int64_t cols, float beta) {
  const float alpha = 1.25f;
  const int64_t outs = trans ? cols : rows, len = trans ? rows : cols;
  const Vec a = in.uniform(static_cast<size_t>(rows * cols), -1, 1);
  const Vec x = in.uniform(static_cast<size_t>(len), -1, 1);
  Vec y0 = in.uniform(static_cast<size_t>(outs), -1, 1);
  if (beta == 0.0f)
    for (auto& v : y0) v = NAN;
  ck.run(mode.prefix + " gemv " + (trans ? "T " : "N ") + dims(rows, cols) + " beta=" + num(beta), [&] {
    const ref::Sum r = ref::gemv(trans, rows, cols, alpha, a, x, beta, y0);
    return verify(
        mode,
        [&](Backend& be) {
          Vec y = y0;
          HostStaging st(be);
          be.gemv(trans, rows, cols, alpha, st.in(a.data(), a.size()), st.in(x.data(), x.size()), beta,
                  st.inout(y.data(), y.size()));
          st.finish();
          return std::vector<Output>{output("y", y)};
        },
        {Expect{r.val, sum_tol(r.mag, static_cast<double>(len + 1))}});
  });
}

void ger_case(Checker& ck, const Mode& mode, Inputs& in, int64_t rows, int64_t cols) {
  const float alpha = -0.7f;
  const Vec x = in.uniform(static_cast<size_t>(rows), -1, 1);
  const Vec y = in.uniform(static_cast<size_t>(cols), -1, 1);
  const Vec a0 = in.uniform(static_cast<size_t>(rows * cols), -1, 1);
  ck.run(mode.prefix + " ger " + dims(rows, cols), [&] {
    const ref::Sum r = ref::ger(rows, cols, alpha, x, y, a0);
    return verify(
        mode,
        [&](Backend& be) {
          Vec a = a0;
          HostStaging st(be);
          be.ger(rows, cols, alpha, st.in(x.data(), x.size()), st.in(y.data(), y.size()),
                 st.inout(a.data(), a.size()));
          st.finish();
          return std::vector<Output>{output("A", a)};
        },
        {Expect{r.val, sum_tol(r.mag, 2)}});
  });
}

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::SigmoidGrad: return "sigmoid_grad";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::ReluGrad: return "relu_grad";
    case UnaryOp::ScaleShift: return "scale_shift";
  }
  return "?";
}

void unary_case(Checker& ck, const Mode& mode, const Vec& x, UnaryOp op, bool in_place) {
  const float scale = -1.7f, shift = 0.3f;
  ck.run(mode.prefix + " unary " + op_name(op) + " n=" + std::to_string(x.size()) + (in_place ? " in place" : ""),
         [&] {
           const DVec want = ref::unary(op, x, scale, shift);
           DVec tol(x.size());
           for (size_t i = 0; i < x.size(); ++i) {
             if (op == UnaryOp::Relu || op == UnaryOp::ReluGrad) {
               tol[i] = 0;  // exact
             } else if (op == UnaryOp::ScaleShift) {
               tol[i] = 1e-5 * std::fabs(want[i]) + 2 * FLT_EPSILON * (std::fabs(scale * x[i]) + std::fabs(shift));
             } else {
               // Relative 1e-5, plus an absolute 4 ulp of 1: s * (1 - s) loses relative accuracy
               // where s rounds near 1.
               tol[i] = 1e-5 * std::fabs(want[i]) + 4 * FLT_EPSILON;
             }
           }
           return verify(
               mode,
               [&](Backend& be) {
                 Vec y(x.size(), NAN);
                 HostStaging st(be);
                 if (in_place) {
                   y = x;
                   float* p = st.inout(y.data(), y.size());
                   be.unary(op, static_cast<int64_t>(x.size()), p, p, scale, shift);
                 } else {
                   be.unary(op, static_cast<int64_t>(x.size()), st.in(x.data(), x.size()),
                            st.out(y.data(), y.size()), scale, shift);
                 }
                 st.finish();
                 return std::vector<Output>{output("y", y)};
               },
               {Expect{want, tol}});
         });
}

void sums_case(Checker& ck, const Mode& mode, Inputs& in, int64_t rows, int64_t cols) {
  const Vec a = in.uniform(static_cast<size_t>(rows * cols), -1, 1);
  ck.run(mode.prefix + " row_sums " + dims(rows, cols), [&] {
    const ref::Sum r = ref::row_sums(rows, cols, a);
    return verify(
        mode,
        [&](Backend& be) {
          Vec out(static_cast<size_t>(rows), NAN);
          HostStaging st(be);
          be.row_sums(rows, cols, st.in(a.data(), a.size()), st.out(out.data(), out.size()));
          st.finish();
          return std::vector<Output>{output("sums", out)};
        },
        {Expect{r.val, sum_tol(r.mag, static_cast<double>(cols))}});
  });
  ck.run(mode.prefix + " col_sums " + dims(rows, cols), [&] {
    const ref::Sum r = ref::col_sums(rows, cols, a);
    return verify(
        mode,
        [&](Backend& be) {
          Vec out(static_cast<size_t>(cols), NAN);
          HostStaging st(be);
          be.col_sums(rows, cols, st.in(a.data(), a.size()), st.out(out.data(), out.size()));
          st.finish();
          return std::vector<Output>{output("sums", out)};
        },
        {Expect{r.val, sum_tol(r.mag, static_cast<double>(rows))}});
  });
}

void softmax_case(Checker& ck, const Mode& mode, Inputs& in, int64_t batch, int64_t classes, float offset) {
  const Vec logits = in.uniform(static_cast<size_t>(batch * classes), offset - 10, offset + 10);
  const std::vector<int32_t> labels = in.labels(static_cast<size_t>(batch), static_cast<int32_t>(classes));
  ck.run(mode.prefix + " softmax_cross_entropy " + dims(batch, classes) + (offset != 0 ? " offset " + num(offset) : ""),
         [&] {
           const ref::SoftmaxCe r = ref::softmax_ce(batch, classes, logits, labels);
           // Relative 1e-5, with absolute floors of 1e-5 (loss) and 1e-5 / batch (gradient,
           // where p - 1 cancels).
           const Expect el{r.losses, rel_tol(r.losses, 1e-5, 1e-5)};
           const Expect eg{r.grad, rel_tol(r.grad, 1e-5, 1e-5 / static_cast<double>(batch))};
           return verify(
               mode,
               [&](Backend& be) {
                 Vec losses(static_cast<size_t>(batch), NAN), grad(static_cast<size_t>(batch * classes), NAN);
                 HostStaging st(be);
                 be.softmax_cross_entropy(batch, classes, st.in(logits.data(), logits.size()),
                                          st.in(labels.data(), labels.size()), st.out(losses.data(), losses.size()),
                                          st.out(grad.data(), grad.size()));
                 st.finish();
                 return std::vector<Output>{output("losses", losses), output("grad", grad)};
               },
               {el, eg});
         });
}

}  // namespace

void check_linalg(Checker& ck, const Mode& mode, bool device) {
  Inputs in(1001);
  struct Shape {
    int64_t m, n, k, pad;
  };
  std::vector<Shape> shapes = {{1, 1, 1, 0},    {3, 17, 5, 0},     {17, 3, 513, 0},
                               {33, 65, 31, 3}, {64, 64, 64, 0},   {5, 4, 0, 1},
                               {130, 129, 257, 0}, {7, 300, 20, 2}};
  if (device) {
    // float4 loads in every transpose (all leading dimensions multiples of 4), and not.
    shapes.push_back({256, 128, 68, 0});
    shapes.push_back({257, 129, 67, 1});
  }
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 2, tb = t & 1;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape& s = shapes[i];
      const bool plain = i % 2 == 0;
      gemm_case(ck, mode, in, ta, tb, s.m, s.n, s.k, s.pad, plain ? 1.0f : 0.5f, plain ? 0.0f : -1.5f);
    }
  }
  if (device) {
    // 128 x 128 tiles (aligned and not), and more than 65535 row tiles (grid y).
    gemm_case(ck, mode, in, false, false, 2100, 2048, 36, 0, 1.0f, 0.0f);
    gemm_case(ck, mode, in, true, true, 2100, 2050, 33, 0, 0.5f, 2.0f);
    gemm_case(ck, mode, in, false, true, 2100, 2050, 33, 1, 1.0f, 0.0f);
    gemm_case(ck, mode, in, false, false, 4194305, 2, 3, 0, 1.0f, 1.0f);
  }

  struct MatShape {
    int64_t rows, cols;
  };
  std::vector<MatShape> gv = {{1, 1}, {17, 513}, {513, 3}, {64, 64}, {23, 100}};
  if (device) {
    gv.push_back({3000, 2000});
    gv.push_back({100003, 7});
    gv.push_back({7, 100003});
  }
  for (int trans = 0; trans < 2; ++trans)
    for (size_t i = 0; i < gv.size(); ++i) gemv_case(ck, mode, in, trans, gv[i].rows, gv[i].cols, i % 2 ? 0.75f : 0.0f);

  std::vector<MatShape> gr = {{1, 1}, {17, 33}, {130, 7}};
  if (device) gr.push_back({1000, 3001});
  for (const auto& s : gr) ger_case(ck, mode, in, s.rows, s.cols);
}

void check_elementwise(Checker& ck, const Mode& mode, bool device) {
  Inputs in(2002);
  Vec x = in.uniform(1031, -9, 9);
  for (float v : {0.0f, -0.0f, 30.0f, -30.0f, 88.0f, -88.0f, 1e-8f, -1e-8f}) x.push_back(v);
  const Vec one = {0.25f};
  for (UnaryOp op : {UnaryOp::Sigmoid, UnaryOp::SigmoidGrad, UnaryOp::Relu, UnaryOp::ReluGrad, UnaryOp::ScaleShift}) {
    unary_case(ck, mode, x, op, false);
    unary_case(ck, mode, one, op, false);
  }
  unary_case(ck, mode, x, UnaryOp::Sigmoid, true);
  unary_case(ck, mode, x, UnaryOp::ScaleShift, true);
  if (device) {
    const Vec big = in.uniform(3000017, -9, 9);
    unary_case(ck, mode, big, UnaryOp::Sigmoid, false);
    unary_case(ck, mode, big, UnaryOp::ReluGrad, true);
  }

  struct MatShape {
    int64_t rows, cols;
  };
  std::vector<MatShape> sh = {{1, 1}, {3, 517}, {517, 3}, {64, 100}};
  if (device) {
    sh.push_back({100003, 10});
    sh.push_back({10, 100003});
  }
  for (const auto& s : sh) sums_case(ck, mode, in, s.rows, s.cols);

  softmax_case(ck, mode, in, 1, 1, 0);
  softmax_case(ck, mode, in, 5, 10, 0);
  softmax_case(ck, mode, in, 64, 10, 0);
  softmax_case(ck, mode, in, 3, 1000, 100);
  if (device) {
    softmax_case(ck, mode, in, 4097, 10, 0);
    softmax_case(ck, mode, in, 7, 5000, -50);
  }
}

void check_empty(Checker& ck, const Mode& mode) {
  ck.run(mode.prefix + " empty sizes do nothing", [&] {
    Backend& be = *mode.test;
    be.gemm(contiguous_gemm(false, false, 0, 5, 3, 1, 0), nullptr, nullptr, nullptr);
    be.gemm(contiguous_gemm(true, true, 5, 0, 3, 1, 0), nullptr, nullptr, nullptr);
    be.gemv(false, 0, 4, 1, nullptr, nullptr, 0, nullptr);
    be.gemv(true, 4, 0, 1, nullptr, nullptr, 0, nullptr);
    be.ger(0, 3, 1, nullptr, nullptr, nullptr);
    be.unary(UnaryOp::Sigmoid, 0, nullptr, nullptr, 1, 0);
    be.row_sums(0, 3, nullptr, nullptr);
    be.col_sums(3, 0, nullptr, nullptr);
    be.softmax_cross_entropy(0, 10, nullptr, nullptr, nullptr, nullptr);
    Pool2dShape p;
    p.batch = 0;
    p.channels = 3;
    p.in_h = p.in_w = 4;
    be.maxpool2x2_forward(p, nullptr, nullptr, nullptr);
    be.maxpool2x2_backward(p, nullptr, nullptr, nullptr);
    SgdParams sp;
    be.sgd_update(0, sp, nullptr, nullptr, nullptr);
    AdamParams ap;
    be.adam_update(0, ap, nullptr, nullptr, nullptr, nullptr);
    RngStream r;
    be.random_uniform(r, 0, 0, 1, nullptr);
    be.random_normal(r, 0, 0, 1, nullptr);
    be.random_bernoulli(r, 0, nullptr, nullptr);
    be.random_poisson(r, 0, nullptr, nullptr);
    be.random_wald(r, 0, 1, 1, nullptr);
    return std::string();
  });
}

}  // namespace dendrite::test
