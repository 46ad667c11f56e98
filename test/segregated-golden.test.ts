// Golden results of the native segregated-dendrite simulator (CPU), checked bit for bit.
//
// These pin the numbers of native/cpu/segregated_cpu.cpp, bindings/segregated.cpp and
// native/common/segregated.* as they were when test/golden/segregated-golden.json was recorded, so
// that a refactor which must not change the numbers can prove it did not. Each case drives the
// native class directly (not SegregatedNetwork.train(), whose epoch order may change): it trains
// one trainChunk on an explicit presentation order of 20 training digits of the embedded mnist-10k
// (two per class, classes interleaved: the embedded set is sorted by class, so its first 20 digits
// are all zeros), then evaluates 50 of its test digits (five per class, gathered into one array)
// at the default round (the position's evalRound). Each case gives layers, mode and its own options,
// resolved by the options table (SEGREGATED_OPTIONS, as SegregatedNetwork does) into the complete set
// the native class takes, plus seed and threads: the defaults are part of what is pinned, and the
// full config() the network reports is recorded and compared too, so a changed default fails here.
//
// Pinned per case: config, initial weights, the chunk's per-example loss and predictions, every
// layer's W, b, Y, c after it, the carried state (getState), the position, and the test
// predictions and window-averaged output voltages with the position after them.
//
// The file stores sha256 digests (of the little-endian bytes of each Float32Array / Float64Array /
// Int32Array), lengths, and a few plain numbers for humans (double sums, first predictions, the
// number of correct test predictions). A failure names the case and the array that moved, as
// "<case>: weights[0].W.sha256 (sum <golden> -> <now>, length <golden> -> <now>)", and a log line
// lists every difference of the case.
//
// Threads: every case runs with threads: 1 against the golden file and again with threads: 2 and 3
// (uneven partitions) against the same digests; the results do not depend on the thread count
// (checked when the file was recorded), so only config.threads differs.
//
// SIMD: when the file was recorded (on an AVX-512 machine) the test also passed with
// DENDRITE_CPU_SIMD=avx2 and DENDRITE_CPU_SIMD=scalar, so the digests do not depend on the SIMD clone.
// CUDA is not covered (its sums run in another order; test/segregated.test.ts compares it to the
// CPU within a tolerance).
//
// To re-record (ONLY when a numerical change is intended and understood):
//   npx tsc -p tsconfig.json && DENDRITE_RECORD_GOLDEN=1 npx ava dist/test/segregated-golden.test.js
// which rewrites test/golden/segregated-golden.json from the current code (threads: 1) and the
// built addon (make sure build/Release/dendrite.node is built from the sources you mean).
import test, { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { loadDataset } from '../src/data';
import { resolveOptions } from '../src/models/options';
import { SEGREGATED_OPTIONS } from '../src/models/segregated-options';
import { nativeClasses, NativeSegregatedNetwork } from '../src/native';

const GOLDEN_FILE = path.join(__dirname, '..', '..', 'test', 'golden', 'segregated-golden.json');
const RECORD = process.env.DENDRITE_RECORD_GOLDEN === '1';
const FORMAT = 'dendrite-bench/segregated-golden@1';

const N_IN = 784;
// Indices into mnist-10k's train split (8000 digits sorted by class; class k starts at 0, 801, 1703,
// 2496, 3321, 4105, 4796, 5607, 6463, 7218): the presentation order, passed to trainChunk as is
// with the whole training set.
const TRAIN_ORDER = [2499, 5610, 3, 7221, 4108, 804, 6466, 1706, 4799, 3324,
  3338, 4813, 1720, 6480, 818, 4122, 7235, 17, 5624, 2513];
// Indices into the test split (2000 digits sorted by class), gathered in this order for evaluate.
const TEST_INDICES = [624, 1402, 1, 1805, 1027, 201, 1616, 426, 1199, 831, 641, 1419, 18, 1822, 1044, 218, 1633, 443, 1216, 848,
  658, 1436, 35, 1839, 1061, 235, 1650, 460, 1233, 865, 675, 1453, 52, 1856, 1078, 252, 1667, 477, 1250, 882,
  692, 1470, 69, 1873, 1095, 269, 1684, 494, 1267, 899];
const TEST_COUNT = TEST_INDICES.length;

interface CaseSpec {
  name: string;
  /** Options besides seed and threads (layers, mode and the case's own). */
  options: Record<string, unknown>;
  seed: number;
  batchSize: number;
}

const CASES: CaseSpec[] = [
  { name: '784-500-10 spiking, 20 online', options: { layers: [500, 10], mode: 'spiking' }, seed: 1, batchSize: 1 },
  { name: '784-500-10 spiking, 5 x batch-4', options: { layers: [500, 10], mode: 'spiking' }, seed: 1, batchSize: 4 },
  { name: '784-500-100-10 spiking, 20 online', options: { layers: [500, 100, 10], mode: 'spiking' }, seed: 1, batchSize: 1 },
  { name: '784-500-10 nonspiking, 20 online', options: { layers: [500, 10], mode: 'nonspiking' }, seed: 1, batchSize: 1 },
  { name: '784-500-100-10 nonspiking, 20 online', options: { layers: [500, 100, 10], mode: 'nonspiking' }, seed: 1,
    batchSize: 1 },
  // feedback learning rates as in test/segregated.test.ts ("two hidden layers, layer-wise, learned")
  { name: '784-500-100-10 spiking, sparse learned feedback, 20 online',
    options: { layers: [500, 100, 10], mode: 'spiking', feedback: 'learned', sparseFeedback: true, feedbackLearningRates: [0.05, 0.05] },
    seed: 1, batchSize: 1 },
];

type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** A digest of an array: sha256 of its little-endian bytes, its length and a double sum for humans. */
interface Digest {
  sha256: string;
  length: number;
  sum: number | string;
  first?: number[];
}

function leBytes(a: TypedArray): Buffer {
  const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (os.endianness() === 'LE' || a.BYTES_PER_ELEMENT === 1) return buf;
  const out = Buffer.alloc(a.byteLength);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) dv.setFloat32(4 * i, a[i], true);
    else if (a instanceof Float64Array) dv.setFloat64(8 * i, a[i], true);
    else dv.setInt32(4 * i, a[i], true);
  }
  return out;
}

