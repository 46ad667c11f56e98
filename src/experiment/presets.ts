// Presets: the published experiments by name, as JSON files shipped in presets/ that a user can
// copy and edit. Two kinds: an experiment preset (PRESET_FORMAT) is a list of experiments
// (ExperimentSpec minus the seed), settings shared by all of them, and the seeds to run each with
// (`planRuns` turns one into the specs to run); a study preset (STUDY_PRESET_FORMAT) is one
// hyperparameter study, its settings exactly those of `dendrite-bench study run`.
import fs from 'node:fs';
import path from 'node:path';

import { packageRoot } from '../data/paths';
import { optionError } from '../models/options';
import { studyConfig, type StudySettings } from '../study/config';
import { resolveSpec, type ExperimentSpec } from './spec';

export const PRESET_FORMAT = 'dendrite-bench/preset@1';
export const STUDY_PRESET_FORMAT = 'dendrite-bench/study-preset@1';

export interface Preset {
  format: typeof PRESET_FORMAT;
  name: string;
  title: string;
  description: string;
  /** Expected wall time, as measured (or "unmeasured"). */
  expected: { cpu: string; gpu: string };
  seeds: number[];
  /** Settings every experiment gets unless it sets its own. */
  settings?: Omit<ExperimentSpec, 'model' | 'options'>;
  experiments: Array<ExperimentSpec & { label: string }>;
}

/** The settings of a study preset: `study run`'s flags, as JSON values (folds and epochs per fold, trials the total). */
export type StudyPresetSettings = Required<Pick<StudySettings, 'model' | 'dataset' | 'trials' | 'space' | 'strategy' | 'folds' | 'epochs'>>
  & Pick<StudySettings, 'seed' | 'splitSeed' | 'prune'>;

export interface StudyPreset {
  format: typeof STUDY_PRESET_FORMAT;
  name: string;
  title: string;
  description: string;
  /** Expected wall time, as measured, an estimate that names its measurement, or "unmeasured". */
  expected: { cpu: string; gpu: string };
  study: StudyPresetSettings;
}

export type AnyPreset = Preset | StudyPreset;

export function isStudyPreset(p: AnyPreset): p is StudyPreset {
  return p.format === STUDY_PRESET_FORMAT;
}

const STUDY_KEYS: Record<keyof StudyPresetSettings, 'string' | 'integer' | 'boolean'> = {
  model: 'string', dataset: 'string', trials: 'integer', space: 'string', strategy: 'string', folds: 'integer', epochs: 'integer',
  seed: 'integer', splitSeed: 'integer', prune: 'boolean',
};
const STUDY_REQUIRED = ['model', 'dataset', 'trials', 'space', 'strategy', 'folds', 'epochs'];

/** One run of a plan: an experiment with its seed. */
export interface PlannedRun {
  label: string;
  seed: number;
  spec: ExperimentSpec;
}

export function presetDir(): string {
  return path.join(packageRoot(), 'presets');
}

