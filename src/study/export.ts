// Studies out and in: our JSON (the whole study: configuration, trials, final result), CSV (one
// row per trial, one column per parameter and per fold), and Lange's JSON-lines log (§4.5 of his
// format: one {"target", "params", "datetime"} object per complete evaluation, parameters as
// floats under his keys, sorted), both ways.
import { Space, type Params } from '../bo/space';
import type { ModelKind } from '../experiment/registry';
import { optionError } from '../models/options';
import { checkStudySpace, isLangeKey } from './spaces';
import { FINISHED_STATES, type ImportedTrial, type StudyConfig, type StudyRecord, type StudyTrial } from './types';

export const STUDY_EXPORT_FORMAT = 'dendrite-bench/study@1';

export interface StudyExport {
  format: typeof STUDY_EXPORT_FORMAT;
  name: string;
  createdAt: string;
  config: StudyConfig;
  final?: StudyRecord['final'];
  trials: StudyTrial[];
}

export function exportJson(study: StudyRecord, trials: readonly StudyTrial[]): string {
  const doc: StudyExport = { format: STUDY_EXPORT_FORMAT, name: study.name, createdAt: study.createdAt, config: study.config,
    ...(study.final ? { final: study.final } : {}), trials: [...trials] };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function exportCsv(study: StudyRecord, trials: readonly StudyTrial[]): string {
  const params = Object.keys(study.config.space);
  const steps = Math.max(0, ...trials.map((t) => t.intermediate.length ? Math.max(...t.intermediate.map((i) => i.step)) + 1 : 0));
  const header = ['number', 'state', 'value', ...params.map((p) => `param_${p}`), ...Array.from({ length: steps }, (_, i) => `fold_${i + 1}_mean`),
    'attempt', 'retry_of', 'requeued', 'worker', 'device', 'started_at', 'finished_at', 'seconds', 'error'];
  const rows = trials.map((t) => [
    t.number, t.state, t.value, ...params.map((p) => t.params[p]),
    ...Array.from({ length: steps }, (_, i) => t.intermediate.find((x) => x.step === i)?.value),
    t.attempt, t.retryOf, t.requeued, t.workerId, t.device, t.startedAt, t.finishedAt, t.seconds, t.error,
  ].map(csvCell).join(','));
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

/** Python's repr of a float, as his logs have them (238.0, 0.0173, 1e-05). */
function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  if (x !== 0 && (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e16)) {
    return x.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  return String(x);
}

function pyDate(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ');
}

/**
 * Lange's log lines of a study whose parameters are his keys (the lange2019 spaces or an import):
 * the complete trials in the order they finished. Other states have no line (his logs had none).
 * Trials imported from his log keep their original datetime record.
 */
export function exportLange(study: StudyRecord, model: ModelKind, trials: readonly StudyTrial[]): string {
  const foreign = Object.keys(study.config.space).filter((k) => !isLangeKey(model, k));
  if (foreign.length) {
    throw optionError('study export', '--format', `lange needs a study whose parameters are Lange's keys (space lange2019); this one has ${foreign.slice(0, 4).join(', ')}`);
  }
  const done = trials.filter((t) => t.state === 'complete').sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '') || a.number - b.number);
  const first = done[0]?.finishedAt;
  let prev = first;
  return done.map((t) => {
    const params = Object.keys(t.params).sort().map((k) => {
      const v = t.params[k];
      return `${JSON.stringify(k)}: ${pyFloat(typeof v === 'boolean' ? Number(v) : (v as number))}`;
    }).join(', ');
    const kept = (t.info as { lange?: { datetime: string; elapsed: number; delta: number } } | undefined)?.lange;
    const at = t.finishedAt ?? '';
    const datetime = kept ?? {
      datetime: pyDate(at), elapsed: first ? (Date.parse(at) - Date.parse(first)) / 1000 : 0, delta: prev ? (Date.parse(at) - Date.parse(prev)) / 1000 : 0,
    };
    prev = at;
    return `{"target": ${pyFloat(t.value as number)}, "params": {${params}}, "datetime": {"datetime": ${JSON.stringify(datetime.datetime)}, ` +
      `"elapsed": ${pyFloat(datetime.elapsed)}, "delta": ${pyFloat(datetime.delta)}}}`;
  }).join('\n') + (done.length ? '\n' : '');
}

