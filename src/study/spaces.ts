// Search spaces of studies: the named presets shipped in presets/studies/ ("default": ours, built
// from each model's option table; "lange2019": Lange's spaces as he logged them), spaces given as
// JSON files (checked with errors that name the file and the parameter), and the one mapping from
// a trial's parameters to the model's options (depth and widths to `layers`, one learning rate to
// `learningRates`, Lange's keys to ours). docs/bo.md "Search spaces of studies".
import fs from 'node:fs';
import path from 'node:path';

import { Space, spaceFromOptionTable, type ParamSpec, type Params } from '../bo/space';
import { packageRoot } from '../data/paths';
import { MODEL_KINDS, modelEntry, resolveModelOptions, type ModelKind } from '../experiment/registry';
import { nearestName, optionError, type ListOption, type OptionSpec, type OptionTable } from '../models/options';

export const SPACE_PRESET_FORMAT = 'dendrite-bench/study-space@1';

/** A space as a study uses it: parameters to search and model options every trial shares. */
export interface StudySpace {
  name: string;
  params: Record<string, ParamSpec>;
  fixed: Record<string, unknown>;
}

/** A preset file of presets/studies/. */
export interface SpacePreset {
  format: typeof SPACE_PRESET_FORMAT;
  name: string;
  models: ModelKind[];
  title: string;
  /** Include every option the model's table marks for searching (spaceFromOptionTable). */
  fromTable?: boolean;
  /** Options of the table left out of the search. */
  exclude?: string[];
  fixed?: Record<string, unknown>;
  params?: Record<string, ParamSpec>;
  /** What the preset deliberately leaves out or changes. */
  notes?: string;
}

type Family = 'dense' | 'cnn' | 'segregated';
const family = (model: ModelKind): Family => (model === 'cnn' ? 'cnn' : model === 'segregated' ? 'segregated' : 'dense');

/** Parameters that are not options themselves but build list options. */
const MAX_DEPTH: Record<Family, number> = { dense: 8, cnn: 5, segregated: 6 };
const LIST_OF: Record<Family, Record<string, string>> = {
  dense: { width: 'layers' },
  cnn: { channels: 'channels', kernel: 'kernels' },
  segregated: { width: 'layers' },
};

