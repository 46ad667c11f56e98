#include "reference.h"

#include <algorithm>
#include <cmath>

namespace dendrite::test::ref {

size_t gemm_a_size(const GemmShape& g) { return static_cast<size_t>((g.trans_a ? g.k : g.m) * g.lda); }
size_t gemm_b_size(const GemmShape& g) { return static_cast<size_t>((g.trans_b ? g.n : g.k) * g.ldb); }
size_t gemm_c_size(const GemmShape& g) { return static_cast<size_t>(g.m * g.ldc); }

Sum gemm(const GemmShape& g, const Vec& a, const Vec& b, const Vec& c0) {
  Sum r{to_dvec(c0), DVec(c0.size(), 0.0)};  // padding: untouched, so magnitude (tolerance) 0
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0, m = 0;
      for (int64_t p = 0; p < g.k; ++p) {
        const double av = g.trans_a ? a[p * g.lda + i] : a[i * g.lda + p];
        const double bv = g.trans_b ? b[j * g.ldb + p] : b[p * g.ldb + j];
        s += av * bv;
        m += std::fabs(av * bv);
      }
      const size_t o = static_cast<size_t>(i * g.ldc + j);
      const double c = g.beta == 0.0f ? 0.0 : static_cast<double>(g.beta) * c0[o];
      r.val[o] = g.alpha * s + c;
      r.mag[o] = std::fabs(g.alpha) * m + std::fabs(c);
    }
  }
  return r;
}

Sum gemv(bool trans, int64_t rows, int64_t cols, float alpha, const Vec& a, const Vec& x, float beta, const Vec& y0) {
  const int64_t outs = trans ? cols : rows, len = trans ? rows : cols;
  Sum r{DVec(outs), DVec(outs)};
  for (int64_t o = 0; o < outs; ++o) {
    double s = 0, m = 0;
    for (int64_t p = 0; p < len; ++p) {
      const double t = static_cast<double>(trans ? a[p * cols + o] : a[o * cols + p]) * x[p];
      s += t;
      m += std::fabs(t);
    }
    const double c = beta == 0.0f ? 0.0 : static_cast<double>(beta) * y0[o];
    r.val[o] = alpha * s + c;
    r.mag[o] = std::fabs(alpha) * m + std::fabs(c);
  }
  return r;
}

Sum ger(int64_t rows, int64_t cols, float alpha, const Vec& x, const Vec& y, const Vec& a0) {
  Sum r{DVec(a0.size()), DVec(a0.size())};
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const size_t o = static_cast<size_t>(i * cols + j);
      const double t = static_cast<double>(alpha) * x[i] * y[j];
      r.val[o] = a0[o] + t;
      r.mag[o] = std::fabs(a0[o]) + std::fabs(t);
    }
  }
  return r;
}

DVec unary(UnaryOp op, const Vec& x, float scale, float shift) {
  DVec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double s = 1.0 / (1.0 + std::exp(-v));
    switch (op) {
      case UnaryOp::Sigmoid: y[i] = s; break;
      case UnaryOp::SigmoidGrad: y[i] = s * (1.0 - s); break;
      case UnaryOp::Relu: y[i] = v > 0 ? v : 0.0; break;
      case UnaryOp::ReluGrad: y[i] = v > 0 ? 1.0 : 0.0; break;
      case UnaryOp::ScaleShift: y[i] = static_cast<double>(scale) * v + shift; break;
    }
  }
  return y;
}

Sum row_sums(int64_t rows, int64_t cols, const Vec& a) {
  Sum r{DVec(rows, 0.0), DVec(rows, 0.0)};
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      r.val[i] += a[i * cols + j];
      r.mag[i] += std::fabs(a[i * cols + j]);
    }
  return r;
}

Sum col_sums(int64_t rows, int64_t cols, const Vec& a) {
  Sum r{DVec(cols, 0.0), DVec(cols, 0.0)};
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      r.val[j] += a[i * cols + j];
      r.mag[j] += std::fabs(a[i * cols + j]);
    }
  return r;
}

SoftmaxCe softmax_ce(int64_t batch, int64_t classes, const Vec& logits, const std::vector<int32_t>& labels) {
  SoftmaxCe r{DVec(batch), DVec(batch * classes)};
  for (int64_t b = 0; b < batch; ++b) {
    const float* z = logits.data() + b * classes;
    double mx = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, static_cast<double>(z[c]));
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - mx);
    r.losses[b] = std::log(sum) - (z[labels[b]] - mx);
    for (int64_t c = 0; c < classes; ++c) {
      r.grad[b * classes + c] = (std::exp(z[c] - mx) / sum - (c == labels[b] ? 1.0 : 0.0)) / static_cast<double>(batch);
    }
  }
  return r;
}