/**
 * Trials from Lange's log text, as complete trials of `space` (his keys): integers rounded, flags
 * from 0/1, every key of the space required and no other, values in range. Errors name the file
 * and line.
 */
export function parseLange(text: string, file: string, space: Space): ImportedTrial[] {
  const out: ImportedTrial[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    const bad = (m: string): never => {
      throw optionError(where, '', m);
    };
    let doc: { target?: unknown; params?: Record<string, unknown>; datetime?: { datetime?: unknown; elapsed?: unknown; delta?: unknown } };
    try {
      doc = JSON.parse(line);
    } catch (err) {
      return bad(`not a JSON line of Lange's log: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null) bad('not a JSON object');
    if (typeof doc.target !== 'number' || !Number.isFinite(doc.target)) bad('"target" must be a finite number');
    if (typeof doc.params !== 'object' || doc.params === null) bad('"params" must be an object');
    const params: Params = {};
    for (const [k, v] of Object.entries(doc.params as Record<string, unknown>)) {
      const spec = space.params[k];
      if (!spec) bad(`parameter "${k}" is not in the study's space (${space.names.join(', ')})`);
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(`parameter "${k}" must be a number, got ${JSON.stringify(v)}`);
      const x = v as number;
      params[k] = spec.type === 'int' ? Math.round(x) : spec.type === 'bool' ? x >= 0.5 : spec.type === 'categorical' ? spec.choices[Math.round(x)] : x;
    }
    const why = space.invalid(params);
    if (why) bad(why);
    const d = doc.datetime;
    const dt = d && typeof d.datetime === 'string' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(d.datetime) ? d.datetime : undefined;
    const seconds = typeof d?.delta === 'number' ? d.delta : undefined;
    const finishedAt = dt ? `${dt.replace(' ', 'T')}.000Z` : undefined;
    out.push({
      state: 'complete', params, value: doc.target as number,
      ...(finishedAt ? { finishedAt } : {}),
      ...(finishedAt && seconds !== undefined ? { seconds, startedAt: new Date(Date.parse(finishedAt) - seconds * 1000).toISOString() } : {}),
      ...(d && dt ? { info: { lange: { datetime: dt, elapsed: Number(d.elapsed ?? 0), delta: Number(d.delta ?? 0) } } } : {}),
    });
  });
  if (out.length === 0) throw optionError(file, '', 'holds no log lines');
  return out;
}

/** A study export read back: checked configuration and finished trials. */
export function parseStudyJson(text: string, file: string): { name: string; config: StudyConfig; final?: StudyRecord['final']; trials: ImportedTrial[]; skipped: number } {
  const bad = (m: string): never => {
    throw optionError(file, '', m);
  };
  let doc: StudyExport;
  try {
    doc = JSON.parse(text) as StudyExport;
  } catch (err) {
    return bad(`not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || doc.format !== STUDY_EXPORT_FORMAT) bad(`"format" must be "${STUDY_EXPORT_FORMAT}"`);
  const c = doc.config;
  if (typeof c !== 'object' || c === null || typeof c.objective !== 'object' || c.objective === null) bad('"config" with an "objective" is required');
  const space = checkStudySpace(c.objective.model, { params: c.space, fixed: c.objective.fixed ?? {} }, file);
  if (!Array.isArray(doc.trials)) bad('"trials" must be a list');
  let skipped = 0;
  const trials: ImportedTrial[] = [];
  for (const t of doc.trials) {
    if (!FINISHED_STATES.includes(t.state) || t.requeued) {
      skipped++;
      continue;
    }
    const why = c.strategy === 'lange' ? undefined : space.invalid(t.params);
    if (why) bad(`trial ${t.number}: ${why}`);
    trials.push({
      state: t.state as ImportedTrial['state'], params: t.params, intermediate: t.intermediate ?? [],
      ...(t.value !== undefined ? { value: t.value } : {}), ...(t.startedAt ? { startedAt: t.startedAt } : {}),
      ...(t.finishedAt ? { finishedAt: t.finishedAt } : {}), ...(t.seconds !== undefined ? { seconds: t.seconds } : {}),
      ...(t.error !== undefined ? { error: t.error } : {}), ...(t.info !== undefined ? { info: t.info } : {}),
    });
  }
  return { name: doc.name, config: c, ...(doc.final ? { final: doc.final } : {}), trials, skipped };
}
