import test from 'ava';

import { Xoshiro128ss } from '../src/data/rng';
import { MLP_OPTIONS } from '../src/models/baseline-options';
import { SEGREGATED_OPTIONS } from '../src/models/segregated-options';
import type { OptionTable } from '../src/models/options';
import { Space, spaceFromOptionTable, type ParamSpec } from '../src/bo/space';
import { CubeTransform, RawTransform } from '../src/bo/transform';

test('validation names the parameter and the problem', (t) => {
  const bad: Array<[Record<string, ParamSpec>, RegExp]> = [
    [{ a: { type: 'float', low: 1, high: 1 } }, /a needs low < high, got low 1 and high 1/],
    [{ a: { type: 'float', low: 2, high: 1 } }, /low < high/],
    [{ a: { type: 'float', low: 0, high: 1, log: true } }, /log scale and needs low > 0, got 0/],
    [{ a: { type: 'int', low: 0, high: 8, log: true } }, /needs low >= 1/],
    [{ a: { type: 'int', low: 0.5, high: 3 } }, /integer bounds/],
    [{ a: { type: 'float', low: NaN, high: 1 } }, /numeric low and high/],
    [{ a: { type: 'float', low: 0, high: Infinity } }, /finite bounds/],
    [{ a: { type: 'categorical', choices: [] } }, /non-empty list of choices/],
    [{ a: { type: 'categorical', choices: ['x', 'x'] } }, /lists choice "x" twice/],
    [{ a: { type: 'categorical', choices: [NaN] } }, /not a string, finite number or boolean/],
    [{ a: { type: 'float', low: 0, high: 1, condition: { parent: 'modee', values: ['x'] } }, mode: { type: 'categorical', choices: ['x'] } },
      /unknown parameter "modee" \(did you mean "mode"\?\)/],
    [{ a: { type: 'bool', condition: { parent: 'b', values: [true] } }, b: { type: 'bool', condition: { parent: 'a', values: [true] } } },
      /cycle: a -> b -> a/],
    [{ a: { type: 'bool', condition: { parent: 'a', values: [true] } } }, /condition on itself/],
    [{ a: { type: 'bool', condition: { parent: 'x', values: [1] } }, x: { type: 'float', low: 0, high: 1 } }, /float parameter x/],
    [{ a: { type: 'bool', condition: { parent: 'c', values: ['z'] } }, c: { type: 'categorical', choices: ['x', 'y'] } }, /value "z" that c cannot take/],
    [{ a: { type: 'bool', condition: { parent: 'c', values: [] } }, c: { type: 'categorical', choices: ['x'] } }, /without values/],
    [{ a: { type: 'normal' } as unknown as ParamSpec }, /unknown type "normal"/],
  ];
  for (const [params, message] of bad) t.throws(() => new Space(params), { message }, JSON.stringify(params));
  t.throws(() => new Space({}), { message: /no parameters/ });
});

const nested = new Space({
  optimizer: { type: 'categorical', choices: ['adam', 'sgd'] },
  momentum: { type: 'float', low: 0, high: 0.99, condition: { parent: 'optimizer', values: ['sgd'] } },
  nesterov: { type: 'bool', condition: { parent: 'momentum_on', values: [true] } },
  momentum_on: { type: 'bool', condition: { parent: 'optimizer', values: ['sgd'] } },
  lr: { type: 'float', low: 1e-5, high: 1, log: true },
  layers: { type: 'int', low: 1, high: 4 },
  width: { type: 'int', low: 16, high: 1024, log: true },
});

test('parents come before children whatever the declaration order', (t) => {
  const names = nested.names;
  t.true(names.indexOf('momentum_on') < names.indexOf('nesterov'));
  t.true(names.indexOf('optimizer') < names.indexOf('momentum'));
});

