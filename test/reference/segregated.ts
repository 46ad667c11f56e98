// Plain TypeScript reference of the segregated-dendrite network (docs/papers.md),
// written from the spec's equations step by step, with dense PSPs (no event-driven tricks), in
// float32 state (Math.fround) and with the same Philox draws as the native simulator (same
// stream layout: native/common/segregated.h). Agreement with the addon is expected to float32
// rounding (dense vs event-driven sums, libm vs a polynomial exp), not bit for bit.
import * as ph from './philox';

const f = Math.fround;

export interface RefConfig {
  layers: number[];
  nIn: number;
  seed: bigint;
  dt: number;
  lambdaMax: number;
  tauS: number;
  tauL: number;
  gB: number;
  gL: number;
  gD: number;
  gA: number;
  EE: number;
  EI: number;
  conductances: boolean;
  broadcast: boolean;
  spikingFeedforward: boolean;
  spikingFeedback: boolean;
  mem: number;
  forwardPhase: number;
  targetPhase: number;
  testPhase: number;
  integrationTime: number;
  integrationTimeTest: number;
  randomPhaseLengths: boolean;
  waldMean: number;
  waldScale: number;
  randomPlateauTimes: boolean;
  plateauSd: number;
  plateauCap: number;
  feedback: 'random' | 'symmetric' | 'learned';
  noisySymmetric: boolean;
  symmetricNoiseSd: number;
  sparseFeedback: boolean;
  sparseDrop: number;
  sparseGain: number;
  feedbackBias: boolean;
  init: 'realised' | 'design' | 'plain';
  backprop: boolean;
  backpropInPlace: boolean;
  learningRates: number[];
  feedbackLearningRates: number[];
}

export interface RefLayer {
  W: Float32Array; // n x fanIn
  b: Float32Array;
  Y?: Float32Array; // n x fb
  c?: Float32Array;
}

export const PURPOSE = { init: 1n, phase: 2n, plateau: 3n, spikeTrain: 4n, spikeTest: 5n, symNoise: 6n, sparse: 7n, shuffle: 8n };
export const INIT_EPOCH = (1n << 28n) - 1n;

export function stream(seed: bigint, purpose: bigint, epoch: number | bigint, example: number | bigint): ph.Stream {
  return ph.makeStream(seed, (purpose << 60n) | (BigInt(epoch) << 32n) | BigInt(example));
}

export function kappas(c: RefConfig): number[] {
  const k: number[] = [];
  for (let i = 1; i <= c.mem; i++) {
    const s = i * c.dt;
    k.push(f((Math.exp(-s / c.tauL) - Math.exp(-s / c.tauS)) / (c.tauL - c.tauS)));
  }
  return k;
}

