// Plain-loop float64 references for the neural-network kernels (test use only). They follow
// the definitions in native/common/backend.h and shapes.h, not the native code.

export interface ConvGeom {
  batch: number;
  inChannels: number;
  inH: number;
  inW: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  stride?: number;
  pad?: number;
}

export interface PoolGeom {
  batch: number;
  channels: number;
  inH: number;
  inW: number;
}

export interface BnGeom {
  batch: number;
  channels: number;
  spatial?: number;
  eps?: number;
  momentum?: number;
}

type Arr = ArrayLike<number>;

// ---- elementwise and reductions ----

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function unary(op: string, x: Arr, scale = 1, shift = 0): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; ++i) {
    const v = x[i];
    switch (op) {
      case 'sigmoid':
        y[i] = sigmoid(v);
        break;
      case 'sigmoidGrad': {
        // s(x)(1 - s(x)) written as e / (1 + e)^2, e = exp(-|x|), exact in form for large |x|
        const e = Math.exp(-Math.abs(v));
        y[i] = e / ((1 + e) * (1 + e));
        break;
      }
      case 'relu':
        y[i] = Number.isNaN(v) ? NaN : Math.max(v, 0);
        break;
      case 'reluGrad':
        y[i] = v > 0 ? 1 : 0;
        break;
      case 'scaleShift':
        y[i] = scale * v + shift;
        break;
      default:
        throw new Error(`unknown op ${op}`);
    }
  }
  return y;
}

export function rowSums(a: Arr, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) out[r] += a[r * cols + c];
  return out;
}

export function colSums(a: Arr, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) out[c] += a[r * cols + c];
  return out;
}

/** losses[b] = logsumexp(z_b) - z_b[label]; grad = (softmax - onehot) / batch. */
export function softmaxCrossEntropy(logits: Arr, labels: Arr, batch: number, classes: number) {
  const losses = new Float64Array(batch);
  const grad = new Float64Array(batch * classes);
  for (let b = 0; b < batch; ++b) {
    let m = -Infinity;
    for (let j = 0; j < classes; ++j) m = Math.max(m, logits[b * classes + j]);
    let s = 0;
    for (let j = 0; j < classes; ++j) s += Math.exp(logits[b * classes + j] - m);
    const lse = m + Math.log(s);
    losses[b] = lse - logits[b * classes + labels[b]];
    for (let j = 0; j < classes; ++j) {
      grad[b * classes + j] = (Math.exp(logits[b * classes + j] - lse) - (j === labels[b] ? 1 : 0)) / batch;
    }
  }
  let loss = 0;
  for (let b = 0; b < batch; ++b) loss += losses[b];
  return { loss: loss / batch, losses, grad };
}

// ---- convolution and pooling ----

export function convOut(g: ConvGeom): { outH: number; outW: number } {
  const s = g.stride ?? 1;
  const p = g.pad ?? 0;
  return { outH: Math.floor((g.inH + 2 * p - g.kernelH) / s) + 1, outW: Math.floor((g.inW + 2 * p - g.kernelW) / s) + 1 };
}

/** y[n,o,oy,ox] = bias[o] + sum_{c,i,j} w[o,c,i,j] * x[n,c,oy*s-p+i,ox*s-p+j] (0 outside). */
export function conv2dForward(g: ConvGeom, x: Arr, w: Arr, bias?: Arr): Float64Array {
  const s = g.stride ?? 1;
  const p = g.pad ?? 0;
  const { outH, outW } = convOut(g);
  const y = new Float64Array(g.batch * g.outChannels * outH * outW);
  for (let n = 0; n < g.batch; ++n)
    for (let o = 0; o < g.outChannels; ++o)
      for (let oy = 0; oy < outH; ++oy)
        for (let ox = 0; ox < outW; ++ox) {
          let acc = bias ? bias[o] : 0;
          for (let c = 0; c < g.inChannels; ++c)
            for (let i = 0; i < g.kernelH; ++i) {
              const iy = oy * s - p + i;
              if (iy < 0 || iy >= g.inH) continue;
              for (let j = 0; j < g.kernelW; ++j) {
                const ix = ox * s - p + j;
                if (ix < 0 || ix >= g.inW) continue;
                acc +=
                  w[((o * g.inChannels + c) * g.kernelH + i) * g.kernelW + j] *
                  x[((n * g.inChannels + c) * g.inH + iy) * g.inW + ix];
              }
            }
          y[((n * g.outChannels + o) * outH + oy) * outW + ox] = acc;
        }
  return y;
}

