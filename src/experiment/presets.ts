// Presets: the published experiments by name, as JSON files shipped in presets/ that a user can
// copy and edit. A preset is a list of experiments (ExperimentSpec minus the seed), settings shared
// by all of them, and the seeds to run each with. `planRuns` turns one into the specs to run.
import fs from 'node:fs';
import path from 'node:path';

import { packageRoot } from '../data/paths';
import { optionError } from '../models/options';
import { resolveSpec, type ExperimentSpec } from './spec';

export const PRESET_FORMAT = 'dendrite-bench/preset@1';

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

/** One run of a plan: an experiment with its seed. */
export interface PlannedRun {
  label: string;
  seed: number;
  spec: ExperimentSpec;
}

export function presetDir(): string {
  return path.join(packageRoot(), 'presets');
}

function checkPreset(p: unknown, file: string): Preset {
  const bad = (m: string): never => {
    throw optionError('preset', '', `${file}: ${m}`);
  };
  if (typeof p !== 'object' || p === null || Array.isArray(p)) bad('must hold a JSON object');
  const o = p as Record<string, unknown>;
  if (o.format !== PRESET_FORMAT) bad(`format must be "${PRESET_FORMAT}", got ${JSON.stringify(o.format)}`);
  for (const k of ['name', 'title', 'description']) if (typeof o[k] !== 'string' || o[k] === '') bad(`${k} must be a non-empty string`);
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

/** The presets shipped with the package, by name. */
export function listPresets(): Preset[] {
  const dir = presetDir();
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => checkPreset(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), path.join(dir, f)));
}

/** A shipped preset by name, or a preset file by path. */
export function loadPreset(nameOrFile: string): Preset {
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