/** W_avg, W_sd of the moment-matched initialisation (I1-I3). */
export function weightStats(lambdaMax: number, N: number): [number, number] {
  const Vavg = 3, Vsd = 3, bavg = 0.8;
  const nu = lambdaMax * 0.25;
  const Vsm = Vsd * Vsd + Vavg * Vavg;
  const avg = (Vavg - bavg) / (nu * N * Vavg);
  const sm = (Vsm + nu * nu * (N - N * N) * avg * avg * Vavg * Vavg - 2 * N * nu * bavg * Vavg * avg - bavg * bavg) /
    (N * nu * nu * Vsm);
  return [avg, Math.sqrt(sm - avg * avg)];
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const fanIn = (c: RefConfig, m: number): number => (m === 0 ? c.nIn : c.layers[m - 1]);
const fbLayer = (c: RefConfig, m: number): number => (c.broadcast ? c.layers.length - 1 : m + 1);

export function sparseMasks(c: RefConfig): number[][] {
  const masks: number[][] = [];
  for (let m = 0; m + 1 < c.layers.length; m++) {
    const size = c.layers[m] * c.layers[fbLayer(c, m)];
    const k = Math.floor(c.sparseDrop * size);
    const s = stream(c.seed, PURPOSE.sparse, 0, m);
    const idx = Array.from({ length: size }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const b = ph.blockAt(s, i);
      let j = i + Math.floor(ph.u53(b[0], b[1]) * (size - i));
      if (j >= size) j = size - 1;
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    masks.push(idx.slice(0, k).sort((a, b) => a - b));
  }
  return masks;
}

/** Symmetric feedback (docs/papers.md §10.5) from W, with noise keyed by (epoch, example), then masks and gain. */
export function symmetric(c: RefConfig, L: RefLayer[], masks: number[][], epoch: bigint, example: number): void {
  const M = c.layers.length;
  const noise = stream(c.seed, PURPOSE.symNoise, epoch, example);
  for (let m = M - 2; m >= 0; m--) {
    const rows = c.layers[m], cols = c.layers[m + 1];
    const above = new Float32Array(rows * cols); // W^(m+1)^T
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < cols; k++) {
        let v = L[m + 1].W[k * rows + r];
        if (c.noisySymmetric) v = f(v + ph.normalAt(noise, m * 2 ** 40 + r * cols + k, 0, f(c.symmetricNoiseSd)));
        above[r * cols + k] = v;
      }
    }
    if (!c.broadcast || m === M - 2) {
      L[m].Y = above;
    } else {
      const nOut = c.layers[M - 1];
      const Ya = L[m + 1].Y!;
      const Y = new Float32Array(rows * nOut);
      for (let r = 0; r < rows; r++)
        for (let k = 0; k < cols; k++)
          for (let q = 0; q < nOut; q++) Y[r * nOut + q] = f(Y[r * nOut + q] + f(above[r * cols + k] * Ya[k * nOut + q]));
      L[m].Y = Y;
    }
  }
  if (c.sparseFeedback) {
    for (let m = 0; m < M - 1; m++) {
      for (const i of masks[m]) L[m].Y![i] = 0;
      for (let i = 0; i < L[m].Y!.length; i++) L[m].Y![i] = f(L[m].Y![i] * f(c.sparseGain));
    }
  }
}

/** Initial weights (docs/papers.md §10). */
export function initWeights(c: RefConfig): { layers: RefLayer[]; masks: number[][] } {
  const M = c.layers.length;
  const L: RefLayer[] = c.layers.map(() => ({ W: new Float32Array(0), b: new Float32Array(0) }));
  const opt = c.init !== 'plain';
  const design = c.init === 'design';
  const lo = design ? 0 : -1;
  const spread = (avg: number, sd: number) => (u: number) => f(avg + 3.465 * sd * (design ? u - 0.5 : u));
  const fill = (n: number, s: ph.Stream, low: number, g: (u: number) => number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = g(ph.uniformAt(s, i, low, 1));
    return out;
  };
  for (let m = M - 1; m >= 0; m--) {
    const n = c.layers[m], N = fanIn(c, m);
    const [Wavg, Wsd] = weightStats(c.lambdaMax, N);
    const sw = stream(c.seed, PURPOSE.init, 0, 4 * m), sb = stream(c.seed, PURPOSE.init, 0, 4 * m + 1);
    if (opt) {
      L[m].W = fill(n * N, sw, lo, spread(Wavg, Wsd));
      L[m].b = fill(n, sb, lo, spread(0.8, 0.001));
    } else {
      L[m].W = fill(n * N, sw, -1, (u) => f(f(0.1) * u));
      L[m].b = fill(n, sb, -1, (u) => u);
    }
    if (m === 0) continue;
    const h = m - 1;
    const fb = c.layers[fbLayer(c, h)];
    const sy = stream(c.seed, PURPOSE.init, 0, 4 * h + 2), sc = stream(c.seed, PURPOSE.init, 0, 4 * h + 3);
    if (!opt) {
      L[h].Y = fill(N * fb, sy, -1, (u) => u);
      if (c.feedbackBias) L[h].c = fill(N, sc, -1, (u) => u);
    } else if (design && c.broadcast) {
      const R = fill(N * n, sy, 0, spread(0, Wsd));
      if (m === M - 1) {
        L[h].Y = R;
      } else {
        const nOut = c.layers[M - 1];
        const Ya = L[m].Y!;
        const Y = new Float32Array(N * nOut);
        for (let r = 0; r < N; r++)
          for (let k = 0; k < n; k++)
            for (let q = 0; q < nOut; q++) Y[r * nOut + q] = f(Y[r * nOut + q] + f(R[r * n + k] * Ya[k * nOut + q]));
        L[h].Y = Y;
      }
      if (c.feedbackBias) L[h].c = fill(N, sc, 0, spread(0.8, 0.001));
    } else {
      L[h].Y = fill(N * fb, sy, lo, spread(Wavg, Wsd));
      if (c.feedbackBias) L[h].c = fill(N, sc, lo, spread(0.8, 0.001));
    }
  }
  const masks = c.sparseFeedback ? sparseMasks(c) : [];
  if (c.feedback === 'symmetric' && M > 1) {
    symmetric(c, L, masks, INIT_EPOCH, 0);
  } else if (c.sparseFeedback) {
    for (let m = 0; m < M - 1; m++) {
      for (const i of masks[m]) L[m].Y![i] = 0;
      for (let i = 0; i < L[m].Y!.length; i++) L[m].Y![i] = f(L[m].Y![i] * f(c.sparseGain));
    }
  }
  return { layers: L, masks };
}

