// Float64 reference of the native sequential network (native/common/sequential.h): the forward
// pass in training mode (batch-norm with batch statistics) and the mean softmax cross-entropy,
// written directly from the layer definitions; plus a reference backward pass for dense
// networks under backprop, feedback alignment and direct feedback alignment.
import type { SequentialLayer, SequentialTensorInfo } from '../../src/native';

export interface RefNet {
  input: { channels: number; height: number; width: number };
  classes: number;
  layers: SequentialLayer[];
}

interface Act {
  c: number;
  h: number;
  w: number;
  /** batch x c*h*w */
  v: Float64Array;
}

/** Pixels p / 255 exactly as the network sees them (float32 division, then widened). */
export function pixels(images: Uint8Array, order: ArrayLike<number>, size: number): Float64Array {
  const x = new Float64Array(order.length * size);
  for (let k = 0; k < order.length; k++) {
    for (let j = 0; j < size; j++) x[k * size + j] = Math.fround(images[order[k] * size + j] / 255);
  }
  return x;
}

/** The parameter tensors of each layer, in the native order, viewed in `params`. */
function layerParams(tensors: SequentialTensorInfo[], params: Float64Array, layer: number, kind: string): Float64Array | undefined {
  const t = tensors.find((x) => x.group === 'params' && x.layer === layer && x.kind === kind);
  return t ? params.subarray(t.offset, t.offset + t.size) : undefined;
}

export interface Forward {
  loss: number;
  /** Per-layer outputs (index i = output of layer i), and the input. */
  acts: Act[];
  input: Act;
  logits: Float64Array;
}

export function forward(net: RefNet, tensors: SequentialTensorInfo[], params: Float64Array, x: Float64Array, labels: ArrayLike<number>): Forward {
  const batch = labels.length;
  let a: Act = { c: net.input.channels, h: net.input.height, w: net.input.width, v: x };
  const input = a;
  const acts: Act[] = [];
  net.layers.forEach((l, li) => {
    const size = a.c * a.h * a.w;
    switch (l.type) {
      case 'linear': {
        const W = layerParams(tensors, params, li, 'weight')!;
        const b = layerParams(tensors, params, li, 'bias');
        const out = l.outFeatures;
        const y = new Float64Array(batch * out);
        for (let n = 0; n < batch; n++) {
          for (let o = 0; o < out; o++) {
            let s = b ? b[o] : 0;
            for (let i = 0; i < size; i++) s += a.v[n * size + i] * W[o * size + i];
            y[n * out + o] = s;
          }
        }
        a = { c: out, h: 1, w: 1, v: y };
        break;
      }
      case 'conv2d': {
        const W = layerParams(tensors, params, li, 'weight')!;
        const b = layerParams(tensors, params, li, 'bias');
        const kh = l.kernelH ?? l.kernel!;
        const kw = l.kernelW ?? l.kernel!;
        const s = l.stride ?? 1;
        const p = l.pad ?? 0;
        const oh = (a.h + 2 * p - kh) / s + 1;
        const ow = (a.w + 2 * p - kw) / s + 1;
        const oc = l.outChannels;
        const y = new Float64Array(batch * oc * oh * ow);
        for (let n = 0; n < batch; n++) {
          for (let o = 0; o < oc; o++) {
            for (let yy = 0; yy < oh; yy++) {
              for (let xx = 0; xx < ow; xx++) {
                let acc = b ? b[o] : 0;
                for (let c = 0; c < a.c; c++) {
                  for (let i = 0; i < kh; i++) {
                    const iy = yy * s - p + i;
                    if (iy < 0 || iy >= a.h) continue;
                    for (let j = 0; j < kw; j++) {
                      const ix = xx * s - p + j;
                      if (ix < 0 || ix >= a.w) continue;
                      acc += a.v[((n * a.c + c) * a.h + iy) * a.w + ix] * W[((o * a.c + c) * kh + i) * kw + j];
                    }
                  }
                }
                y[((n * oc + o) * oh + yy) * ow + xx] = acc;
              }
            }
          }
        }
        a = { c: oc, h: oh, w: ow, v: y };
        break;
      }
      case 'batchNorm': {
        const gamma = layerParams(tensors, params, li, 'gamma')!;
        const beta = layerParams(tensors, params, li, 'beta')!;
        const eps = Math.fround(l.eps ?? 1e-5);
        const sp = a.h * a.w;
        const y = new Float64Array(a.v.length);
        for (let c = 0; c < a.c; c++) {
          let mean = 0;
          for (let n = 0; n < batch; n++) for (let k = 0; k < sp; k++) mean += a.v[(n * a.c + c) * sp + k];
          mean /= batch * sp;
          let v = 0;
          for (let n = 0; n < batch; n++) for (let k = 0; k < sp; k++) v += (a.v[(n * a.c + c) * sp + k] - mean) ** 2;
          v /= batch * sp;
          const inv = 1 / Math.sqrt(v + eps);
          for (let n = 0; n < batch; n++) {
            for (let k = 0; k < sp; k++) {
              const i = (n * a.c + c) * sp + k;
              y[i] = (a.v[i] - mean) * inv * gamma[c] + beta[c];
            }
          }
        }
        a = { ...a, v: y };
        break;
      }
      case 'relu':
        a = { ...a, v: a.v.map((v) => (v > 0 ? v : 0)) };
        break;
      case 'maxPool2x2': {
        const oh = a.h / 2;
        const ow = a.w / 2;
        const y = new Float64Array(batch * a.c * oh * ow);
        for (let pl = 0; pl < batch * a.c; pl++) {
          for (let yy = 0; yy < oh; yy++) {
            for (let xx = 0; xx < ow; xx++) {
              const base = pl * a.h * a.w + 2 * yy * a.w + 2 * xx;
              y[(pl * oh + yy) * ow + xx] = Math.max(a.v[base], a.v[base + 1], a.v[base + a.w], a.v[base + a.w + 1]);
            }
          }
        }
        a = { c: a.c, h: oh, w: ow, v: y };
        break;
      }
      case 'flatten':
        a = { c: size, h: 1, w: 1, v: a.v };
        break;
    }
    acts.push(a);
  });
  // mean over the batch of log-sum-exp(z) - z[label]
  const k = net.classes;
  let loss = 0;
  for (let n = 0; n < batch; n++) {
    const z = a.v.subarray(n * k, (n + 1) * k);
    const m = Math.max(...z);
    let s = 0;
    for (const v of z) s += Math.exp(v - m);
    loss += m + Math.log(s) - z[labels[n]];
  }
  return { loss: loss / batch, acts, input, logits: a.v };
}