/** A JSON-safe number: -0 as 0, NaN and infinities as strings. */
function num(x: number): number | string {
  return Number.isFinite(x) ? x + 0 : String(x);
}

function digest(a: TypedArray, first = 0): Digest {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return { sha256: crypto.createHash('sha256').update(leBytes(a)).digest('hex'), length: a.length, sum: num(s),
    ...(first ? { first: Array.from(a.subarray(0, first)) } : {}) };
}

interface Data {
  /** The whole train split (images and labels): trainChunk picks TRAIN_ORDER from it. */
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  /** TEST_INDICES gathered. */
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

let dataPromise: Promise<Data> | undefined;
function data(): Promise<Data> {
  dataPromise ??= loadDataset('mnist-10k').then((ds) => {
    const testImages = new Uint8Array(TEST_COUNT * N_IN);
    TEST_INDICES.forEach((k, i) => testImages.set(ds.test.images.subarray(k * N_IN, (k + 1) * N_IN), i * N_IN));
    return { trainImages: ds.train.images, trainLabels: ds.train.labels, testImages,
      testLabels: Uint8Array.from(TEST_INDICES, (k) => ds.test.labels[k]) };
  });
  return dataPromise;
}

async function dataDigests(): Promise<Record<string, unknown>> {
  const d = await data();
  const order = Int32Array.from(TRAIN_ORDER);
  const usedImages = new Uint8Array(order.length * N_IN);
  order.forEach((k, i) => usedImages.set(d.trainImages.subarray(k * N_IN, (k + 1) * N_IN), i * N_IN));
  return { dataset: 'mnist-10k', trainSplitCount: d.trainLabels.length, trainOrder: TRAIN_ORDER, testIndices: TEST_INDICES,
    trainImages: digest(usedImages), trainLabels: digest(Uint8Array.from(order, (k) => d.trainLabels[k]), order.length),
    testImages: digest(d.testImages), testLabels: digest(d.testLabels, TEST_COUNT) };
}

function configOf(net: NativeSegregatedNetwork): Record<string, unknown> {
  const c = net.config();
  return { ...c, seed: String(c.seed) };
}

function weightDigests(net: NativeSegregatedNetwork): Record<string, Digest>[] {
  return net.getWeights().map((l) => {
    const out: Record<string, Digest> = {};
    for (const k of ['W', 'b', 'Y', 'c'] as const) {
      const a = l[k];
      if (a) out[k] = digest(a);
    }
    return out;
  });
}

/** Runs one case on the current code and returns everything that is pinned. */
async function runCase(c: CaseSpec, threads: number): Promise<Record<string, unknown>> {
  const d = await data();
  // batchSize is the training loop's (it is passed to trainChunk below), not the native class's.
  const { batchSize: _batchSize, ...options } = resolveOptions('golden', SEGREGATED_OPTIONS, c.options);
  const net = new nativeClasses.SegregatedNetwork({ ...options, seed: c.seed, threads });
  const config = configOf(net);
  const initialWeights = weightDigests(net);
  const order = Int32Array.from(TRAIN_ORDER);
  const tr = await net.trainChunk({ images: d.trainImages, labels: d.trainLabels, order, batchSize: c.batchSize });
  const out: Record<string, unknown> = {
    options: { ...c.options, seed: c.seed },
    config,
    initialWeights,
    train: { batchSize: c.batchSize, loss: digest(tr.loss), prediction: digest(tr.prediction, 8) },
    weights: weightDigests(net),
    state: digest(net.getState()),
    position: net.getPosition(),
  };
  const ev = await net.evaluate({ images: d.testImages, count: TEST_COUNT, voltages: true });
  let correct = 0;
  for (let i = 0; i < TEST_COUNT; i++) if (ev.prediction[i] === d.testLabels[i]) correct++;
  out.evaluate = { count: TEST_COUNT, correct, prediction: digest(ev.prediction, 8), voltages: digest(ev.voltages!) };
  out.positionAfterEvaluate = net.getPosition();
  return out;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

interface Leaf {
  path: string;
  actual: unknown;
  expected: unknown;
  /** For a digest's sha256: the human numbers beside it. */
  hint?: string;
}

/** Pairs the leaves of actual and expected (a key on one side only pairs with undefined). */
function leaves(actual: unknown, expected: unknown, at = '', out: Leaf[] = []): Leaf[] {
  if (isObject(expected) && isObject(actual)) {
    for (const k of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      if (k === 'sha256') {
        const hint = 'sum' in expected ? ` (sum ${expected.sum} -> ${actual.sum}, length ${expected.length} -> ${actual.length})` : '';
        out.push({ path: `${at}sha256`, actual: actual[k], expected: expected[k], hint });
      } else leaves(actual[k], expected[k], `${at}${k}.`, out);
    }
  } else if (Array.isArray(expected) && Array.isArray(actual) && expected.some((e) => isObject(e))) {
    out.push({ path: `${at}length`, actual: actual.length, expected: expected.length });
    for (let i = 0; i < Math.max(actual.length, expected.length); i++) leaves(actual[i], expected[i], `${at.slice(0, -1)}[${i}].`, out);
  } else {
    out.push({ path: at.slice(0, -1), actual, expected });
  }
  return out;
}

/**
 * Checks every leaf (t.is for the digests, t.deepEqual for the rest), each message naming the case
 * and the path. AVA reports only a test's first failed assertion, so every difference is also
 * listed in one log line first.
 */
function compare(t: ExecutionContext, items: Array<{ what: string; actual: unknown; expected: unknown }>): void {
  const all = items.map((it) => ({ what: it.what, leaves: leaves(it.actual, it.expected) }));
  for (const { what, leaves: ls } of all) {
    const moved = ls.filter((l) => !isDeepStrictEqual(l.actual, l.expected));
    if (moved.length) t.log(`${what}: ${moved.length} difference(s): ${moved.map((l) => l.path + (l.hint ?? '')).join('; ')}`);
  }
  for (const { what, leaves: ls } of all) {
    for (const l of ls) {
      if (l.path.endsWith('sha256')) t.is(l.actual, l.expected, `${what}: ${l.path}${l.hint ?? ''}`);
      else t.deepEqual(l.actual, l.expected, `${what}: ${l.path}`);
    }
  }
}

function gitHead(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

if (RECORD) {
  test.serial('record the golden file (DENDRITE_RECORD_GOLDEN=1)', async (t) => {
    const cases: Record<string, unknown> = {};
    for (const c of CASES) cases[c.name] = await runCase(c, 1);
    const golden = { format: FORMAT, headWhenRecorded: gitHead(), threads: 1, data: await dataDigests(), cases };
    fs.mkdirSync(path.dirname(GOLDEN_FILE), { recursive: true });
    fs.writeFileSync(GOLDEN_FILE, JSON.stringify(golden, null, 1) + '\n');
    t.log(`wrote ${GOLDEN_FILE}`);
    t.pass();
  });
} else {
  const golden = JSON.parse(fs.readFileSync(GOLDEN_FILE, 'utf8')) as {
    format: string; threads: number; data: Record<string, unknown>; cases: Record<string, Record<string, unknown>>;
  };

  test.serial('golden file: format and the same cases as this test', (t) => {
    t.is(golden.format, FORMAT);
    t.deepEqual(Object.keys(golden.cases).sort(), CASES.map((c) => c.name).sort());
  });

  // A failure here means the inputs changed (the loader or the embedded digits), not the simulator.
  test.serial('golden input digits (mnist-10k: the 20 train and 50 test digits used) are unchanged', async (t) => {
    compare(t, [{ what: 'data', actual: await dataDigests(), expected: golden.data }]);
  });

  for (const c of CASES) {
    test.serial(`golden: ${c.name} (threads 1)`, async (t) => {
      compare(t, [{ what: c.name, actual: await runCase(c, 1), expected: golden.cases[c.name] }]);
    });
  }

  // The bits do not depend on the thread count: the same digests with 2 and 3 threads.
  for (const threads of [2, 3]) {
    test.serial(`golden: every case with threads ${threads} gives the threads-1 bits`, async (t) => {
      const items = [];
      for (const c of CASES) {
        const expected = golden.cases[c.name];
        items.push({ what: `${c.name} (threads ${threads})`, actual: await runCase(c, threads),
          expected: { ...expected, config: { ...(expected.config as object), threads } } });
      }
      compare(t, items);
    });
  }
}
