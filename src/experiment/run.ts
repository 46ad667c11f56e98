// runExperiment: check a spec, resolve the device, load and split the data, build the model from
// the registry, train it with the one training loop (src/train/loop.ts), and return a versioned
// result that records what a reader needs to trust it. The CLI, searches and reports call this.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { packageRoot } from '../data/paths';
import { devices, resolveDevice } from '../devices';
import type { DeviceString, ResolvedDevice } from '../native';
import type { EpochMetrics, TrainRecording } from '../models/segregated';
import { SegregatedTrainable } from '../models/segregated-trainable';
import type { AnglePoint, VoltageTrace } from '../report/figures';
import { anglePointsFromEpochs, voltageTracesFromRecording } from '../report/recordings';
import { tick } from '../slices';
import { loadCheckpoint, modelCheckpoint, type CheckpointData } from '../train/checkpoint';
import { loadTrainingData } from '../train/data';
import { train, type TrainEvent, type TrainResult } from '../train/loop';
import type { ModelState, TrainableModel } from '../train/model';
import { modelEntry, type ModelEntry } from './registry';
import { resolveSpec, type ExperimentSpec, type ResolvedSpec } from './spec';

export const EXPERIMENT_RESULT_FORMAT = 'dendrite-bench/experiment-result@1';

/** Where and with what the experiment ran. */
export interface Environment {
  package: { name: string; version: string };
  /** The git commit of the package's checkout, when it is one. */
  commit: string | null;
  node: string;
  platform: string;
  arch: string;
  cpu: string;
  /** What was asked, what was used, and why when "auto" did not take CUDA. */
  device: { requested: DeviceString; used: string; reason?: string };
  threads: number;
  simd: string;
  openmp: boolean;
}

export interface ExperimentResult extends Omit<TrainResult, 'format' | 'info' | 'options' | 'data'> {
  format: typeof EXPERIMENT_RESULT_FORMAT;
  /** What recordAngle (per-example angles, averaged in windows) and recordVoltages gathered: the report's Fig. 7 and 3C. */
  recordings?: { angles?: AnglePoint[]; voltages?: VoltageTrace[] };
  spec: ResolvedSpec;
  environment: Environment;
  dataset: {
    name: string;
    sha256: string;
    shape: { channels: number; height: number; width: number };
    classes: number;
    train: number;
    validation: number;
    test: number;
    split: { folds: number; fold: number } | { validation: number };
  };
}

export type ExperimentEvent = TrainEvent | { type: 'device'; requested: DeviceString; used: string; reason?: string };

export interface RunOptions {
  onEvent?: (e: ExperimentEvent) => void;
  /** Stops at the next chunk: the loop keeps the last checkpoint and rejects with an AbortError. */
  signal?: AbortSignal;
}

