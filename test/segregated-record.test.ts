import test, { ExecutionContext } from 'ava';

import { DigitDataset, SegregatedNetwork, SegregatedOptions } from '../src/models/segregated';
import * as ph from './reference/philox';
import { RefConfig, RefLayer, RefNetwork, phaseLength, plateauOffset } from './reference/segregated';

// Tolerance of the per-step values: within the first examples the addon and the reference agree to
// float32 rounding of the basal sums (event-driven vs dense, see test/segregated.test.ts) and of exp
// (polynomial vs libm), a few ulps of values of order 1-10 carried through at most ~200 leaky
// updates: 1e-5 relative to max(1, |value|), as for the weights there.
const TOL = 1e-5;

function refConfig(net: SegregatedNetwork): RefConfig {
  const c = net.native.config();
  return { ...(c as unknown as RefConfig), seed: BigInt(c.seed as bigint) };
}

function refLayers(net: SegregatedNetwork): RefLayer[] {
  return net.native.getWeights().map((l) => ({ W: Float32Array.from(l.W), b: Float32Array.from(l.b),
    ...(l.Y ? { Y: Float32Array.from(l.Y) } : {}), ...(l.c ? { c: Float32Array.from(l.c) } : {}) }));
}

function randomSet(n: number, nIn: number, seed: number) {
  const images = new Uint8Array(n * nIn);
  const labels = new Uint8Array(n);
  const s = ph.makeStream(seed, 99);
  for (let i = 0; i < n * nIn; i++) {
    const u = ph.uniformAt(s, i, 0, 1);
    images[i] = u < 0.35 ? 0 : Math.floor(ph.uniformAt(s, i + n * nIn, 0, 256));
  }
  for (let i = 0; i < n; i++) labels[i] = Math.floor(ph.uniformAt(s, 2 * n * nIn + i, 0, 10));
  return { images, labels, count: n };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

const small = (o: Partial<SegregatedOptions> = {}): SegregatedOptions =>
  ({ layers: [8, 10], nIn: 20, seed: 7, threads: 1, learningRates: o.layers?.length === 3 ? [0.2, 0.2, 0.1] : [0.21, 0.21], ...o });

type Rows = { A?: number[][]; B: number[][]; C: number[][]; lam: number[][] }[];

/** The reference's per-step values of the given units while it runs `fn`. */
function captureRef(ref: RefNetwork, units: number[][], fn: () => void): Rows {
  const M = ref.c.layers.length;
  const rows: Rows = units.map((_, m) => ({ ...(m < M - 1 ? { A: [] } : {}), B: [], C: [], lam: [] }));
  ref.recordA = true;
  ref.onStep = () => {
    units.forEach((us, m) => {
      const st = ref.state[m];
      if (m < M - 1) rows[m].A!.push(us.map((u) => st.A[u]));
      rows[m].B.push(us.map((u) => st.B[u]));
      rows[m].C.push(us.map((u) => st.C[u]));
      rows[m].lam.push(us.map((u) => st.lam[u]));
    });
  };
  fn();
  ref.onStep = null;
  ref.recordA = false;
  return rows;
}

function worstDiff(got: Float32Array, want: number[][], row0: number, nu: number): number {
  let worst = 0;
  want.forEach((row, t) => row.forEach((v, j) => {
    const d = Math.abs(got[(row0 + t) * nu + j] - v) / Math.max(1, Math.abs(v));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }));
  return worst;
}

for (const [name, extra] of [
  ['784-like default (spiking, random phase lengths)', {}],
  ['3 layers, apical conductance, random plateau times', { layers: [8, 6, 10], gA: 0.05, randomPlateauTimes: true }],
] as const) {
  test(`recorded per-step A, B, C, lambda equal the reference: ${name}`, async (t) => {
    const opts = small(extra as Partial<SegregatedOptions>);
    const net = new SegregatedNetwork(opts);
    const count = 4;
    const data = randomSet(count, 20, 3);
    const ref = new RefNetwork(refConfig(net), refLayers(net));
    const M = opts.layers!.length;
    const units = opts.layers!.map((n, m) => (m === 0 ? [0, 3, n - 1] : [n - 1, 1]));
    const examples = [0, 2, 3];
    const order = net.native.permutation(0, count);
    const r = await net.native.trainChunk({ images: data.images, labels: data.labels, order,
      record: { examples, units, voltages: true, plateauTimes: true, phaseTimes: true } });
    const rec = r.record!;
    t.is(rec.stepOffsets.length, examples.length + 1);
    t.is(rec.layers!.length, M);
    t.deepEqual(Array.from(rec.layers![0].units), units[0]);
    const c = refConfig(net);
    let recorded = 0;
    for (let i = 0; i < count; i++) {
      const k = order[i];
      const img = data.images.subarray(k * 20, (k + 1) * 20);
      const run = () => RefNetwork.trainBatched([ref], [img], [data.labels[k]], 0, i);
      if (!examples.includes(i)) { run(); continue; }
      const rows = captureRef(ref, units, run);
      const Lf = phaseLength(c, 0, i, 0), Lt = phaseLength(c, 0, i, 1);
      t.deepEqual([rec.phaseLengths![2 * i], rec.phaseLengths![2 * i + 1]], [Lf, Lt]);
      const row0 = rec.stepOffsets[recorded];
      t.is(rec.stepOffsets[recorded + 1] - row0, Lf + Lt, `example ${i} rows`);
      t.is(rows[0].B.length, Lf + Lt);
      for (let m = 0; m < M; m++) {
        const L = rec.layers![m];
        const nu = units[m].length;
        t.is(L.B.length, rec.stepOffsets[examples.length] * nu);
        for (const [q, got] of [['B', L.B], ['C', L.C], ['lam', L.lambda], ...(m < M - 1 ? [['A', L.A!]] : [])] as const) {
          const want = rows[m][q as 'B' | 'C' | 'lam' | 'A']!;
          const d = worstDiff(got as Float32Array, want, row0, nu);
          t.true(d < TOL, `example ${i} layer ${m} ${q}: ${d}`);
        }
        if (m === M - 1) t.is(L.A, undefined);
      }
      // plateau steps: forward at L_f - 1 - delta_f, target at L_f + L_t - 1 - delta_t (docs/papers.md §8.4)
      const H = opts.layers!.slice(0, -1).reduce((a, b) => a + b, 0);
      for (let h = 0; h < H; h++) {
        t.is(rec.plateauTimes![(recorded * H + h) * 2], Lf - 1 - plateauOffset(c, 0, i, 0, h));
        t.is(rec.plateauTimes![(recorded * H + h) * 2 + 1], Lf + Lt - 1 - plateauOffset(c, 0, i, 1, h));
      }
      recorded++;
    }
    t.is(recorded, examples.length);
  });
}

test('evaluate: recorded test steps equal the reference; predictions and voltages unchanged', async (t) => {
  const net = new SegregatedNetwork(small({ layers: [8, 6, 10], testPhase: 40, integrationTimeTest: 20 }));
  const data = randomSet(5, 20, 4);
  const units = [[0, 5], [2], [0, 9]];
  const plain = await net.native.evaluate({ images: data.images, round: 2, voltages: true });
  const r = await net.native.evaluate({ images: data.images, round: 2, voltages: true,
    record: { examples: [1, 4], units, voltages: true } });
  t.deepEqual(Array.from(r.prediction), Array.from(plain.prediction));
  t.true(sameBits(r.voltages!, plain.voltages!));
  const ref = new RefNetwork(refConfig(net), refLayers(net));
  const rec = r.record!;
  t.deepEqual(Array.from(rec.stepOffsets), [0, 40, 80]);
  [1, 4].forEach((img, ri) => {
    const rows = captureRef(ref, units, () => ref.test(data.images.subarray(img * 20, img * 20 + 20), 2, img));
    units.forEach((_, m) => {
      const L = rec.layers![m];
      const want = rows[m];
      for (const [q, got] of [['B', L.B], ['C', L.C], ['lam', L.lambda], ...(m < 2 ? [['A', L.A!]] : [])] as const) {
        const d = worstDiff(got as Float32Array, want[q as 'B' | 'C' | 'lam' | 'A']!, rec.stepOffsets[ri], units[m].length);
        t.true(d < TOL, `image ${img} layer ${m} ${q}: ${d}`);
      }
    });
  });
  // the model's evaluate() passes it through
  const e = await net.evaluate(data, { round: 2, record: { images: [0] } });
  t.is(e.recording!.layers![0].units.length, 4);
  t.is(e.recording!.layers![0].B.length, 40 * 4);
});

test('phase lengths are the Wald draws: >= 50, mean near 51.5; exactly 50 without random lengths', async (t) => {
  const n = 1500;
  const data = randomSet(n, 20, 5);
  const net = new SegregatedNetwork(small({ layers: [4, 10] }));
  const [m] = await net.train(data, { record: { phaseTimes: true }, chunkSize: 700 });
  const pt = m.recording!.phaseTimes!;
  t.is(pt.length, 3 * n);
  const c = refConfig(net);
  let sum = 0;
  let min = Infinity;
  for (let k = 0; k < n; k++) {
    const Lf = pt[3 * k + 1] - pt[3 * k], Lt = pt[3 * k + 2] - pt[3 * k + 1];
    if (k > 0) t.is(pt[3 * k], pt[3 * k - 1]);
    if (Lf !== phaseLength(c, 0, k, 0) || Lt !== phaseLength(c, 0, k, 1)) { t.fail(`example ${k}`); break; }
    sum += Lf + Lt;
    min = Math.min(min, Lf, Lt);
  }
  t.true(min >= 50);
  // E floor(Wald(2, 1)) = 1.52 (docs/papers.md §8.1); sd of Wald(2, 1) is sqrt(8): 5 standard errors over 2n draws.
  const mean = sum / (2 * n);
  t.true(Math.abs(mean - 51.52) < (5 * Math.sqrt(8)) / Math.sqrt(2 * n), `mean ${mean}`);
  t.deepEqual(Array.from(m.recording!.labels), Array.from(m.recording!.images, (k) => data.labels[k]));

  const fixed = new SegregatedNetwork(small({ layers: [4, 10], randomPhaseLengths: false }));
  const [mf] = await fixed.train(randomSet(50, 20, 5), { record: { phaseTimes: true } });
  const pf = mf.recording!.phaseTimes!;
  for (let k = 0; k < 50; k++) t.deepEqual([pf[3 * k], pf[3 * k + 1], pf[3 * k + 2]], [100 * k, 100 * k + 50, 100 * k + 100]);
});

test('plateau times lie in [L-1-cap, L-1] with random plateau times, at L-1 without', async (t) => {
  const data = randomSet(60, 20, 6);
  const examples = Array.from({ length: 30 }, (_, i) => 2 * i);
  for (const jitter of [true, false]) {
    const net = new SegregatedNetwork(small({ layers: [8, 6, 10], randomPlateauTimes: jitter, ...(jitter ? { plateauCap: 5 } : {}) }));
    const [m] = await net.train(data, { record: { examples, plateauTimes: true, phaseTimes: true }, chunkSize: 25 });
    const rec = m.recording!;
    const H = 14;
    t.is(rec.plateauTimes!.length, examples.length * H * 2);
    t.deepEqual(Array.from(rec.globalExamples), examples);
    const seen = new Set<number>();
    examples.forEach((p, i) => {
      const [f0, t0, end] = [rec.phaseTimes![3 * p], rec.phaseTimes![3 * p + 1], rec.phaseTimes![3 * p + 2]];
      for (let h = 0; h < H; h++) {
        const df = t0 - 1 - rec.plateauTimes![(i * H + h) * 2], dt = end - 1 - rec.plateauTimes![(i * H + h) * 2 + 1];
        t.true(df >= 0 && df <= (jitter ? 5 : 0) && dt >= 0 && dt <= (jitter ? 5 : 0), `example ${p} unit ${h}: ${df} ${dt}`);
        t.true(rec.plateauTimes![(i * H + h) * 2] >= f0);
        seen.add(df).add(dt);
      }
    });
    // with jitter, 840 draws of min(floor |N(0, 9)|, 5) take every value 0..5
    t.is(seen.size, jitter ? 6 : 1);
  }
});

test('recording does not change training: bit-identical weights and state, online and batched', async (t) => {
  const data = randomSet(40, 20, 7);
  for (const o of [{ layers: [8, 10] }, { layers: [8, 6, 10], randomPlateauTimes: true, gA: 0.05 }]) {
    for (const batch of [1, 4]) {
      const train = async (record: boolean) => {
        const net = new SegregatedNetwork(small({ ...(o as Partial<SegregatedOptions>), batchSize: batch }));
        const [m] = await net.train(data, { chunkSize: 12,
          ...(record ? { record: { examples: [0, 5, 11, 12, 39], voltages: true, plateauTimes: true, phaseTimes: true } } : {}) });
        const ev = await net.evaluate(data, { round: 0, ...(record ? { record: { images: [3] } } : {}) });
        return { net, m, ev };
      };
      const a = await train(false), b = await train(true);
      const wa = a.net.native.getWeights(), wb = b.net.native.getWeights();
      wa.forEach((l, m) => {
        t.true(sameBits(l.W, wb[m].W) && sameBits(l.b, wb[m].b), `${JSON.stringify(o)} batch ${batch} layer ${m}`);
        if (l.Y) t.true(sameBits(l.Y, wb[m].Y!));
      });
      t.deepEqual(Array.from(a.ev.predictions), Array.from(b.ev.predictions));
      t.is(a.m.trainLoss, b.m.trainLoss);
      t.is(b.m.recording!.layers![0].B.length, b.m.recording!.stepOffsets[5] * 4);
    }
  }
  // and the per-step state left for the next example is the same (mid-epoch checkpoints)
  const mk = () => new SegregatedNetwork(small());
  const x = mk(), y = mk();
  const order = x.native.permutation(0, 7);
  await x.native.trainChunk({ images: data.images, labels: data.labels, order });
  await y.native.trainChunk({ images: data.images, labels: data.labels, order, record: { examples: [6], voltages: true } });
  t.deepEqual(Array.from(x.native.getState()), Array.from(y.native.getState()));
});

test('bad recording requests are rejected with errors naming the field', async (t) => {
  const net = new SegregatedNetwork(small());
  const data = randomSet(5, 20, 8);
  const order = Int32Array.from([0, 1, 2]);
  const tc = (record: unknown) => () => net.native.trainChunk({ images: data.images, labels: data.labels, order,
    record: record as never });
  const cases: Array<[unknown, 'TypeError' | 'RangeError', RegExp]> = [
    [5, 'TypeError', /record must be an object/],
    [{ voltages: true }, 'TypeError', /examples is required/],
    [{ examples: [3], voltages: true }, 'RangeError', /examples\[0\] = 3 is not an integer in \[0, 3\)/],
    [{ examples: [1, 1], voltages: true }, 'RangeError', /strictly increasing/],
    [{ examples: [0.5], voltages: true }, 'RangeError', /examples\[0\]/],
    [{ examples: ['a'], voltages: true }, 'TypeError', /examples must be an array of integers/],
    [{ examples: [0], units: [[0]], voltages: true }, 'RangeError', /one array per layer \(2\), got 1/],
    [{ examples: [0], units: [[0], [10]], voltages: true }, 'RangeError', /units\[1\]\[0\] = 10/],
    [{ examples: [0], units: [[2, 2], [0]], voltages: true }, 'RangeError', /must not repeat/],
    [{ examples: [0] }, 'TypeError', /must ask for something/],
    [{ examples: [0], voltages: true, colour: 1 }, 'TypeError', /unknown option "colour"/],
    [{ examples: [0], voltages: 1 }, 'TypeError', /voltages must be a boolean/],
  ];
  for (const [rec, kind, msg] of cases) {
    const e = t.throws(tc(rec), undefined, JSON.stringify(rec));
    t.is(e?.name, kind, JSON.stringify(rec));
    t.regex(e?.message ?? '', msg);
    t.regex(e?.message ?? '', /SegregatedNetwork\.trainChunk/);
  }
  const ev = t.throws(() => net.native.evaluate({ images: data.images, record: { examples: [0], plateauTimes: true } as never }));
  t.regex(ev?.message ?? '', /unknown option "plateauTimes"/);
  await t.throwsAsync(net.train(data, { record: { examples: [5] } }), { instanceOf: RangeError, message: /examples\[0\] = 5/ });
  await t.throwsAsync(net.train(data, { record: { voltages: true } }), { instanceOf: RangeError, message: /need record.examples/ });
  await t.throwsAsync(net.train(data, { record: { examples: [2, 1], phaseTimes: true } }), { instanceOf: RangeError });
  await t.throwsAsync(net.train(data, { record: { bogus: 1 } as never }), { instanceOf: TypeError, message: /unknown option "bogus"/ });
  t.false(net.native.busy);
});

// Online training of one hidden layer runs on two threads (run_example_pair in
// native/cpu/segregated_cpu.cpp: the hidden units split between them, the output layer after the
// hidden steps, apical potentials after the last step); an example whose steps are recorded runs the
// general one-thread step loop. Recording every example's steps on one thread therefore gives that
// loop's bits, which the paired path must give for every option it takes (a mutation that dropped
// the apical bias in the paired path fails here), with angles recorded (the driver applies the
// updates) and without (where the options allow, the engine applies them inside the pair's
// region: Engine::run_online).
test('online training of one hidden layer: the two-thread path gives the one-thread step loop bits, every option', async (t) => {
  const data = randomSet(16, 20, 11);
  const variants: Array<Partial<SegregatedOptions>> = [
    {},
    { randomPlateauTimes: true },
    { feedback: 'learned', feedbackLearningRates: [0.05], feedbackBias: true },
    { feedback: 'symmetric', noisySymmetric: true },
    { sparseFeedback: true },
    { backprop: true },
    { backprop: true, backpropInPlace: true },
    { spikingFeedback: false },
    // (lists that cross between the threads in two bytes an event, WireLists, hold counts up to
    // 16 and units below 4096; others take the full lists)
    { lambdaMax: 30 },
    { layers: [4100, 10] },
  ];
  for (const v of variants) {
    const run = async (paired: boolean, recordAngle: boolean) => {
      const net = new SegregatedNetwork(small({ layers: [70, 10], threads: paired ? 2 : 1, ...v }));
      const [m] = await net.train(data, { chunkSize: 8, recordAngle,
        ...(paired ? {} : { record: { examples: Array.from({ length: data.count }, (_, i) => i), voltages: true } }) });
      return { net, m };
    };
    const b = await run(false, true);
    for (const recordAngle of [true, false]) {
      const a = await run(true, recordAngle);
      const label = `${JSON.stringify(v)}${recordAngle ? ' with angles' : ''}`;
      a.net.native.getWeights().forEach((l, m) => {
        const r = b.net.native.getWeights()[m];
        t.true(sameBits(l.W, r.W) && sameBits(l.b, r.b), `${label}: layer ${m} W, b`);
        if (l.Y) t.true(sameBits(l.Y, r.Y!), `${label}: layer ${m} Y`);
        if (l.c) t.true(sameBits(l.c, r.c!), `${label}: layer ${m} c`);
      });
      t.deepEqual(Array.from(a.net.native.getState()), Array.from(b.net.native.getState()), `${label}: carried state`);
      t.is(a.m.trainLoss, b.m.trainLoss, `${label}: loss`);
      if (recordAngle) t.deepEqual(a.m.angles, b.m.angles, `${label}: angles`);
      a.net.dispose();
    }
    b.net.dispose();
  }
});

// A 1-thread reference that records every step (the step loop) against 2-thread networks on the
// paired path, one for each value of the environment variable `knob` (read when a network is
// made): each trains on the data twice, with its weights read and a test run between the calls,
// and must give the reference's bits.
async function pairedMatchesStepLoop(t: ExecutionContext, data: DigitDataset, knob: string, values: string[],
  chunkSize: number, variants: Array<Partial<SegregatedOptions>>): Promise<void> {
  const record = { examples: Array.from({ length: data.count }, (_, i) => i), voltages: true };
  for (const v of variants) {
    const ref = new SegregatedNetwork(small({ layers: [70, 10], threads: 1, ...v }));
    await ref.train(data, { chunkSize, record });
    const refWeights = ref.native.getWeights();
    const refTest = await ref.evaluate(data);
    await ref.train(data, { chunkSize, record });
    for (const value of values) {
      process.env[knob] = value;
      let net: SegregatedNetwork;
      try {
        net = new SegregatedNetwork(small({ layers: [70, 10], threads: 2, ...v }));
      } finally {
        delete process.env[knob];
      }
      const label = `${JSON.stringify(v)} ${knob}=${value}`;
      await net.train(data, { chunkSize });
      net.native.getWeights().forEach((l, m) => {
        t.true(sameBits(l.W, refWeights[m].W), `${label}: layer ${m} W after the first call`);
      });
      t.deepEqual((await net.evaluate(data)).predictions, refTest.predictions, `${label}: test between the calls`);
      await net.train(data, { chunkSize });
      net.native.getWeights().forEach((l, m) => {
        const r = ref.native.getWeights()[m];
        t.true(sameBits(l.W, r.W) && sameBits(l.b, r.b), `${label}: layer ${m} W, b`);
      });
      t.deepEqual(Array.from(net.native.getState()), Array.from(ref.native.getState()), `${label}: carried state`);
      net.dispose();
    }
    ref.dispose();
  }
}

// The native class takes the batch size with each chunk: batched chunks, online ones, then batched
// again. The online chunks run their updates inside the engine where they can (run_online) and
// through the driver with angles asked for; both must leave every training slot's cached drives
// stale after a weight change, so that the last batched chunk gives the same bits either way.
test('online chunks between batched ones give the same bits with the updates in the engine or in the driver', async (t) => {
  const data = randomSet(16, 20, 14);
  const order = Int32Array.from({ length: data.count }, (_, i) => i);
  const run = async (recordAngle: boolean) => {
    const net = new SegregatedNetwork(small({ layers: [70, 10], threads: 2 }));
    const chunk = (batchSize: number, angles: boolean) =>
      net.native.trainChunk({ images: data.images, labels: data.labels, order, batchSize, recordAngle: angles });
    await chunk(4, false);
    await chunk(1, recordAngle);
    await chunk(4, false);
    return net;
  };
  const a = await run(false), b = await run(true);
  a.native.getWeights().forEach((l, m) => {
    const r = b.native.getWeights()[m];
    t.true(sameBits(l.W, r.W) && sameBits(l.b, r.b), `layer ${m} W, b`);
  });
  t.deepEqual(Array.from(a.native.getState()), Array.from(b.native.getState()), 'carried state');
  a.dispose();
  b.dispose();
});

// While thread 0 computes an online example's errors and the output layer's update, thread 1 sets
// the next example's image and draws its first input steps (prepare_next), as many as it has time
// for; DENDRITE_PAIR_PREDRAW pins how many. Any number, from none to more than there are rooms
// for, gives the step loop's bits, over the chunk boundaries too (the last example of a chunk
// prepares nothing).
test('online training of one hidden layer: the input steps of the next example drawn ahead, any number of them, give the same bits', async (t) => {
  await pairedMatchesStepLoop(t, randomSet(12, 20, 13), 'DENDRITE_PAIR_PREDRAW', ['0', '1', '2', '7', '40', '1000'], 5,
    [{}, { integrationTime: 50 }]);
});

// The split of the hidden units between the two threads follows the measured load (PairTuner);
// DENDRITE_PAIR_SPLIT pins it (a list: one split per example in turn). Every split, the edges
// included (thread 0 or thread 1 without hidden units), and every change of split (thread 1 keeps
// its columns of W0 in a copy of its own) gives the step loop's bits. A window as long as the
// forward phase makes the PSP window sums read the spikes of the example before.
test('online training of one hidden layer: every split of the units between the two threads gives the same bits', async (t) => {
  await pairedMatchesStepLoop(t, randomSet(12, 20, 12), 'DENDRITE_PAIR_SPLIT', ['0', '16', '48', '70', '48,16,64,0,32'], 8,
    [{}, { randomPlateauTimes: true }, { integrationTime: 50 }]);
});