/** Lange's keys (his logs, §4.5 of his format) and the parameter of ours each one sets. */
const LANGE_KEYS: Record<Family, Record<string, string>> = {
  dense: {
    batch_size: 'batchSize', learning_rate: 'lr', num_layers: 'depth',
    ...Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`h_l_${i + 1}`, `width${i + 1}`])),
  },
  cnn: {
    batch_size: 'batchSize', learning_rate: 'lr', num_layers: 'depth', stride: 'stride', padding: 'padding',
    ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`ch_${i + 1}`, `channels${i + 1}`])),
    ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k_${i + 1}`, `kernel${i + 1}`])),
  },
  segregated: {
    use_sparse_feedback: 'sparseFeedback', use_conductances: 'conductances', use_broadcast: 'broadcast',
    use_spiking_feedback: 'spikingFeedback', use_spiking_feedforward: 'spikingFeedforward', use_feedback_bias: 'feedbackBias',
    dt: 'dt', l_f_phase: 'forwardPhase', l_t_phase: 'targetPhase', l_f_phase_test: 'testPhase', tau_s: 'tauS', tau_L: 'tauL',
    g_B: 'gB', E_E: 'EE', E_I: 'EI', f_etas: 'learningRate', b_etas: 'feedbackLearningRate', num_layers: 'depth',
    ...Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`h_l_${i + 1}`, `width${i + 1}`])),
    // Set through the rules of translateLange below.
    use_symmetric_weights: '', noisy_symmetric_weights: '', update_feedback_weights: '', use_apical_conductance: '',
    use_weight_optimization: '', lambda_max: '', g_A: '',
  },
};
const LANGE_FLAGS = new Set(['use_sparse_feedback', 'use_conductances', 'use_broadcast', 'use_spiking_feedback', 'use_spiking_feedforward',
  'use_feedback_bias', 'use_symmetric_weights', 'noisy_symmetric_weights', 'update_feedback_weights', 'use_apical_conductance',
  'use_weight_optimization']);

/** Whether a parameter name is one of Lange's keys for this model. */
export function isLangeKey(model: ModelKind, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(LANGE_KEYS[family(model)], name);
}

/**
 * Lange's parameters in our names, with his rules (segregated: symmetric feedback wins over
 * learned feedback; his apical flag sets g_A = 0.05 and his searched g_A is dropped, as his code
 * did; λmax is scaled by dt; g_L = 1/τ_L and g_D = g_B). Our own names pass through.
 */
export function translateLange(model: ModelKind, params: Readonly<Params>): Params {
  const keys = LANGE_KEYS[family(model)];
  const out: Params = {};
  for (const [k, v] of Object.entries(params)) {
    if (!Object.prototype.hasOwnProperty.call(keys, k)) out[k] = v;
    else if (keys[k] !== '') out[keys[k]] = LANGE_FLAGS.has(k) ? v === true || v === 1 : v;
  }
  // His rules apply to his parameter sets only: some of his keys (dt) are also our option names.
  const his = Object.keys(params).some((k) => Object.prototype.hasOwnProperty.call(keys, k) && keys[k] !== k);
  if (family(model) === 'segregated' && his) {
    const flag = (k: string): boolean => params[k] === true || params[k] === 1;
    out.feedback = flag('use_symmetric_weights') ? 'symmetric' : flag('update_feedback_weights') ? 'learned' : 'random';
    if (out.feedback === 'symmetric') out.noisySymmetric = flag('noisy_symmetric_weights');
    if (out.feedback !== 'learned') delete out.feedbackLearningRate;
    out.gA = flag('use_apical_conductance') ? 0.05 : 0;
    out.init = flag('use_weight_optimization') ? 'realised' : 'plain';
    const dt = typeof params.dt === 'number' ? params.dt : 1;
    if (typeof params.lambda_max === 'number') out.lambdaMax = params.lambda_max * dt;
    if (typeof params.tau_L === 'number') out.gL = 1 / params.tau_L;
    if (typeof params.g_B === 'number') out.gD = params.g_B;
  }
  return out;
}

type Role =
  | { kind: 'option'; spec: OptionSpec }
  | { kind: 'depth' }
  | { kind: 'entry'; list: string; index: number; spec: ListOption }
  | { kind: 'rate'; list: 'learningRates' | 'feedbackLearningRates'; spec: ListOption };

/** What a parameter of our names sets, or undefined when the model has no such thing. */
function roleOf(model: ModelKind, name: string): Role | undefined {
  const table = modelEntry(model).options as OptionTable;
  const f = family(model);
  if (name === 'depth') return { kind: 'depth' };
  if (f === 'segregated' && (name === 'learningRate' || name === 'feedbackLearningRate')) {
    const list = name === 'learningRate' ? 'learningRates' : 'feedbackLearningRates';
    return { kind: 'rate', list, spec: table[list] as ListOption };
  }
  const m = /^([a-z]+)([1-9][0-9]*)$/.exec(name);
  if (m && LIST_OF[f][m[1]] !== undefined && Number(m[2]) <= MAX_DEPTH[f]) {
    const list = LIST_OF[f][m[1]];
    return { kind: 'entry', list, index: Number(m[2]) - 1, spec: table[list] as ListOption };
  }
  if (Object.prototype.hasOwnProperty.call(table, name)) {
    const spec = table[name];
    return spec.type === 'numberList' || spec.type === 'integerList' ? undefined : { kind: 'option', spec };
  }
  return undefined;
}

/** The names a space of this model may use, for messages. */
function knownNames(model: ModelKind): string[] {
  const table = modelEntry(model).options as OptionTable;
  const f = family(model);
  const direct = Object.keys(table).filter((n) => roleOf(model, n) !== undefined);
  const lists = Object.keys(LIST_OF[f]).map((p) => `${p}1..${p}${MAX_DEPTH[f]}`);
  return [...direct, 'depth', ...lists, ...(f === 'segregated' ? ['learningRate', 'feedbackLearningRate'] : [])];
}

function rangeOk(low: number, high: number, o: { min: number; max: number; exclusiveMin?: boolean; exclusiveMax?: boolean }): boolean {
  return (o.exclusiveMin ? low > o.min : low >= o.min) && (o.exclusiveMax ? high < o.max : high <= o.max);
}

/**
 * Checks a space for a model and returns it built: the Space's own checks, then every parameter
 * against what it sets (an option of the model, depth, a width, a learning rate, or one of
 * Lange's keys): the type must fit and the range must lie inside the option's. Errors are option
 * errors (usage errors) that start with `where` (a file name or preset).
 */
export function checkStudySpace(model: ModelKind, space: Omit<StudySpace, 'name'>, where: string): Space {
  const fail = (m: string, param = ''): never => {
    throw optionError(where, param, m);
  };
  if (typeof space.params !== 'object' || space.params === null || Array.isArray(space.params)) fail('"params" must be an object of name: spec');
  let built: Space;
  try {
    built = new Space(space.params);
  } catch (err) {
    return fail((err as Error).message);
  }
  const f = family(model);
  const names = Object.keys(space.params);
  let maxDepth = 0;
  for (const raw of names) {
    const spec = space.params[raw];
    const lange = isLangeKey(model, raw);
    if (lange && LANGE_FLAGS.has(raw)) {
      if (spec.type !== 'bool' && !(spec.type === 'int' && spec.low === 0 && spec.high === 1)) fail('is one of Lange\'s flags: make it bool', raw);
      continue;
    }
    if (lange && (raw === 'g_A' || raw === 'lambda_max')) {
      if (spec.type !== 'float') fail('must be a float', raw);
      continue;
    }
    const name = lange ? LANGE_KEYS[f][raw] : raw;
    const role = roleOf(model, name);
    if (!role) {
      const near = nearestName(raw, [...knownNames(model), ...Object.keys(LANGE_KEYS[f])]);
      fail(`unknown parameter "${raw}" for model ${model}${near ? ` (did you mean "${near}"?)` : ''}; a space may use ${knownNames(model).join(', ')}, or Lange's keys`);
    }
    const numeric = (o: { type: string; min: number; max: number; exclusiveMin?: boolean; exclusiveMax?: boolean }, integer: boolean): void => {
      if (spec.type !== 'float' && spec.type !== 'int') fail(`must be ${integer ? 'int' : 'float or int'}, it is ${spec.type}`, raw);
      if (integer && spec.type !== 'int') fail('must be int (the option is an integer)', raw);
      const s = spec as { low: number; high: number };
      if (!rangeOk(s.low, s.high, o)) {
        fail(`has the range [${s.low}, ${s.high}], outside the values the model takes (${o.exclusiveMin ? '(' : '['}${o.min}, ${o.max}${o.exclusiveMax ? ')' : ']'})`, raw);
      }
    };
    const r = role as Role;
    switch (r.kind) {
      case 'depth':
        numeric({ type: 'integer', min: 1, max: MAX_DEPTH[f] }, true);
        maxDepth = (spec as { high: number }).high;
        break;
      case 'entry':
      case 'rate':
        numeric(r.spec, r.spec.type === 'integerList');
        break;
      case 'option': {
        const o = r.spec;
        if (o.type === 'number' || o.type === 'integer') numeric(o, o.type === 'integer');
        else if (o.type === 'boolean' && spec.type !== 'bool') fail(`must be bool (the option is a boolean), it is ${spec.type}`, raw);
        else if (o.type === 'choice') {
          if (spec.type !== 'categorical') fail(`must be categorical (the option is a choice of ${o.choices.join(', ')}), it is ${spec.type}`, raw);
          const bad = (spec as { choices: readonly unknown[] }).choices.find((c) => !o.choices.includes(c as string));
          if (bad !== undefined) fail(`has the choice ${JSON.stringify(bad)}, not one of ${o.choices.join(', ')}`, raw);
        }
        if (Object.prototype.hasOwnProperty.call(space.fixed, name)) fail('is both searched and fixed', raw);
        break;
      }
    }
  }
  // Every width a searched depth can reach must be searched too.
  const ours = new Set(names.map((n) => (isLangeKey(model, n) ? LANGE_KEYS[f][n] : n)));
  for (const prefix of Object.keys(LIST_OF[f])) {
    const given = [...ours].filter((n) => new RegExp(`^${prefix}[0-9]+$`).test(n));
    if (given.length > 0 && !ours.has('depth')) fail(`searches ${given.join(', ')} but not depth (the number of layers they fill)`);
    for (let i = 1; i <= maxDepth; i++) if (!ours.has(`${prefix}${i}`)) fail(`lets depth reach ${maxDepth} but does not search ${prefix}${i}`);
  }
  const listFixed = Object.keys(LIST_OF[f]).map((p) => LIST_OF[f][p]).filter((l) => Object.prototype.hasOwnProperty.call(space.fixed, l));
  if (ours.has('depth') && listFixed.length > 0) fail(`searches depth but fixes ${listFixed.join(', ')}`);
  try {
    resolveModelOptions(model, space.fixed);
  } catch (err) {
    fail(`"fixed": ${(err as Error).message}`);
  }
  return built;
}