function gitCommit(root: string): string | null {
  try {
    const head = fs.readFileSync(path.join(root, '.git', 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    const ref = head.slice(5);
    const loose = path.join(root, '.git', ref);
    if (fs.existsSync(loose)) return fs.readFileSync(loose, 'utf8').trim();
    const packed = fs.readFileSync(path.join(root, '.git', 'packed-refs'), 'utf8');
    const line = packed.split('\n').find((l) => l.endsWith(` ${ref}`));
    return line ? line.split(' ')[0] : null;
  } catch {
    return null;
  }
}

/**
 * The device an experiment runs on: what resolveDevice made of the request, except that "auto"
 * takes the CPU where the model says CUDA does not pay for these options. The reason is set
 * whenever "auto" did not take CUDA.
 */
export function chooseDevice(requested: DeviceString, resolved: ResolvedDevice, entry: Pick<ModelEntry, 'cpuWhenAuto'>,
  options: Readonly<Record<string, unknown>>): { device: ResolvedDevice['device']; reason?: string } {
  if (requested === 'auto' && resolved.device !== 'cpu') {
    const why = entry.cpuWhenAuto?.(options as never);
    if (why !== undefined) return { device: 'cpu', reason: why };
  }
  return { device: resolved.device, ...(resolved.fallback !== undefined ? { reason: resolved.fallback } : {}) };
}

/** The package, git commit, Node, CPU and device facts of this process. */
export function environment(requested: DeviceString, used: string, reason: string | undefined, threads?: number): Environment {
  const root = packageRoot();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  const d = devices();
  return {
    package: { name: pkg.name, version: pkg.version },
    commit: gitCommit(root),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    device: { requested, used, ...(reason !== undefined ? { reason } : {}) },
    threads: threads ?? d.cpu.defaultThreads,
    simd: d.cpu.simd,
    openmp: d.cpu.openmp,
  };
}

/** Runs one experiment to its end (or to an abort, which rejects with an AbortError). */
export async function runExperiment(spec: ExperimentSpec, run: RunOptions = {}): Promise<ExperimentResult> {
  return (await runAndKeep(spec, run, false)).result;
}

/**
 * runExperiment that also hands back the trained model's final state (after the last epoch, the
 * state the test score belongs to) as a weights file's content (src/train/checkpoint.ts
 * modelCheckpoint): the caller decides where it goes (a results folder, train --save);
 * loadTrainedModel reads it back.
 */
export async function runExperimentWithWeights(spec: ExperimentSpec, run: RunOptions = {}): Promise<{ result: ExperimentResult; weights: CheckpointData }> {
  const r = await runAndKeep(spec, run, true);
  return { result: r.result, weights: r.weights! };
}

async function runAndKeep(spec: ExperimentSpec, run: RunOptions, keepWeights: boolean): Promise<{ result: ExperimentResult; weights?: CheckpointData }> {
  const s = resolveSpec(spec);
  const entry = modelEntry(s.model);
  const emit = run.onEvent ?? (() => undefined);

  const { device: used, reason } = chooseDevice(s.device, resolveDevice(s.device), entry, s.options);
  const kind = used === 'cpu' ? 'cpu' : 'cuda';
  if (!entry.devices.includes(kind)) {
    throw new RangeError(`experiment: the ${s.model} model has no ${kind} implementation (it runs on ${entry.devices.join(', ')})`);
  }
  emit({ type: 'device', requested: s.device, used, ...(reason ? { reason } : {}) });

  const data = await loadTrainingData(s.dataset, {
    validation: s.folds >= 2 ? 0 : s.validation, seed: s.splitSeed, folds: s.folds, fold: s.fold,
    ...(s.dataDir !== undefined ? { dataDir: s.dataDir } : {}),
  });
  const ctx = { input: data.shape, classes: data.classes, seed: s.seed, device: used as DeviceString,
    ...(s.threads !== undefined ? { threads: s.threads } : {}), recordAngle: s.recordAngle, recordVoltages: s.recordVoltages };
  // Options that follow the data (the segregated network's input size) are filled in here.
  const options = { ...s.options };
  if ('nIn' in entry.options && spec.options?.nIn === undefined) options.nIn = data.shape.channels * data.shape.height * data.shape.width;
  entry.check?.(options as never, ctx);
  const resolvedSpec: ResolvedSpec = { ...s, options };
  const env = environment(s.device, used, reason, s.threads);

  const model = entry.create(options as never, ctx);
  await tick(); // building the model and setting up its training are the longest steps on the event loop
  // The segregated network's per-epoch extras are taken at each epoch end: the angles of every
  // epoch, the voltages of the last.
  const epochAngles: Array<Pick<EpochMetrics, 'examples' | 'angles'>> = [];
  let lastRecording: TrainRecording | undefined;
  const onEvent = (e: ExperimentEvent): void => {
    if (e.type === 'epoch' && model instanceof SegregatedTrainable) {
      const x = model.takeEpochExtras();
      if (x?.angles) epochAngles.push({ examples: e.examples, angles: x.angles });
      if (x?.recording) lastRecording = x.recording;
    }
    emit(e);
  };
  let weights: CheckpointData | undefined;
  try {
    const r = await train(model, { train: data.splits.train, validation: data.splits.validation, ...(s.test ? { test: data.splits.test } : {}) }, {
      epochs: s.epochs, seed: s.seed, logEvery: s.logEvery, chunkSize: s.chunkSize, testEachEpoch: s.testEachEpoch, testRepeats: s.testRepeats, recordWeights: s.recordWeights,
      ...(s.checkpoint !== undefined ? { checkpoint: s.checkpoint } : {}), resume: s.resume, resumeOtherData: s.resumeOtherData,
      ...(run.signal ? { signal: run.signal } : {}), onEvent,
      ...(keepWeights ? { onTrainedState: (state: ModelState) => { weights = modelCheckpoint(model.kind, state); } } : {}),
      dataId: `${data.name} sha256 ${data.sha256}, ${s.folds >= 2 ? `fold ${s.fold} of ${s.folds}` : `validation ${s.validation}`}, seed ${s.seed}` +
        // Only when it differs, so that checkpoints written before splitSeed existed still resume.
        `${s.splitSeed !== s.seed ? `, split seed ${s.splitSeed}` : ''}`,
    });
    const { format: _f, info: _i, options: _o, data: counts, ...rest } = r;
    const recordings: NonNullable<ExperimentResult['recordings']> = {};
    if (epochAngles.length > 0) recordings.angles = anglePointsFromEpochs(s.model, epochAngles).map((p) => ({ ...p, seed: s.seed }));
    if (lastRecording) {
      recordings.voltages = voltageTracesFromRecording(s.model, lastRecording, { layers: options.layers as number[], dt: options.dt as number });
    }
    const result: ExperimentResult = {
      format: EXPERIMENT_RESULT_FORMAT,
      spec: resolvedSpec,
      environment: env,
      dataset: {
        name: data.name, sha256: data.sha256, shape: data.shape, classes: data.classes, ...counts,
        split: s.folds >= 2 ? { folds: s.folds, fold: s.fold } : { validation: s.validation },
      },
      ...rest,
      ...(Object.keys(recordings).length > 0 ? { recordings } : {}),
    };
    return { result, ...(weights ? { weights } : {}) };
  } finally {
    model.dispose?.();
  }
}

/**
 * The model an experiment trained, rebuilt from its result (the resolved spec, the data's shape)
 * with the weights file written beside it (runExperimentWithWeights): it scores as it did at the
 * end of the run. A file of another model kind or architecture is refused. The caller disposes it.
 */
export async function loadTrainedModel(result: ExperimentResult, file: string,
  runtime: { device?: DeviceString; threads?: number } = {}): Promise<TrainableModel> {
  const s = result.spec;
  const ck = await loadCheckpoint(file);
  if (ck.meta.kind !== s.model) {
    throw new Error(`${file}: holds ${ck.meta.kind === undefined ? 'no model kind' : `a ${String(ck.meta.kind)} model`}, the result is of a ${s.model} model`);
  }
  if (typeof ck.meta.model !== 'object' || ck.meta.model === null) throw new Error(`${file}: has no model metadata ("dendrite.model")`);
  const device = resolveDevice(runtime.device ?? s.device).device as DeviceString;
  const threads = runtime.threads ?? s.threads;
  const model = modelEntry(s.model).create(s.options as never, {
    input: result.dataset.shape, classes: result.dataset.classes, seed: s.seed, device, ...(threads !== undefined ? { threads } : {}),
  });
  try {
    await model.importState({ meta: ck.meta.model as Record<string, unknown>, arrays: ck.arrays, ...(ck.shapes ? { shapes: ck.shapes } : {}) });
  } catch (err) {
    model.dispose?.();
    throw err;
  }
  return model;
}
