// Plain double-precision reference loops for every kernel, written from the definitions in
// backend.h / shapes.h and nothing else. Reductions also return the magnitude of each result
// (the sum of the absolute values of its terms), from which the tolerances are derived.
#pragma once

#include <cstdint>
#include <vector>

#include "../common/shapes.h"
#include "harness.h"

namespace dendrite::test::ref {

struct Sum {
  DVec val;  // the result
  DVec mag;  // sum of |terms| of each result
};

// Array sizes of the operands of a GEMM as stored (with their leading dimensions).
size_t gemm_a_size(const GemmShape& g);
size_t gemm_b_size(const GemmShape& g);
size_t gemm_c_size(const GemmShape& g);

// The whole C buffer: padding beyond n in each row keeps c0.
Sum gemm(const GemmShape& g, const Vec& a, const Vec& b, const Vec& c0);
Sum gemv(bool trans, int64_t rows, int64_t cols, float alpha, const Vec& a, const Vec& x, float beta, const Vec& y0);
Sum ger(int64_t rows, int64_t cols, float alpha, const Vec& x, const Vec& y, const Vec& a0);

DVec unary(UnaryOp op, const Vec& x, float scale, float shift);
Sum row_sums(int64_t rows, int64_t cols, const Vec& a);
Sum col_sums(int64_t rows, int64_t cols, const Vec& a);

struct SoftmaxCe {
  DVec losses, grad;
};
SoftmaxCe softmax_ce(int64_t batch, int64_t classes, const Vec& logits, const std::vector<int32_t>& labels);

Sum conv_forward(const Conv2dShape& s, const Vec& x, const Vec& w, const Vec& bias);
struct ConvGrads {
  Sum dx, dw, db;
};
ConvGrads conv_backward(const Conv2dShape& s, const Vec& x, const Vec& w, const Vec& dy);

struct Pool {
  Vec y;
  std::vector<int32_t> argmax;
};
Pool maxpool_forward(const Pool2dShape& s, const Vec& x);
Vec maxpool_backward(const Pool2dShape& s, const Vec& dy, const std::vector<int32_t>& argmax);

struct BnTrain {
  DVec y, mean, invstd, running_mean, running_var;
};
BnTrain bn_train(const BatchNormShape& s, const Vec& x, const Vec& gamma, const Vec& beta, const Vec& rmean0,
                 const Vec& rvar0);
DVec bn_eval(const BatchNormShape& s, const Vec& x, const Vec& gamma, const Vec& beta, const Vec& rmean,
             const Vec& rvar);
struct BnGrads {
  DVec dx, dgamma, dbeta;
};
BnGrads bn_backward(const BatchNormShape& s, const Vec& x, const Vec& dy, const Vec& gamma, const Vec& mean,
                    const Vec& invstd);

// Optimiser states after one update, with the magnitudes of the terms of the last operation
// producing each value.
struct Optim {
  Sum param, m, v;  // sgd: v is the velocity; m unused
};
Optim sgd(const SgdParams& p, const Vec& param, const Vec& grad, const Vec& velocity);
Optim adam(const AdamParams& p, const Vec& param, const Vec& grad, const Vec& m, const Vec& v);

}  // namespace dendrite::test::ref
