// The native side of the segregated network's options: native/common/segregated_options.inc is
// generated from SEGREGATED_OPTIONS (scripts/gen-segregated-options.js) and must match it, and the
// native class takes a resolved option set and reports exactly that set back from config().
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';

import { nativeClasses } from '../src/native';
import { resolveOptions } from '../src/models/options';
import { SEGREGATED_OPTIONS } from '../src/models/segregated-options';

const ROOT = path.join(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gen = require(path.join(ROOT, 'scripts', 'gen-segregated-options.js')) as {
  generate: (table: unknown, resolve: typeof resolveOptions) => string;
  OUT: string;
  NOT_NATIVE: string[];
};

/** The options the native class takes: the resolved set without the training settings. */
function nativeOptions(given: Record<string, unknown>): Record<string, unknown> {
  const resolved: Record<string, unknown> = { ...resolveOptions('test', SEGREGATED_OPTIONS, given) };
  for (const k of gen.NOT_NATIVE) delete resolved[k];
  return resolved;
}

test('segregated_options.inc is what the generator writes from SEGREGATED_OPTIONS', (t) => {
  const committed = fs.readFileSync(gen.OUT, 'utf8');
  const now = gen.generate(SEGREGATED_OPTIONS, resolveOptions);
  t.true(committed === now,
    'native/common/segregated_options.inc differs from the table: run npx tsc -p tsconfig.json && node scripts/gen-segregated-options.js');
  // Every native option has a row, in table order, and nothing else does.
  const rows = [...committed.matchAll(/^DENDRITE_SEG_OPTION\("(\w+)"/gm)].map((m) => m[1]);
  t.deepEqual(rows, Object.keys(SEGREGATED_OPTIONS).filter((k) => !gen.NOT_NATIVE.includes(k)));
});

const SETS: Array<[string, Record<string, unknown>]> = [
  ['spiking (defaults)', {}],
  ['nonspiking', { mode: 'nonspiking' }],
  ['spiking at dt 0.5', { dt: 0.5 }],
  ['nonspiking at dt 0.5', { mode: 'nonspiking', dt: 0.5 }],
  ['learned sparse feedback', { layers: [500, 100, 10], feedback: 'learned', feedbackLearningRates: [0.05, 0.05], sparseFeedback: true,
    sparseDrop: 0.5, feedbackBias: true }],
  ['784-500-100-10', { layers: [500, 100, 10] }],
  ['everything off the defaults', { layers: [30, 20], nIn: 100, lambdaMax: 0.3, tauS: 2.5, gA: 0.05, EE: 7.5, conductances: false,
    broadcast: false, randomPlateauTimes: true, plateauSd: 2, plateauCap: 4, feedback: 'symmetric', noisySymmetric: true,
    symmetricNoiseSd: 0.01, init: 'design', backprop: true, backpropInPlace: true, learningRates: [0.1, 0.2], waldMean: 1.5 }],
];

for (const [name, given] of SETS) {
  test(`config() returns the resolved options it was given: ${name}`, (t) => {
    const options = nativeOptions(given);
    const net = new nativeClasses.SegregatedNetwork({ ...options, seed: 7, threads: 1 });
    t.deepEqual(net.config(), { ...options, seed: 7n, threads: 1 });
    // and the set it reports builds the same network
    const again = new nativeClasses.SegregatedNetwork(net.config());
    t.deepEqual(again.config(), net.config());
    t.deepEqual(again.getWeights(), net.getWeights());
  });
}

test('the native class takes the complete set: a missing option is a TypeError that names it and the TS layer', (t) => {
  const full = nativeOptions({});
  for (const name of Object.keys(full)) {
    const { [name]: _dropped, ...rest } = full;
    const e = t.throws(() => new nativeClasses.SegregatedNetwork(rest), { instanceOf: TypeError }, name);
    t.regex(e!.message, new RegExp(`\\b${name} is missing`), name);
    t.regex(e!.message, /SegregatedNetwork from 'dendrite-bench'/, name);
  }
  // feedbackLearningRates has no default: absent unless feedback is learned (then validate asks for it)
  t.notThrows(() => new nativeClasses.SegregatedNetwork(full));
  t.throws(() => new nativeClasses.SegregatedNetwork({ ...full, feedback: 'learned' }),
    { instanceOf: RangeError, message: /feedbackLearningRates/ });
});

test('the native class refuses unknown options (training settings too), wrong types and values out of range, naming the option', (t) => {
  const full = nativeOptions({});
  const make = (o: Record<string, unknown>) => () => new nativeClasses.SegregatedNetwork(o);
  t.throws(make({ ...full, bogus: 1 }), { instanceOf: TypeError, message: /unknown option "bogus"/ });
  t.throws(make({ ...full, batchSize: 1 }), { instanceOf: TypeError, message: /unknown option "batchSize"/ });
  t.throws(make({ ...full, gA: 'x' }), { instanceOf: TypeError, message: /gA must be a number/ });
  t.throws(make({ ...full, conductances: 1 }), { instanceOf: TypeError, message: /conductances must be a boolean/ });
  t.throws(make({ ...full, feedback: 'backprop' }), { instanceOf: RangeError, message: /feedback must be one of "random", "symmetric", "learned"/ });
  t.throws(make({ ...full, layers: [500.5, 10] }), { instanceOf: RangeError, message: /layers must be an integer/ });
  t.throws(make({ ...full, mem: 2.5 }), { instanceOf: RangeError, message: /mem must be an integer/ });
  // ranges are the table's (seg::validate reads segregated_options.inc)
  t.throws(make({ ...full, gA: -1 }), { instanceOf: RangeError, message: /option gA must be a finite number in \[0, 1000000\], got -1/ });
  t.throws(make({ ...full, dt: 0 }), { instanceOf: RangeError, message: /option dt must be a finite number in \(0, 1000\]/ });
  t.throws(make({ ...full, sparseDrop: 1 }), { instanceOf: RangeError, message: /option sparseDrop must be a finite number in \[0, 1\), got 1/ });
  t.throws(make({ ...full, mem: 0 }), { instanceOf: RangeError, message: /option mem must be an integer in \[1, 1000\], got 0/ });
  t.throws(make({ ...full, layers: [500, 15] }), { instanceOf: RangeError, message: /multiple of 10/ });
  t.throws(make({ ...full, learningRates: [0.1, -1] }), { instanceOf: RangeError, message: /option learningRates entry 1 must be in \[0, 1000000\], got -1/ });
  t.throws(make({ ...full, learningRates: [0.1] }), { instanceOf: RangeError, message: /learningRates/ });
  t.throws(make({ ...full, integrationTime: 60 }), { instanceOf: RangeError, message: /integrationTime/ });
  t.throws(make({ ...full, device: 3 }), { instanceOf: TypeError, message: /device/ });
  t.throws(make({ ...full, device: 'gpu' }), { instanceOf: RangeError, message: /device/ });
  t.throws(() => new nativeClasses.SegregatedNetwork([] as unknown as Record<string, unknown>), { instanceOf: TypeError, message: /one options object/ });
});