/** Gradients of conv2dForward: the transpose of the same sum. */
export function conv2dBackward(g: ConvGeom, x: Arr, w: Arr, dy: Arr) {
  const s = g.stride ?? 1;
  const p = g.pad ?? 0;
  const { outH, outW } = convOut(g);
  const dx = new Float64Array(g.batch * g.inChannels * g.inH * g.inW);
  const dw = new Float64Array(g.outChannels * g.inChannels * g.kernelH * g.kernelW);
  const db = new Float64Array(g.outChannels);
  for (let n = 0; n < g.batch; ++n)
    for (let o = 0; o < g.outChannels; ++o)
      for (let oy = 0; oy < outH; ++oy)
        for (let ox = 0; ox < outW; ++ox) {
          const d = dy[((n * g.outChannels + o) * outH + oy) * outW + ox];
          db[o] += d;
          for (let c = 0; c < g.inChannels; ++c)
            for (let i = 0; i < g.kernelH; ++i) {
              const iy = oy * s - p + i;
              if (iy < 0 || iy >= g.inH) continue;
              for (let j = 0; j < g.kernelW; ++j) {
                const ix = ox * s - p + j;
                if (ix < 0 || ix >= g.inW) continue;
                const wi = ((o * g.inChannels + c) * g.kernelH + i) * g.kernelW + j;
                const xi = ((n * g.inChannels + c) * g.inH + iy) * g.inW + ix;
                dw[wi] += d * x[xi];
                dx[xi] += d * w[wi];
              }
            }
        }
  return { dx, dw, db };
}

/** 2x2 stride-2 max; argmax = h * inW + w within the plane; ties keep the first; NaN wins. */
export function maxPoolForward(g: PoolGeom, x: Arr) {
  const oh = Math.floor(g.inH / 2);
  const ow = Math.floor(g.inW / 2);
  const y = new Float64Array(g.batch * g.channels * oh * ow);
  const argmax = new Int32Array(y.length);
  for (let pl = 0; pl < g.batch * g.channels; ++pl)
    for (let oy = 0; oy < oh; ++oy)
      for (let ox = 0; ox < ow; ++ox) {
        let best = -1;
        let v = 0;
        for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          const idx = (2 * oy + dy) * g.inW + 2 * ox + dx;
          const u = x[pl * g.inH * g.inW + idx];
          if (best < 0 || (!Number.isNaN(v) && (u > v || Number.isNaN(u)))) {
            best = idx;
            v = u;
          }
        }
        y[(pl * oh + oy) * ow + ox] = v;
        argmax[(pl * oh + oy) * ow + ox] = best;
      }
  return { y, argmax };
}

export function maxPoolBackward(g: PoolGeom, dy: Arr, argmax: Arr): Float64Array {
  const plane = g.inH * g.inW;
  const outPlane = Math.floor(g.inH / 2) * Math.floor(g.inW / 2);
  const dx = new Float64Array(g.batch * g.channels * plane);
  for (let pl = 0; pl < g.batch * g.channels; ++pl)
    for (let i = 0; i < outPlane; ++i) dx[pl * plane + argmax[pl * outPlane + i]] += dy[pl * outPlane + i];
  return dx;
}

// ---- batch normalisation ----

function channelStats(g: BnGeom, x: Arr) {
  const sp = g.spatial ?? 1;
  const count = g.batch * sp;
  const mean = new Float64Array(g.channels);
  const varB = new Float64Array(g.channels);
  for (let c = 0; c < g.channels; ++c) {
    let s = 0;
    for (let n = 0; n < g.batch; ++n) for (let i = 0; i < sp; ++i) s += x[(n * g.channels + c) * sp + i];
    mean[c] = s / count;
    let q = 0;
    for (let n = 0; n < g.batch; ++n)
      for (let i = 0; i < sp; ++i) q += (x[(n * g.channels + c) * sp + i] - mean[c]) ** 2;
    varB[c] = q / count;
  }
  return { mean, varB, count };
}

function normalise(g: BnGeom, x: Arr, mean: Arr, invstd: Arr, gamma: Arr, beta: Arr): Float64Array {
  const sp = g.spatial ?? 1;
  const y = new Float64Array(x.length);
  for (let n = 0; n < g.batch; ++n)
    for (let c = 0; c < g.channels; ++c)
      for (let i = 0; i < sp; ++i) {
        const k = (n * g.channels + c) * sp + i;
        y[k] = (x[k] - mean[c]) * invstd[c] * gamma[c] + beta[c];
      }
  return y;
}