export function phaseLength(c: RefConfig, epoch: number, example: number, phase: number): number {
  const base = phase === 0 ? c.forwardPhase : c.targetPhase;
  if (!c.randomPhaseLengths) return base;
  const w = ph.waldAt(stream(c.seed, PURPOSE.phase, epoch, example), phase, f(c.waldMean), f(c.waldScale));
  return base + Math.min(Math.floor(w), 100000);
}

export function plateauOffset(c: RefConfig, epoch: number, example: number, phase: number, unit: number): number {
  if (!c.randomPlateauTimes) return 0;
  const z = ph.normalAt(stream(c.seed, PURPOSE.plateau, epoch, example), phase * 2 ** 40 + unit, 0, f(c.plateauSd));
  return Math.min(Math.floor(Math.abs(z)), c.plateauCap);
}

interface LayerState {
  B: Float32Array;
  C: Float32Array;
  A: Float32Array;
  lam: Float32Array;
  hist: Float32Array[]; // spike counts, most recent first (mem entries)
}

export interface ExampleResult {
  loss: number;
  prediction: number;
  angle: number[];
  /** per layer, for the updates */
  E: Float32Array[];
  PSPBf: Float32Array[];
  Cf: Float32Array[];
  lamt: Float32Array;
}

/** The reference simulator: one network, state carried across examples (batch size 1). */
export class RefNetwork {
  readonly c: RefConfig;
  L: RefLayer[];
  masks: number[][];
  state: LayerState[];
  inHist: Float32Array[];
  readonly kap: number[];
  readonly units: number;
  readonly offsets: number[];
  readonly hiddenOffsets: number[];

  constructor(c: RefConfig, layers?: RefLayer[]) {
    this.c = c;
    const init = initWeights(c);
    this.L = layers ?? init.layers;
    this.masks = init.masks;
    this.kap = kappas(c);
    this.offsets = [];
    this.hiddenOffsets = [];
    let off = c.nIn, hoff = 0;
    for (let m = 0; m < c.layers.length; m++) {
      this.offsets.push(off);
      this.hiddenOffsets.push(hoff);
      off += c.layers[m];
      if (m < c.layers.length - 1) hoff += c.layers[m];
    }
    this.units = off;
    this.state = [];
    this.inHist = [];
    this.reset();
  }