/**
 * The model options of one trial: the fixed ones, then the parameters (Lange's translated),
 * depth and widths gathered into `layers` (then the class count) or `channels`/`kernels`, one
 * segregated learning rate spread over every layer. Parameters beyond the depth are ignored
 * (Lange's spaces search them although they do not apply).
 */
export function trialOptions(model: ModelKind, params: Readonly<Params>, fixed: Readonly<Record<string, unknown>>, classes: number): Record<string, unknown> {
  const f = family(model);
  const p = translateLange(model, params);
  const opts: Record<string, unknown> = structuredClone(fixed) as Record<string, unknown>;
  const depth = typeof p.depth === 'number' ? p.depth : undefined;
  let rate: number | undefined;
  let feedbackRate: number | undefined;
  for (const [k, v] of Object.entries(p)) {
    const role = roleOf(model, k);
    if (role?.kind === 'option' || role === undefined) opts[k] = v; // unknown names are left for the option check to name
    else if (role.kind === 'rate') {
      if (role.list === 'learningRates') rate = v as number;
      else feedbackRate = v as number;
    }
  }
  if (depth !== undefined) {
    for (const [prefix, list] of Object.entries(LIST_OF[f])) {
      const values = Array.from({ length: depth }, (_, i) => p[`${prefix}${i + 1}`]);
      if (values.some((v) => v === undefined)) throw optionError(model, list, `needs ${prefix}1..${prefix}${depth} for depth ${depth}`);
      opts[list] = f === 'cnn' ? values : [...values, classes];
    }
  }
  if (f === 'segregated') {
    const layers = (opts.layers as number[] | undefined) ?? (resolveModelOptions(model, opts).layers as number[]);
    if (rate !== undefined) opts.learningRates = layers.map(() => rate);
    if (feedbackRate !== undefined && opts.feedback === 'learned') opts.feedbackLearningRates = layers.slice(0, -1).map(() => feedbackRate);
  }
  return opts;
}