function checkPreset(p: unknown, file: string): AnyPreset {
  const bad = (m: string): never => {
    throw optionError('preset', '', `${file}: ${m}`);
  };
  if (typeof p !== 'object' || p === null || Array.isArray(p)) bad('must hold a JSON object');
  const o = p as Record<string, unknown>;
  if (o.format !== PRESET_FORMAT && o.format !== STUDY_PRESET_FORMAT) {
    bad(`format must be "${PRESET_FORMAT}" (experiments) or "${STUDY_PRESET_FORMAT}" (a study), got ${JSON.stringify(o.format)}`);
  }
  for (const k of ['name', 'title', 'description']) if (typeof o[k] !== 'string' || o[k] === '') bad(`${k} must be a non-empty string`);
  // A preset file that gives no expected times (a user's) is unmeasured.
  const expected = (o.expected ?? { cpu: 'unmeasured', gpu: 'unmeasured' }) as Record<string, unknown>;
  if (typeof expected !== 'object' || expected === null || typeof expected.cpu !== 'string' || typeof expected.gpu !== 'string') {
    bad('expected must be { "cpu": "...", "gpu": "..." } (a time, or "unmeasured")');
  }
  o.expected = expected;
  if (o.format === STUDY_PRESET_FORMAT) return checkStudyPreset(o, file, bad);
  if (!Array.isArray(o.seeds) || o.seeds.length === 0 || !o.seeds.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    bad('seeds must list non-negative integers');
  }
  if (!Array.isArray(o.experiments) || o.experiments.length === 0) bad('experiments must list at least one experiment');
  (o.experiments as unknown[]).forEach((e, i) => {
    if (typeof e !== 'object' || e === null || typeof (e as { label?: unknown }).label !== 'string') bad(`experiment ${i + 1} needs a label`);
  });
  const preset = o as unknown as Preset;
  // Every experiment must resolve as it stands, so a broken preset fails before anything runs.
  for (const run of planRuns(preset)) {
    try {
      resolveSpec(run.spec);
    } catch (err) {
      bad(`experiment "${run.label}": ${(err as Error).message}`);
    }
  }
  return preset;
}

function checkStudyPreset(o: Record<string, unknown>, file: string, bad: (m: string) => never): StudyPreset {
  const s = o.study as Record<string, unknown>;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) bad('study must be an object of study run settings');
  const unknown = Object.keys(s).filter((k) => !(k in STUDY_KEYS));
  if (unknown.length) bad(`study has unknown keys ${unknown.join(', ')} (it may have ${Object.keys(STUDY_KEYS).join(', ')})`);
  for (const k of STUDY_REQUIRED) if (s[k] === undefined) bad(`study needs "${k}"`);
  for (const [k, type] of Object.entries(STUDY_KEYS)) {
    const v = s[k];
    if (v === undefined) continue;
    if (type === 'integer' ? !Number.isSafeInteger(v) : typeof v !== type) bad(`study.${k} must be ${type === 'integer' ? 'an integer' : `a ${type}`}, got ${JSON.stringify(v)}`);
  }
  // A space file named in a preset file is found beside that file, wherever the command runs.
  const space = s.space as string;
  const study = { ...s, ...(/[\\/]|\.json$/i.test(space) ? { space: path.resolve(path.dirname(file), space) } : {}) } as unknown as StudyPresetSettings;
  try {
    studyConfig(study);
  } catch (err) {
    bad((err as Error).message);
  }
  return { ...(o as unknown as StudyPreset), study };
}

/** The presets shipped with the package (both kinds), by name. */
export function listPresets(): AnyPreset[] {
  const dir = presetDir();
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => checkPreset(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), path.join(dir, f)));
}

/** A shipped preset by name, or a preset file by path. */
export function loadPreset(nameOrFile: string): AnyPreset {
  const shipped = path.join(presetDir(), `${nameOrFile}.json`);
  const file = fs.existsSync(shipped) ? shipped : nameOrFile;
  if (!fs.existsSync(file)) {
    const names = fs.readdirSync(presetDir()).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    throw optionError('preset', '', `no preset "${nameOrFile}" (the presets: ${names.join(', ')}; or give a preset file)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw optionError('preset', '', `cannot read ${file}: ${(err as Error).message}`);
  }
  return checkPreset(json, file);
}

/**
 * The runs of a preset: each experiment once per seed, in the preset's order (seeds inner), with
 * `overrides` (command-line settings such as dataset, device, threads) taking precedence over the
 * preset's settings and its experiments' own.
 */
export function planRuns(preset: Preset, overrides: Omit<ExperimentSpec, 'model' | 'options' | 'seed'> = {}, seeds = preset.seeds): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const { label, ...e } of preset.experiments) {
    for (const seed of seeds) {
      runs.push({ label, seed, spec: { ...preset.settings, ...e, ...overrides, seed } });
    }
  }
  return runs;
}