  reset(): void {
    const mem = this.c.mem;
    this.state = this.c.layers.map((n) => ({ B: new Float32Array(n), C: new Float32Array(n), A: new Float32Array(n), lam: new Float32Array(n),
      hist: Array.from({ length: mem }, () => new Float32Array(n)) }));
    this.inHist = Array.from({ length: mem }, () => new Float32Array(this.c.nIn));
  }

  private psp(hist: Float32Array[]): Float32Array {
    const out = new Float32Array(hist[0].length);
    for (let j = 0; j < out.length; j++) {
      let s = 0;
      for (let i = 0; i < this.kap.length; i++) s += this.kap[i] * hist[i][j];
      out[j] = s;
    }
    return out;
  }

  /**
   * One step (docs/papers.md §7). Returns PSP_B per layer and PSP_A per hidden layer of this step (for the
   * averages). target: one-hot for the target phase, null otherwise.
   */
  step(x: Float32Array, s: ph.Stream, gstep: number, target: Float32Array | null, needA: boolean) {
    const c = this.c;
    const M = c.layers.length;
    const base = gstep * this.units;
    const pspB: Float32Array[] = [];
    const pspA: (Float32Array | null)[] = [];
    // 1. input spikes: pixel j with a nonzero rate draws element base + its rank among those
    const sIn = new Float32Array(c.nIn);
    for (let j = 0, rank = 0; j < c.nIn; j++) sIn[j] = x[j] > 0 ? ph.spikeCount(s, base + rank++, x[j]) : 0;
    this.inHist = [sIn, ...this.inHist.slice(0, c.mem - 1)];
    for (let m = 0; m < M; m++) {
      const st = this.state[m];
      const n = c.layers[m];
      const N = fanIn(c, m);
      const out = m === M - 1;
      // (H1) / (O1)
      let p: Float32Array;
      if (c.spikingFeedforward) p = this.psp(m === 0 ? this.inHist : this.state[m - 1].hist);
      else p = m === 0 ? x : this.state[m - 1].lam;
      pspB.push(p);
      // (H2) / (O2)
      const B = new Float32Array(n);
      const W = this.L[m].W;
      for (let k = 0; k < n; k++) {
        let a = 0;
        for (let j = 0; j < N; j++) a += W[k * N + j] * p[j];
        B[k] = a + this.L[m].b[k];
      }
      st.B = B;
      if (!out) {
        if (needA || c.gA !== 0 || this.recordA) {
          const fl = this.state[fbLayer(c, m)];
          // (H3): the feedback layer has not stepped yet, so its history ends at t-1
          const pa = c.spikingFeedback ? this.psp(fl.hist) : Float32Array.from(fl.lam);
          pspA.push(pa);
          const Y = this.L[m].Y!;
          const fb = pa.length;
          for (let k = 0; k < n; k++) {
            let a = 0;
            for (let q = 0; q < fb; q++) a += Y[k * fb + q] * pa[q];
            st.A[k] = a + (c.feedbackBias ? this.L[m].c![k] : 0); // (H4)
          }
        } else {
          pspA.push(null);
        }
        for (let k = 0; k < n; k++) {
          const C = st.C[k];
          if (c.conductances) {
            // (H5)
            st.C[k] = C + c.dt * (-c.gL * C + c.gB * (B[k] - C) + c.gA * (st.A[k] - C));
          } else {
            st.C[k] = (c.gB / (c.gL + c.gB + c.gA)) * B[k]; // (H5')
          }
        }
      } else {
        for (let k = 0; k < n; k++) {
          const C = st.C[k];
          if (target) {
            const gE = target[k], gI = 1 - target[k];
            if (c.conductances) {
              const I = gE * (c.EE - C) + gI * (c.EI - C); // (O3)
              st.C[k] = C + c.dt * (-c.gL * C + c.gD * (B[k] - C) + I); // (O4)
            } else {
              st.C[k] = (c.gD * B[k] + gE * c.EE + gI * c.EI) / (c.gL + c.gD + gE + gI); // (O4'')
            }
          } else if (c.conductances) {
            st.C[k] = C + c.dt * (-c.gL * C + c.gD * (B[k] - C));
          } else {
            st.C[k] = (c.gD / (c.gL + c.gD)) * B[k]; // (O4')
          }
        }
      }
      // (H6) / (O5)
      const S = new Float32Array(n);
      for (let k = 0; k < n; k++) {
        st.lam[k] = c.lambdaMax * sigmoid(st.C[k]);
        S[k] = ph.spikeCount(s, base + this.offsets[m] + k, st.lam[k]);
      }
      st.hist = [S, ...st.hist.slice(0, c.mem - 1)];
    }
    this.onStep?.(gstep);
    return { pspB, pspA };
  }

