// The report's figures as charts (src/report/svg/spec.ts, Vega-Lite-shaped): each a pure function
// of a typed table, so a figure can be rebuilt from a results folder alone and tested without a
// model. src/report/render.ts turns a chart into SVG; src/report/recordings.ts turns model
// recordings into these tables; reportFigures() picks the figures a results folder has data for
// and says how to read each.
import type { ExperimentResult } from '../experiment/run';
import { architecture, runLabels, type Results } from './results';
import type { Chart } from './svg/spec';

/** A figure of the report: its file name (figures/<name>.svg), title, caption and chart. */
export interface FigureSpec {
  name: string;
  title: string;
  /** What to read from the figure. */
  caption: string;
  spec: Chart;
}

const PANEL = { width: 280, height: 170 };

/** The layer's rows: those of one kind (the figures tag their rows with what each layer draws). */
const kind = (k: string) => ({ filter: { field: 'kind', equal: k } });

// ---- learning curves ------------------------------------------------------------------------

/** One point of a learning curve: accuracy of one split after `examples` training examples. */
export interface CurveRow {
  model: string;
  dataset: string;
  seed: number;
  examples: number;
  split: 'train' | 'validation';
  accuracy: number;
}

/** The curve points of runs (train accuracy since the previous point, validation accuracy at it). */
export function curveRows(runs: readonly ExperimentResult[], labels: ReadonlyMap<ExperimentResult, string>): CurveRow[] {
  const rows: CurveRow[] = [];
  for (const r of runs) {
    const base = { model: labels.get(r) ?? r.spec.model, dataset: r.dataset.name, seed: r.spec.seed };
    for (const p of r.curve) {
      if (Number.isFinite(p.trainAccuracy)) rows.push({ ...base, examples: p.examples, split: 'train', accuracy: p.trainAccuracy });
      if (p.validationAccuracy !== undefined && p.validationAccuracy !== null && Number.isFinite(p.validationAccuracy)) {
        rows.push({ ...base, examples: p.examples, split: 'validation', accuracy: p.validationAccuracy });
      }
    }
  }
  return rows;
}

/**
 * Accuracy against training examples, one panel per dataset and model, train and validation in
 * two colours. `band`: the mean over seeds with a ±1 sd band instead of one line per seed
 * (default: when every panel has at least 3 seeds).
 */
export function learningCurves(rows: readonly CurveRow[], opts: { band?: boolean } = {}): Chart {
  const seeds = new Map<string, Set<number>>();
  for (const r of rows) seeds.set(`${r.dataset}\0${r.model}`, (seeds.get(`${r.dataset}\0${r.model}`) ?? new Set()).add(r.seed));
  const band = opts.band ?? (seeds.size > 0 && [...seeds.values()].every((s) => s.size >= 3));
  const values = rows.map((r) => ({ ...r, panel: `${r.dataset} · ${r.model}` }));
  const x = { field: 'examples', type: 'quantitative', title: 'training examples' } as const;
  const color = { field: 'split', type: 'nominal', title: 'accuracy on', scale: { domain: ['train', 'validation'] } } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy', axis: { format: '.1%' }, scale: { zero: false } } as const;
  const layers = band
    ? [
      { mark: { type: 'errorband', extent: 'stdev', opacity: 0.25 }, encoding: { x, y, color } } as const,
      { mark: { type: 'line', point: true }, encoding: { x, y: { ...y, aggregate: 'mean' }, color } } as const,
    ]
    : [{ mark: { type: 'line', point: true }, encoding: { x, y, color, detail: { field: 'seed', type: 'nominal' } } } as const];
  return {
    data: { values },
    // panels in order of appearance
    facet: { field: 'panel' },
    columns: 2,
    spec: { ...PANEL, layer: layers },
    resolve: { scale: { y: 'independent' } },
  };
}

// ---- test error per epoch (Fig 6B) ----------------------------------------------------------

/**
 * Error (1 - accuracy) of one run after an epoch: on the validation split, and on the test split
 * (after every epoch with testEachEpoch, else after the last only).
 */