Sum conv_forward(const Conv2dShape& s, const Vec& x, const Vec& w, const Vec& bias) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  const size_t n = static_cast<size_t>(s.batch * s.out_channels * oh * ow);
  Sum r{DVec(n), DVec(n)};
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          double acc = bias.empty() ? 0.0 : bias[o];
          double mag = std::fabs(acc);
          for (int64_t c = 0; c < s.in_channels; ++c)
            for (int64_t i = 0; i < s.kernel_h; ++i)
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t h = y * s.stride - s.pad + i, ww = xo * s.stride - s.pad + j;
                if (h < 0 || h >= s.in_h || ww < 0 || ww >= s.in_w) continue;
                const double t = static_cast<double>(x[((b * s.in_channels + c) * s.in_h + h) * s.in_w + ww]) *
                                 w[((o * s.in_channels + c) * s.kernel_h + i) * s.kernel_w + j];
                acc += t;
                mag += std::fabs(t);
              }
          const size_t idx = static_cast<size_t>(((b * s.out_channels + o) * oh + y) * ow + xo);
          r.val[idx] = acc;
          r.mag[idx] = mag;
        }
  return r;
}

ConvGrads conv_backward(const Conv2dShape& s, const Vec& x, const Vec& w, const Vec& dy) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  ConvGrads r;
  r.dx = Sum{DVec(x.size(), 0.0), DVec(x.size(), 0.0)};
  r.dw = Sum{DVec(w.size(), 0.0), DVec(w.size(), 0.0)};
  r.db = Sum{DVec(s.out_channels, 0.0), DVec(s.out_channels, 0.0)};
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          const double g = dy[((b * s.out_channels + o) * oh + y) * ow + xo];
          r.db.val[o] += g;
          r.db.mag[o] += std::fabs(g);
          for (int64_t c = 0; c < s.in_channels; ++c)
            for (int64_t i = 0; i < s.kernel_h; ++i)
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t h = y * s.stride - s.pad + i, ww = xo * s.stride - s.pad + j;
                if (h < 0 || h >= s.in_h || ww < 0 || ww >= s.in_w) continue;
                const size_t xi = static_cast<size_t>(((b * s.in_channels + c) * s.in_h + h) * s.in_w + ww);
                const size_t wi = static_cast<size_t>(((o * s.in_channels + c) * s.kernel_h + i) * s.kernel_w + j);
                r.dx.val[xi] += g * w[wi];
                r.dx.mag[xi] += std::fabs(g * w[wi]);
                r.dw.val[wi] += g * x[xi];
                r.dw.mag[wi] += std::fabs(g * x[xi]);
              }
        }
  return r;
}

Pool maxpool_forward(const Pool2dShape& s, const Vec& x) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  Pool r{Vec(static_cast<size_t>(s.batch * s.channels * oh * ow)),
         std::vector<int32_t>(static_cast<size_t>(s.batch * s.channels * oh * ow))};
  for (int64_t pl = 0; pl < s.batch * s.channels; ++pl)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t xo = 0; xo < ow; ++xo) {
        int64_t best = -1;
        for (int64_t i = 0; i < 2; ++i)
          for (int64_t j = 0; j < 2; ++j) {
            const int64_t at = (2 * y + i) * s.in_w + 2 * xo + j;
            if (best < 0 || x[pl * s.in_h * s.in_w + at] > x[pl * s.in_h * s.in_w + best]) best = at;
          }
        const size_t o = static_cast<size_t>((pl * oh + y) * ow + xo);
        r.y[o] = x[pl * s.in_h * s.in_w + best];
        r.argmax[o] = static_cast<int32_t>(best);
      }
  return r;
}

Vec maxpool_backward(const Pool2dShape& s, const Vec& dy, const std::vector<int32_t>& argmax) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  Vec dx(static_cast<size_t>(s.batch * s.channels * s.in_h * s.in_w), 0.0f);
  for (int64_t pl = 0; pl < s.batch * s.channels; ++pl)
    for (int64_t o = 0; o < oh * ow; ++o) dx[pl * s.in_h * s.in_w + argmax[pl * oh * ow + o]] += dy[pl * oh * ow + o];
  return dx;
}

namespace {
size_t bn_at(const BatchNormShape& s, int64_t b, int64_t c, int64_t p) {
  return static_cast<size_t>((b * s.channels + c) * s.spatial + p);
}
}  // namespace

