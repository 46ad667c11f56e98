// conv2d forward/backward, 2x2 max-pooling, batch normalisation.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <string>

#include "../common/staging.h"
#include "checks.h"
#include "reference.h"

namespace dendrite::test {
namespace {

std::string conv_name(const Conv2dShape& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "b%lld c%lld %lldx%lld -> o%lld k%lldx%lld s%lld p%lld",
                static_cast<long long>(s.batch), static_cast<long long>(s.in_channels),
                static_cast<long long>(s.in_h), static_cast<long long>(s.in_w),
                static_cast<long long>(s.out_channels), static_cast<long long>(s.kernel_h),
                static_cast<long long>(s.kernel_w), static_cast<long long>(s.stride), static_cast<long long>(s.pad));
  return buf;
}

Conv2dShape conv_shape(int64_t batch, int64_t ic, int64_t h, int64_t w, int64_t oc, int64_t kh, int64_t kw,
                       int64_t stride, int64_t pad) {
  Conv2dShape s;
  s.batch = batch;
  s.in_channels = ic;
  s.in_h = h;
  s.in_w = w;
  s.out_channels = oc;
  s.kernel_h = kh;
  s.kernel_w = kw;
  s.stride = stride;
  s.pad = pad;
  return s;
}

struct ConvCase {
  Conv2dShape s;
  bool bias;
};

void conv_case(Checker& ck, const Mode& mode, Inputs& in, const ConvCase& cc) {
  const Conv2dShape& s = cc.s;
  const size_t xn = static_cast<size_t>(s.batch * s.in_channels * s.in_h * s.in_w);
  const size_t wn = static_cast<size_t>(s.out_channels * s.in_channels * s.kernel_h * s.kernel_w);
  const size_t yn = static_cast<size_t>(s.batch * s.out_channels * s.out_h() * s.out_w());
  const Vec x = in.uniform(xn, -1, 1), w = in.uniform(wn, -1, 1), dy = in.uniform(yn, -1, 1);
  const Vec bias = cc.bias ? in.uniform(static_cast<size_t>(s.out_channels), -1, 1) : Vec();
  const int64_t k = s.in_channels * s.kernel_h * s.kernel_w;

  ck.run(mode.prefix + " conv2d_forward " + conv_name(s) + (cc.bias ? " bias" : ""), [&] {
    const ref::Sum f = ref::conv_forward(s, x, w, bias);
    return verify(
        mode,
        [&](Backend& be) {
          Vec y(yn, NAN);
          HostStaging st(be);
          be.conv2d_forward(s, st.in(x.data(), xn), st.in(w.data(), wn),
                            cc.bias ? st.in(bias.data(), bias.size()) : nullptr, st.out(y.data(), yn));
          st.finish();
          return std::vector<Output>{output("y", y)};
        },
        {Expect{f.val, sum_tol(f.mag, static_cast<double>(k + 1))}});
  });

  const ref::ConvGrads r = ref::conv_backward(s, x, w, dy);
  const double dx_terms = static_cast<double>(s.out_channels * s.kernel_h * s.kernel_w);
  const double dw_terms = static_cast<double>(s.batch * s.out_h() * s.out_w());
  ck.run(mode.prefix + " conv2d_backward " + conv_name(s), [&] {
    return verify(
        mode,
        [&](Backend& be) {
          // Filled with NaN: dw and db must be overwritten, not accumulated into.
          Vec dx(xn, NAN), dwv(wn, NAN), db(static_cast<size_t>(s.out_channels), NAN);
          HostStaging st(be);
          be.conv2d_backward(s, st.in(x.data(), xn), st.in(w.data(), wn), st.in(dy.data(), yn),
                             st.out(dx.data(), xn), st.out(dwv.data(), wn), st.out(db.data(), db.size()));
          st.finish();
          return std::vector<Output>{output("dx", dx), output("dw", dwv), output("db", db)};
        },
        {Expect{r.dx.val, sum_tol(r.dx.mag, dx_terms)}, Expect{r.dw.val, sum_tol(r.dw.mag, dw_terms)},
         Expect{r.db.val, sum_tol(r.db.mag, dw_terms)}});
  });
  ck.run(mode.prefix + " conv2d_backward dw only " + conv_name(s), [&] {
    return verify(
        mode,
        [&](Backend& be) {
          Vec dwv(wn, NAN);
          HostStaging st(be);
          be.conv2d_backward(s, st.in(x.data(), xn), st.in(w.data(), wn), st.in(dy.data(), yn), nullptr,
                             st.out(dwv.data(), wn), nullptr);
          st.finish();
          return std::vector<Output>{output("dw", dwv)};
        },
        {Expect{r.dw.val, sum_tol(r.dw.mag, dw_terms)}});
  });
}

void pool_case(Checker& ck, const Mode& mode, Inputs& in, int64_t batch, int64_t channels, int64_t h, int64_t w) {
  Pool2dShape s;
  s.batch = batch;
  s.channels = channels;
  s.in_h = h;
  s.in_w = w;
  const size_t xn = static_cast<size_t>(batch * channels * h * w);
  const size_t yn = static_cast<size_t>(batch * channels * s.out_h() * s.out_w());
  const Vec x = in.coarse(xn, -2, 2, 0.5f);  // many ties: the first in row-major order must win
  const Vec dy = in.uniform(yn, -1, 1);
  const std::string name = std::to_string(batch) + "x" + std::to_string(channels) + "x" + std::to_string(h) + "x" +
                           std::to_string(w);
  ck.run(mode.prefix + " maxpool2x2_forward " + name, [&] {
    const ref::Pool r = ref::maxpool_forward(s, x);
    return verify(
        mode,
        [&](Backend& be) {
          Vec y(yn, NAN);
          std::vector<int32_t> am(yn, -7);
          HostStaging st(be);
          be.maxpool2x2_forward(s, st.in(x.data(), xn), st.out(y.data(), yn), st.out(am.data(), yn));
          st.finish();
          return std::vector<Output>{output("y", y), output("argmax", am)};
        },
        {Expect{to_dvec(r.y), DVec(yn, 0.0)}, Expect{to_dvec(r.argmax), DVec(yn, 0.0)}});
  });
  ck.run(mode.prefix + " maxpool2x2_backward " + name, [&] {
    const ref::Pool r = ref::maxpool_forward(s, x);
    const Vec want = ref::maxpool_backward(s, dy, r.argmax);
    return verify(
        mode,
        [&](Backend& be) {
          Vec dx(xn, NAN);
          HostStaging st(be);
          be.maxpool2x2_backward(s, st.in(dy.data(), yn), st.in(r.argmax.data(), yn), st.out(dx.data(), xn));
          st.finish();
          return std::vector<Output>{output("dx", dx)};
        },
        {Expect{to_dvec(want), DVec(xn, 0.0)}});
  });
}

// 16 * FLT_EPSILON * sqrt(N) * (|want[i]| + max |want|): the statistics are sums of N terms, and
// every output is an O(1) combination of them.
DVec bn_tol(const DVec& want, double n) {
  double mx = 0;
  for (double v : want) mx = std::max(mx, std::fabs(v));
  DVec t(want.size());
  for (size_t i = 0; i < want.size(); ++i) t[i] = 16 * FLT_EPSILON * std::sqrt(n) * (std::fabs(want[i]) + mx);
  return t;
}

Vec to_floats(const DVec& v) { return Vec(v.begin(), v.end()); }

void bn_case(Checker& ck, const Mode& mode, Inputs& in, int64_t batch, int64_t channels, int64_t spatial) {
  BatchNormShape s;
  s.batch = batch;
  s.channels = channels;
  s.spatial = spatial;
  s.eps = 1e-5f;
  s.momentum = 0.1f;
  const size_t n = static_cast<size_t>(batch * channels * spatial), c = static_cast<size_t>(channels);
  const double count = static_cast<double>(batch * spatial);
  const Vec x = in.normal(n, 1.5f, 2.0f), dy = in.normal(n, 0.0f, 1.0f);
  const Vec gamma = in.uniform(c, 0.5f, 1.5f), beta = in.uniform(c, -1, 1);
  const Vec rmean0 = in.uniform(c, -0.5f, 0.5f), rvar0 = in.uniform(c, 0.5f, 2.0f);
  const std::string name = std::to_string(batch) + "x" + std::to_string(channels) + "x" + std::to_string(spatial);

  ck.run(mode.prefix + " batchnorm_forward_train " + name, [&] {
    const ref::BnTrain r = ref::bn_train(s, x, gamma, beta, rmean0, rvar0);
    return verify(
        mode,
        [&](Backend& be) {
          Vec y(n, NAN), mean(c, NAN), invstd(c, NAN), rm = rmean0, rv = rvar0;
          HostStaging st(be);
          be.batchnorm_forward_train(s, st.in(x.data(), n), st.in(gamma.data(), c), st.in(beta.data(), c),
                                     st.out(y.data(), n), st.out(mean.data(), c), st.out(invstd.data(), c),
                                     st.inout(rm.data(), c), st.inout(rv.data(), c));
          st.finish();
          return std::vector<Output>{output("y", y), output("saved_mean", mean), output("saved_invstd", invstd),
                                     output("running_mean", rm), output("running_var", rv)};
        },
        {Expect{r.y, bn_tol(r.y, count)}, Expect{r.mean, bn_tol(r.mean, count)},
         Expect{r.invstd, bn_tol(r.invstd, count)}, Expect{r.running_mean, bn_tol(r.running_mean, count)},
         Expect{r.running_var, bn_tol(r.running_var, count)}});
  });
  // Fused with a ReLU: the same outputs, y through the ReLU (to the reference's y relu'd).
  ck.run(mode.prefix + " batchnorm_relu_forward_train " + name, [&] {
    const ref::BnTrain r = ref::bn_train(s, x, gamma, beta, rmean0, rvar0);
    DVec want = r.y;
    for (double& v : want) v = v > 0 ? v : 0.0;
    return verify(
        mode,
        [&](Backend& be) {
          Vec y(n, NAN), mean(c, NAN), invstd(c, NAN), rm = rmean0, rv = rvar0;
          HostStaging st(be);
          be.batchnorm_relu_forward_train(s, st.in(x.data(), n), st.in(gamma.data(), c), st.in(beta.data(), c),
                                          st.out(y.data(), n), st.out(mean.data(), c), st.out(invstd.data(), c),
                                          st.inout(rm.data(), c), st.inout(rv.data(), c));
          st.finish();
          return std::vector<Output>{output("y", y), output("saved_mean", mean), output("saved_invstd", invstd)};
        },
        {Expect{want, bn_tol(r.y, count)}, Expect{r.mean, bn_tol(r.mean, count)},
         Expect{r.invstd, bn_tol(r.invstd, count)}});
  });
  ck.run(mode.prefix + " batchnorm_forward_eval " + name, [&] {
    const DVec want = ref::bn_eval(s, x, gamma, beta, rmean0, rvar0);
    return verify(
        mode,
        [&](Backend& be) {
          Vec y(n, NAN);
          HostStaging st(be);
          be.batchnorm_forward_eval(s, st.in(x.data(), n), st.in(gamma.data(), c), st.in(beta.data(), c),
                                    st.in(rmean0.data(), c), st.in(rvar0.data(), c), st.out(y.data(), n));
          st.finish();
          return std::vector<Output>{output("y", y)};
        },
        // Elementwise: relative 1e-5 of the array's scale.
        {Expect{want, bn_tol(want, 1.0)}});
  });
  ck.run(mode.prefix + " batchnorm_backward " + name, [&] {
    const ref::BnTrain t = ref::bn_train(s, x, gamma, beta, rmean0, rvar0);
    const Vec mean = to_floats(t.mean), invstd = to_floats(t.invstd);
    const ref::BnGrads r = ref::bn_backward(s, x, dy, gamma, mean, invstd);
    return verify(
        mode,
        [&](Backend& be) {
          Vec dx(n, NAN), dgamma(c, NAN), dbeta(c, NAN);
          HostStaging st(be);
          be.batchnorm_backward(s, st.in(x.data(), n), st.in(dy.data(), n), st.in(gamma.data(), c),
                                st.in(mean.data(), c), st.in(invstd.data(), c), st.out(dx.data(), n),
                                st.out(dgamma.data(), c), st.out(dbeta.data(), c));
          st.finish();
          return std::vector<Output>{output("dx", dx), output("dgamma", dgamma), output("dbeta", dbeta)};
        },
        {Expect{r.dx, bn_tol(r.dx, count)}, Expect{r.dgamma, bn_tol(r.dgamma, count)},
         Expect{r.dbeta, bn_tol(r.dbeta, count)}});
  });
}

}  // namespace