/** PyTorch training-mode batch norm: biased variance normalises, unbiased updates the running variance. */
export function batchNormTrain(g: BnGeom, x: Arr, gamma: Arr, beta: Arr, runningMean: Arr, runningVar: Arr) {
  // the kernels take eps and momentum as float32
  const eps = Math.fround(g.eps ?? 1e-5);
  const mom = Math.fround(g.momentum ?? 0.1);
  const { mean, varB, count } = channelStats(g, x);
  const invstd = varB.map((v) => 1 / Math.sqrt(v + eps));
  const rm = new Float64Array(g.channels);
  const rv = new Float64Array(g.channels);
  for (let c = 0; c < g.channels; ++c) {
    rm[c] = (1 - mom) * runningMean[c] + mom * mean[c];
    rv[c] = (1 - mom) * runningVar[c] + mom * varB[c] * (count / (count - 1));
  }
  return { y: normalise(g, x, mean, invstd, gamma, beta), savedMean: mean, savedInvstd: invstd, runningMean: rm, runningVar: rv };
}

export function batchNormEval(g: BnGeom, x: Arr, gamma: Arr, beta: Arr, runningMean: Arr, runningVar: Arr): Float64Array {
  const eps = Math.fround(g.eps ?? 1e-5);
  const invstd = Array.from(runningVar, (v) => 1 / Math.sqrt(v + eps));
  return normalise(g, x, runningMean, invstd, gamma, beta);
}

/** dbeta = sum dy, dgamma = sum dy*xhat, dx = gamma*invstd/N * (N*dy - dbeta - xhat*dgamma). */
export function batchNormBackward(g: BnGeom, x: Arr, dy: Arr, gamma: Arr, savedMean: Arr, savedInvstd: Arr) {
  const sp = g.spatial ?? 1;
  const count = g.batch * sp;
  const dgamma = new Float64Array(g.channels);
  const dbeta = new Float64Array(g.channels);
  const idx = (n: number, c: number, i: number) => (n * g.channels + c) * sp + i;
  for (let c = 0; c < g.channels; ++c)
    for (let n = 0; n < g.batch; ++n)
      for (let i = 0; i < sp; ++i) {
        const k = idx(n, c, i);
        dbeta[c] += dy[k];
        dgamma[c] += dy[k] * (x[k] - savedMean[c]) * savedInvstd[c];
      }
  const dx = new Float64Array(x.length);
  for (let c = 0; c < g.channels; ++c)
    for (let n = 0; n < g.batch; ++n)
      for (let i = 0; i < sp; ++i) {
        const k = idx(n, c, i);
        const xhat = (x[k] - savedMean[c]) * savedInvstd[c];
        dx[k] = ((gamma[c] * savedInvstd[c]) / count) * (count * dy[k] - dbeta[c] - xhat * dgamma[c]);
      }
  return { dx, dgamma, dbeta };
}

// ---- optimisers: PyTorch's formulas applied operation by operation in float32 ----

const f = Math.fround;

/** torch.optim.SGD (dampening 0, no Nesterov); velocity starts at zeros (== PyTorch's v = g on step 1). */
export function sgdStep(
  param: Float32Array,
  grad: Arr,
  velocity: Float32Array | undefined,
  o: { lr: number; momentum?: number; weightDecay?: number },
): void {
  const lr = f(o.lr);
  const mom = f(o.momentum ?? 0);
  const wd = f(o.weightDecay ?? 0);
  for (let i = 0; i < param.length; ++i) {
    let g = wd !== 0 ? f(grad[i] + f(wd * param[i])) : grad[i];
    if (mom !== 0) {
      g = f(f(mom * velocity![i]) + g);
      velocity![i] = g;
    }
    param[i] = f(param[i] - f(lr * g));
  }
}

/** torch.optim.Adam (no AMSGrad): m = lerp(m, g, 1 - beta1), v = beta2 v + (1 - beta2) g^2,
 *  p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). */
export function adamStep(
  param: Float32Array,
  grad: Arr,
  m: Float32Array,
  v: Float32Array,
  o: { step: number; lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number },
): void {
  const lr = f(o.lr ?? 1e-3);
  const b1 = f(o.beta1 ?? 0.9);
  const b2 = f(o.beta2 ?? 0.999);
  const eps = f(o.eps ?? 1e-8);
  const wd = f(o.weightDecay ?? 0);
  const bc1 = 1 - b1 ** o.step;
  const bc2 = 1 - b2 ** o.step;
  const stepSize = f(lr / bc1);
  const bc2Sqrt = f(Math.sqrt(bc2));
  const w1 = f(1 - b1);
  const w2 = f(1 - b2);
  for (let i = 0; i < param.length; ++i) {
    const g = wd !== 0 ? f(grad[i] + f(wd * param[i])) : grad[i];
    m[i] = w1 < 0.5 ? f(m[i] + f(w1 * f(g - m[i]))) : f(g - f(f(g - m[i]) * f(1 - w1)));
    v[i] = f(f(b2 * v[i]) + f(f(w2 * g) * g));
    const denom = f(f(f(Math.sqrt(v[i])) / bc2Sqrt) + eps);
    param[i] = f(param[i] - f(stepSize * f(m[i] / denom)));
  }
}