BnTrain bn_train(const BatchNormShape& s, const Vec& x, const Vec& gamma, const Vec& beta, const Vec& rmean0,
                 const Vec& rvar0) {
  BnTrain r{DVec(x.size()), DVec(s.channels), DVec(s.channels), DVec(s.channels), DVec(s.channels)};
  const double n = static_cast<double>(s.batch * s.spatial);
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t p = 0; p < s.spatial; ++p) sum += x[bn_at(s, b, c, p)];
    const double mean = sum / n;
    double sq = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t p = 0; p < s.spatial; ++p) sq += (x[bn_at(s, b, c, p)] - mean) * (x[bn_at(s, b, c, p)] - mean);
    const double var = sq / n;
    const double invstd = 1.0 / std::sqrt(var + s.eps);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t p = 0; p < s.spatial; ++p) {
        const size_t o = bn_at(s, b, c, p);
        r.y[o] = (x[o] - mean) * invstd * gamma[c] + beta[c];
      }
    r.mean[c] = mean;
    r.invstd[c] = invstd;
    r.running_mean[c] = (1.0 - s.momentum) * rmean0[c] + s.momentum * mean;
    r.running_var[c] = (1.0 - s.momentum) * rvar0[c] + s.momentum * sq / (n - 1.0);
  }
  return r;
}

DVec bn_eval(const BatchNormShape& s, const Vec& x, const Vec& gamma, const Vec& beta, const Vec& rmean,
             const Vec& rvar) {
  DVec y(x.size());
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t p = 0; p < s.spatial; ++p) {
        const size_t o = bn_at(s, b, c, p);
        y[o] = (x[o] - rmean[c]) / std::sqrt(static_cast<double>(rvar[c]) + s.eps) * gamma[c] + beta[c];
      }
  return y;
}

BnGrads bn_backward(const BatchNormShape& s, const Vec& x, const Vec& dy, const Vec& gamma, const Vec& mean,
                    const Vec& invstd) {
  BnGrads r{DVec(x.size()), DVec(s.channels), DVec(s.channels)};
  const double n = static_cast<double>(s.batch * s.spatial);
  for (int64_t c = 0; c < s.channels; ++c) {
    double sd = 0, sdx = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t p = 0; p < s.spatial; ++p) {
        const size_t o = bn_at(s, b, c, p);
        sd += dy[o];
        sdx += dy[o] * (x[o] - static_cast<double>(mean[c])) * invstd[c];
      }
    r.dbeta[c] = sd;
    r.dgamma[c] = sdx;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t p = 0; p < s.spatial; ++p) {
        const size_t o = bn_at(s, b, c, p);
        const double xhat = (x[o] - static_cast<double>(mean[c])) * invstd[c];
        r.dx[o] = static_cast<double>(gamma[c]) * invstd[c] * (dy[o] - sd / n - xhat * sdx / n);
      }
  }
  return r;
}

Optim sgd(const SgdParams& p, const Vec& param, const Vec& grad, const Vec& velocity) {
  const size_t n = param.size();
  Optim r{{DVec(n), DVec(n)}, {}, {DVec(velocity.size()), DVec(velocity.size())}};
  for (size_t i = 0; i < n; ++i) {
    const double g = grad[i] + static_cast<double>(p.weight_decay) * param[i];
    const double gmag = std::fabs(grad[i]) + std::fabs(static_cast<double>(p.weight_decay) * param[i]);
    double step = g, smag = gmag;
    if (p.momentum != 0.0f) {
      step = static_cast<double>(p.momentum) * velocity[i] + g;
      smag = std::fabs(static_cast<double>(p.momentum) * velocity[i]) + gmag;
      r.v.val[i] = step;
      r.v.mag[i] = smag;
    }
    r.param.val[i] = param[i] - static_cast<double>(p.lr) * step;
    r.param.mag[i] = std::fabs(param[i]) + std::fabs(static_cast<double>(p.lr)) * smag;
  }
  return r;
}

Optim adam(const AdamParams& p, const Vec& param, const Vec& grad, const Vec& m, const Vec& v) {
  const size_t n = param.size();
  Optim r{{DVec(n), DVec(n)}, {DVec(n), DVec(n)}, {DVec(n), DVec(n)}};
  const double b1 = p.beta1, b2 = p.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(p.step));
  for (size_t i = 0; i < n; ++i) {
    const double g = grad[i] + static_cast<double>(p.weight_decay) * param[i];
    const double gmag = std::fabs(grad[i]) + std::fabs(static_cast<double>(p.weight_decay) * param[i]);
    const double mi = b1 * m[i] + (1.0 - b1) * g;
    const double vi = b2 * v[i] + (1.0 - b2) * g * g;
    r.m.val[i] = mi;
    r.m.mag[i] = std::fabs(b1 * m[i]) + (1.0 - b1) * gmag;
    r.v.val[i] = vi;
    r.v.mag[i] = b2 * v[i] + (1.0 - b2) * gmag * gmag;
    const double denom = std::sqrt(vi) / std::sqrt(bc2) + p.eps;
    const double step = p.lr / bc1 * mi / denom;
    r.param.val[i] = param[i] - step;
    // The update's relative error follows m's (cancellation in m) and the division.
    r.param.mag[i] = std::fabs(param[i]) + p.lr / bc1 * r.m.mag[i] / denom;
  }
  return r;
}

}  // namespace dendrite::test::ref