/** Central finite differences of the reference loss with respect to every parameter. */
export function numericGradient(
  net: RefNet, tensors: SequentialTensorInfo[], params: Float64Array, x: Float64Array, labels: ArrayLike<number>, h = 1e-5,
): Float64Array {
  const g = new Float64Array(params.length);
  const p = Float64Array.from(params);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    p[i] = v + h;
    const up = forward(net, tensors, p, x, labels).loss;
    p[i] = v - h;
    const down = forward(net, tensors, p, x, labels).loss;
    p[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/**
 * Reference backward pass of a dense network (flatten, linear, relu only) under backprop (B = W),
 * feedback alignment (dX = dY B) or direct feedback alignment (dX = e B, e the output error).
 * `feedback` views the feedback matrices of each linear layer (the native layout).
 */
export function denseGradient(
  net: RefNet, tensors: SequentialTensorInfo[], params: Float64Array, feedback: Float64Array, mode: 'backprop' | 'fa' | 'dfa',
  x: Float64Array, labels: ArrayLike<number>,
): Float64Array {
  const f = forward(net, tensors, params, x, labels);
  const batch = labels.length;
  const k = net.classes;
  const grads = new Float64Array(params.length);
  // e = (softmax - onehot) / batch
  const e = new Float64Array(batch * k);
  for (let n = 0; n < batch; n++) {
    const z = f.logits.subarray(n * k, (n + 1) * k);
    const m = Math.max(...z);
    let s = 0;
    for (const v of z) s += Math.exp(v - m);
    for (let j = 0; j < k; j++) e[n * k + j] = (Math.exp(z[j] - m) / s - (j === labels[n] ? 1 : 0)) / batch;
  }
  let dy = e;
  const firstWeighted = net.layers.findIndex((l) => l.type === 'linear');
  for (let li = net.layers.length - 1; li >= firstWeighted; li--) {
    const l = net.layers[li];
    const xin = li === 0 ? f.input : f.acts[li - 1];
    const inSize = xin.c * xin.h * xin.w;
    if (l.type === 'linear') {
      const out = l.outFeatures;
      const wt = tensors.find((t) => t.group === 'params' && t.layer === li && t.kind === 'weight')!;
      const bt = tensors.find((t) => t.group === 'params' && t.layer === li && t.kind === 'bias');
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inSize; i++) {
          let s = 0;
          for (let n = 0; n < batch; n++) s += dy[n * out + o] * xin.v[n * inSize + i];
          grads[wt.offset + o * inSize + i] = s;
        }
        if (bt) {
          let s = 0;
          for (let n = 0; n < batch; n++) s += dy[n * out + o];
          grads[bt.offset + o] = s;
        }
      }
      if (li === firstWeighted) break;
      const ft = tensors.find((t) => t.group === 'feedback' && t.layer === li);
      const W = params.subarray(wt.offset, wt.offset + wt.size);
      const B = mode === 'backprop' ? W : feedback.subarray(ft!.offset, ft!.offset + ft!.size);
      const src = mode === 'dfa' ? e : dy;
      const rows = mode === 'dfa' ? k : out;
      const dx = new Float64Array(batch * inSize);
      for (let n = 0; n < batch; n++) {
        for (let i = 0; i < inSize; i++) {
          let s = 0;
          for (let r = 0; r < rows; r++) s += src[n * rows + r] * B[r * inSize + i];
          dx[n * inSize + i] = s;
        }
      }
      dy = dx;
    } else if (l.type === 'relu') {
      const y = f.acts[li].v;
      dy = dy.map((d, i) => (y[i] > 0 ? d : 0));
    } else if (l.type !== 'flatten') {
      throw new Error(`denseGradient: layer type ${l.type} not supported`);
    }
  }
  return grads;
}