export interface ErrorRow {
  model: string;
  dataset: string;
  seed: number;
  epoch: number;
  split: 'validation' | 'test';
  error: number;
}

/**
 * The published test errors of the segregated-dendrite network (Guerguiev, Lillicrap & Richards
 * 2017, eLife 6:e22901, Fig 6B; docs/papers.md §2 and §19.1): spiking networks trained online on
 * MNIST (60,000 training, 10,000 test images), learning rates as listed, after 60 epochs, the mean
 * of 20 tests. The paper gives these final values in its text; the per-epoch curve of Fig 6B is
 * not tabulated, so the report draws the final values as reference lines and nothing is read off
 * the figure.
 */
export const PAPER_FIG6B = {
  source: 'Guerguiev, Lillicrap & Richards 2017, eLife 6:e22901, Fig 6B (docs/papers.md §19.1)',
  conditions: 'spiking, MNIST 60,000 training / 10,000 test images, 60 epochs, mean of 20 tests',
  epochs: 60,
  rows: [
    { network: '784-10', layers: [10], learningRates: [0.19], testError: 0.083 },
    { network: '784-500-10', layers: [500, 10], learningRates: [0.21, 0.21], testError: 0.041 },
    { network: '784-500-100-10', layers: [500, 100, 10], learningRates: [0.23, 0.23, 0.12], testError: 0.032 },
  ],
} as const;

/** A reference line: the paper's final test error for a run group of the same network. */
export interface PaperRow {
  model: string;
  dataset: string;
  network: string;
  error: number;
}

export function errorRows(runs: readonly ExperimentResult[], labels: ReadonlyMap<ExperimentResult, string>): ErrorRow[] {
  const rows: ErrorRow[] = [];
  for (const r of runs) {
    const base = { model: labels.get(r) ?? r.spec.model, dataset: r.dataset.name, seed: r.spec.seed };
    for (const e of r.epochs) {
      if (typeof e.validationAccuracy === 'number') rows.push({ ...base, epoch: e.epoch, split: 'validation', error: 1 - e.validationAccuracy });
      if (typeof e.testAccuracy === 'number') rows.push({ ...base, epoch: e.epoch, split: 'test', error: 1 - e.testAccuracy });
    }
    const last = r.epochs[r.epochs.length - 1];
    // Without per-epoch test scores, the final one (with them, the last epoch's is a score of the same weights).
    if (r.test && last && typeof last.testAccuracy !== 'number') rows.push({ ...base, epoch: last.epoch, split: 'test', error: 1 - r.test.accuracy });
  }
  return rows;
}

/** The paper's values for runs of its networks (segregated, 784 inputs, an MNIST dataset). */
export function paperRows(runs: readonly ExperimentResult[], labels: ReadonlyMap<ExperimentResult, string>): PaperRow[] {
  const seen = new Set<string>();
  const rows: PaperRow[] = [];
  for (const r of runs) {
    if (r.spec.model !== 'segregated' || !/^mnist/.test(r.dataset.name)) continue;
    const net = PAPER_FIG6B.rows.find((p) => p.network === architecture(r));
    const model = labels.get(r) ?? r.spec.model;
    if (!net || seen.has(`${r.dataset.name}\0${model}`)) continue;
    seen.add(`${r.dataset.name}\0${model}`);
    rows.push({ model, dataset: r.dataset.name, network: net.network, error: net.testError });
  }
  return rows;
}

/**
 * Fig 6B style: error against epoch, one panel per dataset, one colour per model, a line per seed
 * and split (test solid, validation dashed; a test score after the last epoch only is a square),
 * and the paper's final test error (dotted, labelled) for the networks of the paper.
 */