test('conditional and categorical spaces decode to valid, exactly typed parameter sets', (t) => {
  const tr = new CubeTransform(nested);
  const rng = new Xoshiro128ss(1);
  const seen = { adam: 0, sgd: 0, nesterov: 0 };
  for (let i = 0; i < 500; i++) {
    const u = Float64Array.from({ length: tr.dims }, () => rng.nextFloat());
    const p = tr.decode(u);
    t.is(nested.invalid(p), undefined, JSON.stringify(p));
    seen[p.optimizer as 'adam' | 'sgd']++;
    if (p.optimizer === 'adam') t.false('momentum' in p || 'nesterov' in p || 'momentum_on' in p);
    if (p.nesterov !== undefined) seen.nesterov++;
    t.true(Number.isInteger(p.layers) && Number.isInteger(p.width));
    // Round trip: encode then decode gives the same set.
    t.deepEqual(tr.decode(tr.encode(p)), p);
  }
  t.true(seen.adam > 150 && seen.sgd > 150 && seen.nesterov > 50, JSON.stringify(seen));
  // The ends of the columns give the ends of the ranges exactly.
  const lo = tr.decode(new Float64Array(tr.dims).fill(0));
  const hi = tr.decode(new Float64Array(tr.dims).fill(1));
  t.deepEqual([lo.lr, lo.layers, lo.width, hi.lr, hi.layers, hi.width], [1e-5, 1, 16, 1, 4, 1024]);
});