function presetsDir(): string {
  return path.join(packageRoot(), 'presets', 'studies');
}

function readPreset(file: string): SpacePreset {
  const bad = (m: string): never => {
    throw optionError(file, '', m);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return bad(`cannot read the space preset: ${(err as Error).message}`);
  }
  const p = doc as SpacePreset;
  if (typeof p !== 'object' || p === null || p.format !== SPACE_PRESET_FORMAT) bad(`"format" must be "${SPACE_PRESET_FORMAT}"`);
  if (typeof p.name !== 'string' || !Array.isArray(p.models) || p.models.some((m) => !MODEL_KINDS.includes(m))) bad('needs "name" and "models" (model kinds)');
  return p;
}

/** Every preset of presets/studies/, by file name. */
export function listSpacePresets(): SpacePreset[] {
  const dir = presetsDir();
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => readPreset(path.join(dir, f)));
}

/** A named preset's space for a model. */
export function presetSpace(model: ModelKind, name: string): StudySpace {
  const all = listSpacePresets();
  const preset = all.find((p) => p.name === name && p.models.includes(model));
  if (!preset) {
    const names = [...new Set(all.filter((p) => p.models.includes(model)).map((p) => p.name))];
    throw optionError('study', '--space', `has no preset "${name}" for ${model} (presets: ${names.join(', ')}; or a JSON file)`);
  }
  const fixed = { ...(preset.fixed ?? {}) };
  const params: Record<string, ParamSpec> = {};
  if (preset.fromTable) {
    // The table's searched options, less the excluded and fixed ones (their search marks removed).
    const table = modelEntry(model).options as OptionTable;
    const drop = new Set([...(preset.exclude ?? []), ...Object.keys(fixed)]);
    const unmarked = Object.fromEntries(Object.entries(table).map(([n, spec]) => {
      if (!drop.has(n)) return [n, spec];
      const { search: _s, ...rest } = spec as OptionSpec & { search?: unknown };
      return [n, rest];
    })) as OptionTable;
    Object.assign(params, spaceFromOptionTable(unmarked, undefined, { fixed }).params);
  }
  Object.assign(params, preset.params ?? {});
  const space = { name, params, fixed };
  checkStudySpace(model, space, `space preset ${name} (${model})`);
  return space;
}

/** A space from a JSON file: { "params": {...}, "fixed": {...} } (fixed optional), checked for the model. */
export function loadSpaceFile(model: ModelKind, file: string): StudySpace {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw optionError(`space file ${file}`, '', `cannot be read as JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw optionError(`space file ${file}`, '', 'must hold a JSON object { "params": {...}, "fixed": {...} }');
  const d = doc as Record<string, unknown>;
  const extra = Object.keys(d).filter((k) => !['params', 'fixed', 'model', 'title'].includes(k));
  if (extra.length) throw optionError(`space file ${file}`, '', `has unknown keys ${extra.join(', ')} (it may have params, fixed, model, title)`);
  if (d.model !== undefined && d.model !== model) throw optionError(`space file ${file}`, '', `is for model ${String(d.model)}, not ${model}`);
  if (d.fixed !== undefined && (typeof d.fixed !== 'object' || d.fixed === null || Array.isArray(d.fixed))) {
    throw optionError(`space file ${file}`, '', '"fixed" must be an object of model options');
  }
  const space = { name: path.resolve(file), params: d.params as Record<string, ParamSpec>, fixed: (d.fixed ?? {}) as Record<string, unknown> };
  checkStudySpace(model, space, `space file ${file}`);
  return space;
}

/** --space: a preset name, or a path to a JSON file (anything with a slash or ending in .json). */
export function resolveStudySpace(model: ModelKind, spec: string): StudySpace {
  return /[\\/]|\.json$/i.test(spec) ? loadSpaceFile(model, spec) : presetSpace(model, spec);
}