void check_conv_pool(Checker& ck, const Mode& mode, bool device) {
  Inputs in(3003);
  std::vector<ConvCase> cases = {
      {conv_shape(2, 3, 7, 6, 4, 3, 3, 1, 1), true},     {conv_shape(3, 2, 9, 8, 5, 3, 2, 2, 0), true},
      {conv_shape(1, 1, 5, 5, 1, 5, 5, 1, 2), false},    {conv_shape(4, 1, 28, 28, 6, 5, 5, 1, 0), true},
      {conv_shape(2, 6, 13, 11, 7, 4, 4, 3, 2), false},
  };
  if (device) {
    // More images than one workspace chunk holds (about 28 per chunk here), and an MNIST-sized layer.
    cases.push_back({conv_shape(30, 64, 32, 32, 4, 3, 3, 1, 1), true});
    cases.push_back({conv_shape(64, 1, 28, 28, 20, 5, 5, 1, 0), true});
  }
  for (const auto& cc : cases) conv_case(ck, mode, in, cc);
  ck.run(mode.prefix + " conv2d with an empty batch: zero weight gradients", [&] {
    const Conv2dShape s = conv_shape(0, 2, 5, 5, 3, 3, 3, 1, 1);
    Vec dw(54, NAN), db(3, NAN);
    const Vec w(54, 1.0f);
    HostStaging st(*mode.test);
    mode.test->conv2d_forward(s, nullptr, st.in(w.data(), w.size()), nullptr, nullptr);
    mode.test->conv2d_backward(s, nullptr, st.in(w.data(), w.size()), nullptr, nullptr, st.out(dw.data(), dw.size()),
                               st.out(db.data(), db.size()));
    st.finish();
    std::string p = compare("dw", to_dvec(dw), DVec(dw.size(), 0.0), DVec(dw.size(), 0.0));
    return p.empty() ? compare("db", to_dvec(db), DVec(db.size(), 0.0), DVec(db.size(), 0.0)) : p;
  });

  pool_case(ck, mode, in, 2, 3, 6, 6);
  pool_case(ck, mode, in, 1, 2, 7, 9);  // odd edges dropped
  pool_case(ck, mode, in, 3, 1, 1, 5);  // no output rows at all: dx all zero
  if (device) pool_case(ck, mode, in, 64, 32, 33, 31);
}

void check_batchnorm(Checker& ck, const Mode& mode, bool device) {
  Inputs in(4004);
  bn_case(ck, mode, in, 4, 3, 1);
  bn_case(ck, mode, in, 2, 5, 49);
  bn_case(ck, mode, in, 16, 7, 9);
  if (device) {
    bn_case(ck, mode, in, 64, 16, 100);
    bn_case(ck, mode, in, 256, 500, 1);
  }
}

}  // namespace dendrite::test