test('integers get equal shares of their column, on a log scale when declared', (t) => {
  const s = new Space({ n: { type: 'int', low: 1, high: 4 }, w: { type: 'int', low: 1, high: 8, log: true } });
  const tr = new CubeTransform(s);
  const counts = new Map<number, number>();
  for (let i = 0; i < 4000; i++) {
    const v = tr.decode([(i + 0.5) / 4000, 0.5]).n as number;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  t.deepEqual([...counts.entries()].sort((a, b) => a[0] - b[0]), [[1, 1000], [2, 1000], [3, 1000], [4, 1000]]);
  // Log-scaled: 1 owns [log 0.5, log 1.5] of [log 0.5, log 8.5], about 0.39 of the column.
  t.is(tr.decode([0, 0.38]).w, 1);
  t.is(tr.decode([0, 0.40]).w, 2);
});

test('the kernel sees rounded integers, one-hot categories, 0/1 booleans and 1/2 for inactive parameters', (t) => {
  const s = new Space({
    c: { type: 'categorical', choices: ['a', 'b', 'c'] },
    n: { type: 'int', low: 0, high: 10 },
    x: { type: 'float', low: -3, high: 3, condition: { parent: 'c', values: ['b'] } },
    f: { type: 'bool' },
  });
  const tr = new CubeTransform(s);
  t.is(tr.featureDims, 6);
  const z = new Float64Array(6);
  tr.features([0.1, 0.52, 0.9, 0.7], z);
  // c = 'a' (x inactive -> 1/2), n = round(-0.5 + 0.52 * 11) = 5 -> 0.5, f = true.
  t.deepEqual(Array.from(z), [1, 0, 0, 0.5, 0.5, 1]);
  const z2 = new Float64Array(6);
  tr.features([0.1, 0.53, 0.2, 0.7], z2);
  t.deepEqual(Array.from(z2), Array.from(z), 'flat within an integer and in an inactive dimension');
  tr.features([0.5, 0.52, 0.9, 0.2], z);
  t.deepEqual(Array.from(z), [0, 1, 0, 0.5, 0.9, 0]);
  t.deepEqual(tr.featureOf[tr.space.names.indexOf('x')], 4);
  t.deepEqual(tr.moves(1, 0.52).map((u) => tr.decode([0.1, u, 0, 0]).n), [4, 6]);
});

test('invalid parameter sets are named', (t) => {
  t.regex(nested.invalid({ optimizer: 'adam', lr: 0.1, layers: 2, widht: 3 })!, /unknown parameter "widht" \(did you mean "width"\?\)/);
  t.regex(nested.invalid({ optimizer: 'adam', lr: 0.1, layers: 2 })!, /width is missing/);
  t.regex(nested.invalid({ optimizer: 'adam', lr: 0.1, layers: 2.5, width: 3 })!, /layers must be an integer/);
  t.regex(nested.invalid({ optimizer: 'adam', lr: 0.1, layers: 2, width: 3, momentum: 0.5 })!, /momentum is given but does not apply/);
  t.regex(nested.invalid({ optimizer: 'sgd', lr: 2, layers: 2, width: 16, momentum: 0.5, momentum_on: false })!, /lr must be in \[0.00001, 1\], got 2/);
  t.is(nested.invalid({ optimizer: 'sgd', lr: 0.01, layers: 2, width: 16, momentum: 0.5, momentum_on: true, nesterov: false }), undefined);
});

test('constraints give reasons', (t) => {
  const s = new Space({ a: { type: 'float', low: 0, high: 1 }, b: { type: 'float', low: 0, high: 1 } }, {
    constraints: [(p) => (p.a as number) + (p.b as number) <= 1 || 'a + b must be at most 1', function small(p) { return (p.a as number) < 0.9; }],
  });
  t.is(s.violation({ a: 0.2, b: 0.3 }), undefined);
  t.is(s.violation({ a: 0.8, b: 0.3 }), 'a + b must be at most 1');
  t.is(s.violation({ a: 0.95, b: 0 }), 'constraint 2 (small) failed');
});

test('Lange\'s raw transform: linear scale, raw values to the kernel, everything active', (t) => {
  const tr = new RawTransform(nested);
  const z = new Float64Array(tr.featureDims);
  const u = new Float64Array(tr.dims).fill(0.5);
  tr.features(u, z);
  const lrAt = nested.names.indexOf('lr');
  t.is(z[lrAt], 1e-5 + 0.5 * (1 - 1e-5), 'the learning rate on a linear scale');
  const p = tr.decode(u);
  t.deepEqual(Object.keys(p).sort(), [...nested.names].sort(), 'inactive parameters are still searched and returned');
});

test('spaceFromOptionTable builds the MLP and segregated spaces from their search ranges', (t) => {
  const mlp = spaceFromOptionTable(MLP_OPTIONS);
  // momentum applies only with sgd; the optimizer is not searched and defaults to adam.
  t.deepEqual(mlp.names, ['batchSize', 'lr']);
  t.deepEqual(mlp.params.lr, { type: 'float', low: 1e-4, high: 1e-1, log: true });
  t.deepEqual(mlp.params.batchSize, { type: 'int', low: 16, high: 512, log: true });
  const sgd = spaceFromOptionTable(MLP_OPTIONS, undefined, { fixed: { optimizer: 'sgd' } });
  t.deepEqual(sgd.names, ['batchSize', 'lr', 'momentum']);
  const withOptimizer = spaceFromOptionTable(MLP_OPTIONS, ['optimizer', 'lr', 'momentum']);
  t.deepEqual(withOptimizer.params.momentum, { type: 'float', low: 0, high: 0.99, condition: { parent: 'optimizer', values: ['sgd'] } });
  t.throws(() => spaceFromOptionTable(MLP_OPTIONS, ['momentum']), { message: /momentum never applies/ });
  t.throws(() => spaceFromOptionTable(MLP_OPTIONS, ['weightDecay']), { message: /weightDecay has no search range/ });
  t.throws(() => spaceFromOptionTable(MLP_OPTIONS, ['layers']), { message: /lists cannot be searched/ });
  t.throws(() => spaceFromOptionTable(MLP_OPTIONS, ['lr'], { fixed: { lr: 0.1 } }), { message: /both searched and fixed/ });
  t.throws(() => spaceFromOptionTable(MLP_OPTIONS, ['lrr']), { message: /unknown option "lrr" \(did you mean "lr"\?\)/ });

  const seg = spaceFromOptionTable(SEGREGATED_OPTIONS);
  t.deepEqual(seg.params.feedback, { type: 'categorical', choices: ['random', 'symmetric', 'learned'] });
  t.deepEqual(seg.params.conductances, { type: 'bool' });
  t.deepEqual(seg.params.EI, { type: 'float', low: -12, high: -5 });
  const withChild = spaceFromOptionTable(SEGREGATED_OPTIONS, ['feedback', 'noisySymmetric']);
  t.deepEqual(withChild.params.noisySymmetric, { type: 'bool', condition: { parent: 'feedback', values: ['symmetric'] } });
  // Every searched option of every table makes a valid space.
  const tables: OptionTable[] = [MLP_OPTIONS, SEGREGATED_OPTIONS];
  for (const table of tables) t.notThrows(() => new CubeTransform(spaceFromOptionTable(table)));
});