export function testErrorPerEpoch(rows: readonly ErrorRow[], paper: readonly PaperRow[] = []): Chart {
  // A run's test score is a line when it has one per epoch, a lone point otherwise.
  const testEpochs = new Map<string, number>();
  for (const r of rows) if (r.split === 'test') testEpochs.set(`${r.dataset}\0${r.model}\0${r.seed}`, (testEpochs.get(`${r.dataset}\0${r.model}\0${r.seed}`) ?? 0) + 1);
  const values = [
    ...rows.map((r) => ({ ...r, kind: r.split === 'test' && testEpochs.get(`${r.dataset}\0${r.model}\0${r.seed}`) === 1 ? 'final' : 'line',
      series: `${r.seed} ${r.split}` })),
    ...paper.map((p) => ({ ...p, kind: 'paper', text: `paper ${p.network}: ${(p.error * 100).toFixed(1)} % after ${PAPER_FIG6B.epochs} epochs` })),
  ];
  const color = { field: 'model', type: 'nominal', title: 'model' } as const;
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } } as const;
  const y = { field: 'error', type: 'quantitative', title: 'error', axis: { format: '.1%' }, scale: { zero: true } } as const;
  return {
    data: { values },
    facet: { field: 'dataset' },
    columns: 2,
    spec: {
      width: 380, height: 240,
      layer: [
        { transform: [kind('line')], mark: { type: 'line', point: true },
          encoding: { x, y, color, detail: { field: 'series', type: 'nominal' },
            strokeDash: { field: 'split', type: 'nominal', title: 'error on', scale: { domain: ['test', 'validation'], range: [[1, 0], [5, 3]] } } } },
        { transform: [kind('final')], mark: { type: 'point', shape: 'square', filled: true, size: 60 },
          encoding: { x, y, color } },
        { transform: [kind('paper')], mark: { type: 'rule', strokeDash: [1, 3], strokeWidth: 2 }, encoding: { y, color } },
        { transform: [kind('paper')], mark: { type: 'text', align: 'left', dx: 3, dy: -6, fontSize: 10 },
          encoding: { y, x: { value: 0 }, text: { field: 'text' }, color } },
      ],
    },
  };
}

// ---- weight dynamics ------------------------------------------------------------------------

/**
 * One weight matrix of one run at one curve point, as the training loop records it with
 * recordWeights (src/train/loop.ts WeightStats): ‖W‖_F; the relative change since the previous
 * point, ‖W − W_prev‖_F / ‖W_prev‖_F; and the relative change of that change,
 * ‖ΔW − ΔW_prev‖_F / ‖ΔW_prev‖_F. null where there is no previous point (or change).
 */
export interface WeightDynamicsPoint {
  model: string;
  seed?: number;
  layer: string;
  examples: number;
  norm: number;
  relChange: number | null;
  relUpdateChange: number | null;
}

/** The weight statistics the runs recorded at their curve points (runs without recordWeights have none). */
export function weightRows(runs: readonly ExperimentResult[], labels: ReadonlyMap<ExperimentResult, string>): WeightDynamicsPoint[] {
  const rows: WeightDynamicsPoint[] = [];
  for (const r of runs) {
    for (const p of r.curve) {
      for (const w of p.weights ?? []) {
        rows.push({ model: labels.get(r) ?? r.spec.model, seed: r.spec.seed, layer: w.name, examples: p.examples, norm: w.norm,
          relChange: w.relChange, relUpdateChange: w.relUpdateChange });
      }
    }
  }
  return rows;
}

const WEIGHT_QUANTITIES = [
  ['norm', 'norm ‖W‖'],
  ['relChange', 'relative change ‖W − W_prev‖ / ‖W_prev‖'],
  ['relUpdateChange', 'update change ‖ΔW − ΔW_prev‖ / ‖ΔW_prev‖'],
] as const;