  imageRates(img: Uint8Array): Float32Array {
    return Float32Array.from(img, (p) => this.c.lambdaMax * (p / 255));
  }

  /** Forward and target phases of one training example (docs/papers.md §8); no update. */
  runExample(img: Uint8Array, label: number, epoch: number, example: number, recordAngle = false): ExampleResult {
    const c = this.c;
    const M = c.layers.length;
    const T = c.integrationTime;
    const R = T + (c.randomPlateauTimes ? c.plateauCap : 0);
    const x = this.imageRates(img);
    const s = stream(c.seed, PURPOSE.spikeTrain, epoch, example);
    const k = c.layers[M - 1] / 10;
    const target = new Float32Array(c.layers[M - 1]).map((_, q) => (Math.floor(q / k) === label ? 1 : 0));
    const Lf = phaseLength(c, epoch, example, 0), Lt = phaseLength(c, epoch, example, 1);
    const zeros = (n: number) => new Float64Array(n);
    const sumC = c.layers.map((n) => zeros(n));
    const sumPSPB = c.layers.map((_, m) => zeros(fanIn(c, m)));
    const sumPSPA = c.layers.slice(0, M - 1).map((_, m) => zeros(c.layers[fbLayer(c, m)]));
    const sumLam = zeros(c.layers[M - 1]);
    const Ahist: Float32Array[][] = c.layers.slice(0, M - 1).map(() => []);
    let g = 0;
    const plateau = (m: number, phase: number, epochN: number) => {
      const n = c.layers[m];
      const Abar = new Float32Array(n), alpha = new Float32Array(n);
      for (let q = 0; q < n; q++) {
        const d = plateauOffset(c, epochN, example, phase, this.hiddenOffsets[m] + q);
        let sum = 0;
        for (let r = R - d - T; r < R - d; r++) sum += Ahist[m][r][q];
        Abar[q] = sum / T;
        alpha[q] = sigmoid(Abar[q]);
      }
      return { Abar, alpha };
    };
    for (let t = 0; t < Lf; t++, g++) {
      const inA = t >= Lf - R;
      const { pspB, pspA } = this.step(x, s, g, null, inA);
      if (inA) for (let m = 0; m < M - 1; m++) Ahist[m].push(Float32Array.from(this.state[m].A));
      if (t >= Lf - T) {
        for (let m = 0; m < M; m++) {
          for (let q = 0; q < c.layers[m]; q++) sumC[m][q] += this.state[m].C[q];
          for (let j = 0; j < pspB[m].length; j++) sumPSPB[m][j] += pspB[m][j];
          if (m < M - 1 && c.feedback === 'learned') for (let j = 0; j < sumPSPA[m].length; j++) sumPSPA[m][j] += pspA[m]![j];
        }
      }
    }
    const Cf = sumC.map((v) => Float32Array.from(v, (a) => a / T));
    const PSPBf = sumPSPB.map((v) => Float32Array.from(v, (a) => a / T));
    const PSPAf = sumPSPA.map((v) => Float32Array.from(v, (a) => a / T));
    const fwd = c.layers.slice(0, M - 1).map((_, m) => plateau(m, 0, epoch));
    const outF = Cf[M - 1];
    const means = Array.from({ length: 10 }, (_, cl) => {
      let sm = 0;
      for (let q = 0; q < k; q++) sm += outF[cl * k + q];
      return sm / k;
    });
    let prediction = 0;
    for (let cl = 1; cl < 10; cl++) if (means[cl] > means[prediction]) prediction = cl;
    for (let m = 0; m < M - 1; m++) Ahist[m] = [];
    for (let t = 0; t < Lt; t++, g++) {
      const inA = t >= Lt - R;
      this.step(x, s, g, target, inA);
      if (inA) for (let m = 0; m < M - 1; m++) Ahist[m].push(Float32Array.from(this.state[m].A));
      if (t >= Lt - T) for (let q = 0; q < sumLam.length; q++) sumLam[q] += this.state[M - 1].lam[q];
    }
    const lamt = Float32Array.from(sumLam, (a) => a / T);
    const tgt = c.layers.slice(0, M - 1).map((_, m) => plateau(m, 1, epoch));
    // Errors (U1, U4) and the loss.
    const lm = c.lambdaMax;
    const kD = c.gD / (c.gL + c.gD), kB = c.gB / (c.gL + c.gB + c.gA);
    const E: Float32Array[] = c.layers.map((n) => new Float32Array(n));
    let loss = 0;
    for (let q = 0; q < c.layers[M - 1]; q++) {
      const sg = sigmoid(Cf[M - 1][q]);
      const diff = lamt[q] - lm * sg;
      E[M - 1][q] = -kD * lm * sg * (1 - sg) * diff;
      loss += diff * diff;
    }
    loss /= c.layers[M - 1];
    for (let m = 0; m < M - 1; m++) {
      for (let q = 0; q < c.layers[m]; q++) {
        const sg = sigmoid(Cf[m][q]);
        E[m][q] = -kB * lm * sg * (1 - sg) * (tgt[m].alpha[q] - fwd[m].alpha[q]);
      }
    }
    // Backprop errors with the pre-update weights (docs/papers.md §9, §18 items 2-3).
    const Ebp: Float32Array[] = E.map((e) => Float32Array.from(e));
    for (let m = M - 2; m >= 0; m--) {
      const n = c.layers[m], na = c.layers[m + 1];
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let q = 0; q < na; q++) d += this.L[m + 1].W[q * n + j] * Ebp[m + 1][q];
        const sg = sigmoid(Cf[m][j]);
        Ebp[m][j] = d * kB * lm * sg * (1 - sg);
      }
    }
    const angle: number[] = [];
    if (recordAngle) {
      for (let m = 0; m < M - 1; m++) {
        let dot = 0, na = 0, nb = 0;
        for (let q = 0; q < c.layers[m]; q++) {
          dot += E[m][q] * Ebp[m][q];
          na += E[m][q] ** 2;
          nb += Ebp[m][q] ** 2;
        }
        angle.push((Math.acos(Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)))) * 180) / Math.PI);
      }
    }
    if (c.backprop && !c.backpropInPlace) for (let m = 0; m < M - 1; m++) E[m] = Ebp[m];
    this.last = { fwd, PSPAf };
    return { loss, prediction, angle, E, PSPBf, Cf, lamt };
  }

  /** Compute A at every step (for recordings; no effect on the dynamics when gA = 0). */
  recordA = false;
  /** Called after every step with the step index within the example (test: within the test phase). */
  onStep: ((step: number) => void) | null = null;

  last: { fwd: { Abar: Float32Array; alpha: Float32Array }[]; PSPAf: Float32Array[] } | null = null;
  lastAll: { fwd: { Abar: Float32Array; alpha: Float32Array }[]; PSPAf: Float32Array[] }[] = [];

  /** Updates after a batch of examples (docs/papers.md §9; summed over the batch, §17.3). */
  update(results: ExampleResult[], extras: NonNullable<RefNetwork['last']>[], epoch: number, example: number): void {
    const c = this.c;
    const M = c.layers.length;
    const lm = c.lambdaMax;
    const kB = c.gB / (c.gL + c.gB + c.gA);
    for (let m = M - 1; m >= 0; m--) {
      const n = c.layers[m], N = fanIn(c, m);
      const out = m === M - 1;
      if (!out && c.backprop && c.backpropInPlace) {
        for (const r of results) {
          const na = c.layers[m + 1];
          for (let j = 0; j < n; j++) {
            let d = 0;
            for (let q = 0; q < na; q++) d += this.L[m + 1].W[q * n + j] * r.E[m + 1][q];
            const sg = sigmoid(r.Cf[m][j]);
            r.E[m][j] = d * kB * lm * sg * (1 - sg);
          }
        }
      }
      if (!out && c.feedback === 'learned') {
        const eta = c.feedbackLearningRates[m];
        const Y = this.L[m].Y!;
        const fb = Y.length / n;
        results.forEach((r, i) => {
          const ex = extras[i];
          for (let q = 0; q < n; q++) {
            const sA = sigmoid(ex.fwd[m].Abar[q]);
            const eInv = -(sA * (1 - sA)) * (lm * sigmoid(r.Cf[m][q]) - ex.fwd[m].alpha[q]); // (U7)
            for (let j = 0; j < fb; j++) Y[q * fb + j] = f(Y[q * fb + j] - eta * eInv * ex.PSPAf[m][j]); // (U8)
            if (c.feedbackBias) this.L[m].c![q] = f(this.L[m].c![q] - eta * eInv); // (U9)
          }
        });
        if (c.sparseFeedback) for (const i of this.masks[m]) Y[i] = 0;
      }
      const P = out ? 20 / (lm * lm) : 20 / lm;
      const etaP = c.learningRates[m] * P;
      for (const r of results) {
        for (let q = 0; q < n; q++) {
          const gq = etaP * r.E[m][q];
          for (let j = 0; j < N; j++) this.L[m].W[q * N + j] = f(this.L[m].W[q * N + j] - gq * r.PSPBf[m][j]); // (U2, U5)
          this.L[m].b[q] = f(this.L[m].b[q] - gq); // (U3, U6)
        }
      }
    }
    if (c.feedback === 'symmetric' && M > 1) symmetric(c, this.L, this.masks, BigInt(epoch), example);
  }

  /** Trains examples online (batch 1) or in batches of B slots, each slot with its own state. */
  static trainBatched(nets: RefNetwork[], imgs: Uint8Array[], labels: number[], epoch: number, first: number,
    recordAngle = false): ExampleResult[] {
    // nets[0] holds the weights; nets[b] the state of slot b (sharing nets[0].L).
    const res: ExampleResult[] = [];
    const extras: NonNullable<RefNetwork['last']>[] = [];
    for (let b = 0; b < imgs.length; b++) {
      nets[b].L = nets[0].L;
      res.push(nets[b].runExample(imgs[b], labels[b], epoch, first + b, recordAngle));
      extras.push(nets[b].last!);
    }
    nets[0].update(res, extras, epoch, first);
    return res;
  }

  /** A test of one image from a reset state (docs/papers.md §12): the window-averaged output voltages. */
  test(img: Uint8Array, round: number, index: number): Float32Array {
    const c = this.c;
    const M = c.layers.length;
    this.reset();
    const x = this.imageRates(img);
    const s = stream(c.seed, PURPOSE.spikeTest, round, index);
    const sum = new Float64Array(c.layers[M - 1]);
    for (let t = 0; t < c.testPhase; t++) {
      this.step(x, s, t, null, false);
      if (t >= c.testPhase - c.integrationTimeTest) for (let q = 0; q < sum.length; q++) sum[q] += this.state[M - 1].C[q];
    }
    return Float32Array.from(sum, (a) => a / c.integrationTimeTest);
  }
}