/** Norm, relative change and relative update change per weight matrix against training examples; one column per model, a line per seed. */
export function weightDynamicsFigure(rows: readonly WeightDynamicsPoint[]): Chart {
  const values = rows.flatMap((r) => WEIGHT_QUANTITIES.flatMap(([k, title]) =>
    r[k] === null ? [] : [{ model: r.model, seed: r.seed ?? 0, layer: r.layer, examples: r.examples, quantity: title, value: r[k] }]));
  return {
    data: { values },
    facet: { row: { field: 'quantity', sort: WEIGHT_QUANTITIES.map(([, t]) => t) }, column: { field: 'model' } },
    spec: {
      ...PANEL, height: 130,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'examples', type: 'quantitative', title: 'training examples' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'layer', type: 'nominal', title: 'weights' },
        detail: { field: 'seed', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
}

// ---- voltage traces (Fig 3C) ----------------------------------------------------------------

/**
 * One unit's potentials through one training example, step 0 = the first forward-phase step:
 * somatic C, basal B and (hidden units) apical A; where the target phase starts; for hidden units
 * the steps of the forward and target plateau potentials.
 */
export interface VoltageTrace {
  model: string;
  /** Which example of training this is (global number, from 0). */
  example: number;
  /** The example's class, when known. */
  label?: number;
  /** 0-based layer; `output` tells the output layer from hidden ones. */
  layer: number;
  unit: number;
  output: boolean;
  /** Milliseconds per step. */
  dt: number;
  targetStart: number;
  somatic: number[];
  basal: number[];
  apical?: number[];
  /** Forward and target plateau steps (hidden units). */
  plateaus?: [number, number];
}

/** Fig 3C style: one panel per unit, the compartments' potentials in ms, target phase shaded, plateaus marked. */
export function voltageTracesFigure(traces: readonly VoltageTrace[]): Chart {
  const values: Record<string, unknown>[] = [];
  for (const tr of traces) {
    const what = tr.output ? `output unit ${tr.unit}${tr.label === tr.unit ? ' (target class)' : ''}` : `hidden layer ${tr.layer + 1} unit ${tr.unit}`;
    const panel = `${tr.model} · example ${tr.example}${tr.label !== undefined ? ` (class ${tr.label})` : ''} · ${what}`;
    const n = tr.somatic.length;
    const series: Array<[string, number[] | undefined]> = [['somatic C', tr.somatic], ['basal B', tr.basal], ['apical A', tr.apical]];
    for (const [compartment, v] of series) {
      if (!v) continue;
      v.forEach((x, t) => values.push({ panel, kind: 'trace', compartment, t: t * tr.dt, v: x }));
    }
    values.push({ panel, kind: 'target', t: tr.targetStart * tr.dt, t2: n * tr.dt });
    if (tr.plateaus) {
      values.push({ panel, kind: 'plateau', t: tr.plateaus[0] * tr.dt, event: 'forward plateau' });
      values.push({ panel, kind: 'plateau', t: tr.plateaus[1] * tr.dt, event: 'target plateau' });
    }
  }
  const x = { field: 't', type: 'quantitative', title: 'time in the example (ms)' } as const;
  return {
    data: { values },
    // panels in the order given
    facet: { row: { field: 'panel' } },
    spec: {
      width: 560, height: 110,
      layer: [
        { transform: [kind('target')], mark: { type: 'rect', color: '#f2e8cf', opacity: 0.7 },
          encoding: { x, x2: { field: 't2' } } },
        { transform: [kind('trace')], mark: { type: 'line', strokeWidth: 1.5 },
          encoding: { x, y: { field: 'v', type: 'quantitative', title: 'potential', scale: { zero: false } },
            color: { field: 'compartment', type: 'nominal', title: 'compartment', scale: { domain: ['somatic C', 'basal B', 'apical A'] } } } },
        { transform: [kind('plateau')], mark: { type: 'rule', strokeWidth: 1.5 },
          encoding: { x, strokeDash: { field: 'event', type: 'nominal', title: 'plateau potential',
            scale: { domain: ['forward plateau', 'target plateau'], range: [[6, 3], [2, 2]] } } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
}

// ---- angle to backprop (Fig 7) --------------------------------------------------------------

/** Mean angle (degrees) between the local and the backprop update of a hidden layer over a window of examples ending at `examples`. */
export interface AnglePoint {
  model: string;
  seed?: number;
  /** 0-based hidden layer. */
  layer: number;
  examples: number;
  angle: number;
}

/**
 * The per-epoch mean angles of runs with the experiment setting recordAngle (segregated networks:
 * epochs[].metrics.angle, one per hidden layer), placed at the examples trained by the epoch's end.
 */
export function angleRows(runs: readonly ExperimentResult[], labels: ReadonlyMap<ExperimentResult, string>): AnglePoint[] {
  const rows: AnglePoint[] = [];
  for (const r of runs) {
    let examples = 0;
    for (const e of r.epochs) {
      examples += e.examples;
      const angle = e.metrics?.angle;
      if (!Array.isArray(angle)) continue;
      angle.forEach((a, layer) => {
        if (typeof a === 'number' && Number.isFinite(a)) rows.push({ model: labels.get(r) ?? r.spec.model, seed: r.spec.seed, layer, examples, angle: a });
      });
    }
  }
  return rows;
}

/** Fig 7 style: the angle to backprop against training examples; 90° (orthogonal, no agreement) drawn for reference. */
export function angleFigure(points: readonly AnglePoint[]): Chart {
  const values = [
    ...points.map((p) => ({ ...p, series: `${p.model} · hidden layer ${p.layer + 1}${p.seed !== undefined ? ` · seed ${p.seed}` : ''}`, kind: 'angle' })),
    { kind: 'ref', angle: 90, text: '90°: orthogonal to backprop' },
  ];
  return {
    data: { values },
    width: 520, height: 240,
    layer: [
      { transform: [kind('angle')], mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'examples', type: 'quantitative', title: 'training examples' },
          y: { field: 'angle', type: 'quantitative', title: 'angle to the backprop update (°)', scale: { domain: [0, 120] } },
          color: { field: 'series', type: 'nominal', title: 'layer' },
        } },
      { transform: [kind('ref')], mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
        encoding: { y: { field: 'angle', type: 'quantitative' } } },
      { transform: [kind('ref')], mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#666', fontSize: 10 },
        encoding: { y: { field: 'angle', type: 'quantitative' }, x: { value: 0 }, text: { field: 'text' } } },
    ],
  };
}

// ---- studies --------------------------------------------------------------------------------

/** One trial of a hyperparameter study: its score (null: failed or infeasible) and parameters. */
export interface TrialRecord {
  study: string;
  model: string;
  dataset: string;
  /** 0-based, in the order trials were run. */
  trial: number;
  value: number | null;
  params: Record<string, number | string | boolean>;
  /** What the value is (e.g. "validation accuracy"); default "value". */
  metric?: string;
  /** Whether the study looks for high or low values (default maximize). */
  direction?: Direction;
}

export type Direction = 'maximize' | 'minimize';

/** The title of the value axis: the trials' metric when they share one. */
function metricTitle(trials: readonly TrialRecord[]): string {
  const m = new Set(trials.map((t) => t.metric ?? 'value'));
  return m.size === 1 ? [...m][0] : 'value';
}

/** Every trial's value and the best value so far (by each study's direction), per study, against trial number. */
export function bestSoFarFigure(trials: readonly TrialRecord[]): Chart {
  const values: Record<string, unknown>[] = [];
  const byStudy = new Map<string, TrialRecord[]>();
  for (const t of trials) byStudy.set(t.study, [...(byStudy.get(t.study) ?? []), t]);
  for (const [study, list] of byStudy) {
    const direction = list[0].direction ?? 'maximize';
    let best: number | null = null;
    for (const t of [...list].sort((a, b) => a.trial - b.trial)) {
      if (t.value !== null && (best === null || (direction === 'maximize' ? t.value > best : t.value < best))) best = t.value;
      if (t.value !== null) values.push({ study, trial: t.trial, kind: 'trial', value: t.value });
      if (best !== null) values.push({ study, trial: t.trial, kind: 'best', value: best });
    }
  }
  const x = { field: 'trial', type: 'quantitative', title: 'trial', axis: { tickMinStep: 1, format: 'd' } } as const;
  const y = { field: 'value', type: 'quantitative', title: metricTitle(trials), scale: { zero: false } } as const;
  const color = { field: 'study', type: 'nominal', title: 'study' } as const;
  return {
    data: { values },
    width: 520, height: 240,
    layer: [
      { transform: [kind('trial')], mark: { type: 'point', opacity: 0.6 }, encoding: { x, y, color } },
      { transform: [kind('best')], mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 }, encoding: { x, y, color } },
    ],
  };
}

/** The distribution of trial values per model: a histogram and a box plot. */
export function trialDistributionFigure(trials: readonly TrialRecord[]): Chart {
  const valueTitle = metricTitle(trials);
  const values = trials.filter((t) => t.value !== null).map((t) => ({ model: t.model, study: t.study, value: t.value }));
  const x = { field: 'value', type: 'quantitative', title: valueTitle } as const;
  const color = { field: 'model', type: 'nominal', title: 'model' } as const;
  return {
    data: { values },
    vconcat: [
      // bars of the models overlap (bars never stack), hence the opacity
      { width: 520, height: 160, mark: { type: 'bar', opacity: 0.6 },
        encoding: { x: { ...x, bin: { maxbins: 30 } }, y: { aggregate: 'count', type: 'quantitative', title: 'trials' }, color } },
      { width: 520, mark: { type: 'boxplot', extent: 1.5 }, encoding: { x: { ...x, scale: { zero: false } }, y: { field: 'model', type: 'nominal', title: null }, color } },
    ],
  };
}

/**
 * Parallel coordinates per study: one axis per parameter and one for the value, each scaled to
 * its range (categories spread evenly), one line per trial coloured by its value.
 */
export function parallelCoordinatesFigure(trials: readonly TrialRecord[]): Chart {
  const valueTitle = metricTitle(trials);
  const values: Record<string, unknown>[] = [];
  const byStudy = new Map<string, TrialRecord[]>();
  for (const t of trials) if (t.value !== null) byStudy.set(t.study, [...(byStudy.get(t.study) ?? []), t]);
  for (const [study, list] of byStudy) {
    const axes = [...new Set(list.flatMap((t) => Object.keys(t.params)))];
    const scale = (key: string, get: (t: TrialRecord) => number | string | boolean | undefined) => {
      const raw = list.map(get).filter((v) => v !== undefined) as Array<number | string | boolean>;
      const numeric = raw.every((v) => typeof v === 'number');
      if (numeric) {
        const lo = Math.min(...(raw as number[])), hi = Math.max(...(raw as number[]));
        const pos = (v: number) => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
        for (const [v, where] of [[lo, 0], [hi, 1]] as const) values.push({ study, kind: 'tick', axis: key, pos: hi > lo ? where : 0.5, text: String(+v.toPrecision(4)) });
        return (v: unknown) => pos(v as number);
      }
      const cats = [...new Set(raw.map(String))].sort();
      const pos = (v: string) => (cats.length > 1 ? cats.indexOf(v) / (cats.length - 1) : 0.5);
      for (const c of cats) values.push({ study, kind: 'tick', axis: key, pos: pos(c), text: c });
      return (v: unknown) => pos(String(v));
    };
    const scales = axes.map((a) => [a, scale(a, (t) => t.params[a])] as const);
    scales.push([valueTitle, scale(valueTitle, (t) => t.value as number)]);
    for (const t of list) {
      scales.forEach(([axis, pos], i) => {
        const v = axis === valueTitle && i === scales.length - 1 ? t.value : t.params[axis];
        if (v !== undefined) values.push({ study, kind: 'line', trial: t.trial, axis, pos: pos(v), value: t.value });
      });
    }
  }
  const x = { field: 'axis', type: 'nominal', title: null, sort: null, axis: { orient: 'top' } } as const;
  return {
    data: { values },
    facet: { row: { field: 'study' } },
    spec: {
      width: 560, height: 200,
      layer: [
        { transform: [kind('line')], mark: { type: 'line', opacity: 0.7 },
          encoding: { x, y: { field: 'pos', type: 'quantitative', axis: null }, detail: { field: 'trial', type: 'nominal' },
            color: { field: 'value', type: 'quantitative', title: valueTitle } } },
        { transform: [kind('tick')], mark: { type: 'text', align: 'left', dx: 3, fontSize: 9, color: '#444' },
          encoding: { x, y: { field: 'pos', type: 'quantitative' }, text: { field: 'text' } } },
      ],
    },
  };
}

// ---- what a results folder shows ------------------------------------------------------------

/** The figures a results folder has data for, with their captions. */
export function reportFigures(results: Results): FigureSpec[] {
  const labels = runLabels(results.runs);
  const out: FigureSpec[] = [];
  const curves = curveRows(results.runs, labels);
  if (curves.length > 0) {
    out.push({
      name: 'learning-curves', title: 'Learning curves', spec: learningCurves(curves),
      caption: 'Accuracy against training examples seen, one panel per dataset and model. Train accuracy is the mean over the '
        + 'examples since the previous point, each scored before its own update; validation accuracy is scored at the point. '
        + 'A validation curve well below the train curve means over-fitting; curves still rising mean more epochs would help; '
        + 'spread between seeds shows how much one run can be trusted.',
    });
  }
  const errors = errorRows(results.runs, labels);
  if (errors.length > 0) {
    const paper = paperRows(results.runs, labels);
    out.push({
      name: 'test-error', title: 'Error per epoch (Fig 6B style)', spec: testErrorPerEpoch(errors, paper),
      caption: 'Error after each epoch, a line per seed: on the validation split (dashed) and on the test split (solid, with '
        + 'testEachEpoch; otherwise a square after the last epoch). '
        + (paper.length > 0
          ? `Dotted lines: the paper's final test errors for the same networks (${PAPER_FIG6B.source}: ${PAPER_FIG6B.conditions}); `
            + 'a run that is shorter, non-spiking or on fewer images is not expected to reach them. '
          : '')
        + 'Compare the models at equal epochs, and the last validation error with the test error.',
    });
  }
  const weights = weightRows(results.runs, labels);
  if (weights.length > 0) {
    out.push({
      name: 'weight-dynamics', title: 'Weight dynamics', spec: weightDynamicsFigure(weights),
      caption: 'Per weight matrix at each curve point (runs with recordWeights): the Frobenius norm, the relative change since the previous point, and '
        + 'how much that change differs from the previous one. A norm that keeps growing, or relative changes that do not fall, '
        + 'show a learning rate too high for the layer; update changes near 2 mean the updates reverse (oscillation), near 0 that '
        + 'they keep one direction.',
    });
  }
  const x = results.extras ?? {};
  if (x.voltages && x.voltages.length > 0) {
    out.push({
      name: 'voltages', title: 'Somatic, basal and apical potentials (Fig 3C style)', spec: voltageTracesFigure(x.voltages),
      caption: 'One training example: the potentials of a few hidden and output units through the forward phase and the target '
        + 'phase (shaded). Dashed and dotted lines: the steps at which the hidden units\' forward and target plateau potentials '
        + 'are taken. The apical potential '
        + 'of hidden units should move when the target is applied (the feedback signal), and the target class\'s output unit '
        + 'should be driven up in the target phase.',
    });
  }
  const angles = [...angleRows(results.runs, labels), ...(x.angles ?? [])];
  if (angles.length > 0) {
    out.push({
      name: 'angle', title: 'Angle to backprop (Fig 7 style)', spec: angleFigure(angles),
      caption: 'The angle between the hidden layer\'s local update and the update backprop would make, averaged over each epoch '
        + '(runs with recordAngle) or over windows of examples (recordings). Below 90° the local rule moves the weights in a direction that also lowers the backprop loss; the paper '
        + 'reports a fall from about 90° to about 65-70° over 10 epochs for 784-500-10.',
    });
  }
  if (x.trials && x.trials.length > 0) {
    out.push(
      { name: 'study-best', title: 'Study: best so far', spec: bestSoFarFigure(x.trials),
        caption: 'Every trial\'s value (points) and the best value found so far (line). A line that stopped rising means more trials are unlikely to help.' },
      { name: 'study-distribution', title: 'Study: distribution of trial values', spec: trialDistributionFigure(x.trials),
        caption: 'Histogram and box plot of the trial values per model: how sensitive each model is to its hyperparameters, and how often a trial fails to learn.' },
      { name: 'study-parallel', title: 'Study: parameters against value', spec: parallelCoordinatesFigure(x.trials),
        caption: 'One line per trial across its parameters (each axis scaled to its range) and its value, darker for higher values: where the best trials gather on an axis, that parameter matters.' },
    );
  }
  return out;
}
