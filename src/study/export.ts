// Studies out and in, both ways: our JSON (the whole study: configuration, trials, final result),
// CSV (one row per trial, one column per parameter and per fold, or per epoch of a holdout
// study), and Lange's JSON-lines log (§4.5 of his format: one {"target", "params", "datetime"}
// object per complete evaluation, parameters as floats under his keys, sorted).
import { Space, type Params } from '../bo/space';
import type { ModelKind } from '../experiment/registry';
import { optionError } from '../models/options';
import { checkStudySpace, isLangeKey } from './spaces';
import { stepsAreEpochs } from './objective';
import { FINISHED_STATES, isModelObjective, type ImportedTrial, type StudyConfig, type StudyRecord, type StudyTrial } from './types';

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

/** The CSV's intermediate-value columns: `fold_<k>_mean`, or `epoch_<k>_accuracy` in a holdout study. */
function stepColumn(config: StudyConfig, i: number): string {
  return stepsAreEpochs(config) ? `epoch_${i + 1}_accuracy` : `fold_${i + 1}_mean`;
}

/** The CSV's columns after the parameters and intermediate values. */
const CSV_TAIL = ['attempt', 'retry_of', 'requeued', 'worker', 'device', 'started_at', 'finished_at', 'seconds', 'error'] as const;

export function exportCsv(study: StudyRecord, trials: readonly StudyTrial[]): string {
  const params = Object.keys(study.config.space);
  const steps = Math.max(0, ...trials.map((t) => t.intermediate.length ? Math.max(...t.intermediate.map((i) => i.step)) + 1 : 0));
  const header = ['number', 'state', 'value', ...params.map((p) => `param_${p}`), ...Array.from({ length: steps }, (_, i) => stepColumn(study.config, i)),
    ...CSV_TAIL];
  const rows = trials.map((t) => [
    t.number, t.state, t.value, ...params.map((p) => t.params[p]),
    ...Array.from({ length: steps }, (_, i) => t.intermediate.find((x) => x.step === i)?.value),
    t.attempt, t.retryOf, t.requeued, t.workerId, t.device, t.startedAt, t.finishedAt, t.seconds, t.error,
  ].map(csvCell).join(','));
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

/** CSV records (RFC 4180: quoted cells may hold commas, quotes and newlines), each with the line it starts on. */
function csvRecords(text: string, file: string): { line: number; cells: string[] }[] {
  const out: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = 0;
  const endRecord = (): void => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '')) out.push({ line: start, cells });
    cells = [];
    cell = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        cell += c;
      }
      i++;
      continue;
    }
    if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else cell += c;
    i++;
  }
  if (quoted) throw optionError(`${file}:${start}`, '', 'a quoted cell is not closed before the end of the file');
  if (cell !== '' || cells.length) endRecord();
  return out;
}

/**
 * Trials from a CSV export (exportCsv's columns), typed by the study's space: every parameter of
 * the space needs its column (an empty cell: the parameter is inactive), and the step columns
 * must be those of the study's validation (folds or holdout epochs). Running, waiting and
 * requeued rows are left out (counted in `skipped`), as in JSON imports. Any malformed row fails
 * the whole file, its error naming the file and line, so that nothing is imported.
 */
export function parseStudyCsv(text: string, file: string, config: StudyConfig): { trials: ImportedTrial[]; skipped: number } {
  const records = csvRecords(text.replace(/^\uFEFF/, ''), file);
  if (records.length === 0) throw optionError(file, '', 'is empty (no header line)');
  const [head, ...rows] = records;
  const bad = (line: number, m: string): never => {
    throw optionError(`${file}:${line}`, '', m);
  };
  const names = Object.keys(config.space);
  const space = new Space(config.space);
  const col = new Map<string, number>();
  head.cells.forEach((name, i) => {
    if (col.has(name)) bad(head.line, `column "${name}" appears twice`);
    col.set(name, i);
  });
  const steps: number[] = [];
  const epochs = stepsAreEpochs(config);
  const stepRe = epochs ? /^epoch_(\d+)_accuracy$/ : /^fold_(\d+)_mean$/;
  for (const name of col.keys()) {
    if (name.startsWith('param_')) {
      if (!names.includes(name.slice(6))) bad(head.line, `unknown parameter "${name.slice(6)}" (column ${name}): the study's space has ${names.join(', ')}`);
    } else if (stepRe.test(name)) {
      steps.push(Number(stepRe.exec(name)![1]) - 1);
    } else if (!['number', 'state', 'value', ...CSV_TAIL].includes(name)) {
      const other = epochs ? /^fold_\d+_mean$/ : /^epoch_\d+_accuracy$/;
      bad(head.line, other.test(name)
        ? `column "${name}" belongs to a ${epochs ? 'fold' : 'holdout'} study; this one validates on ${epochs ? 'a holdout (epoch_<k>_accuracy columns)' : 'folds (fold_<k>_mean columns)'}`
        : `unknown column "${name}"`);
    }
  }
  for (const need of ['number', 'state', 'value', ...names.map((p) => `param_${p}`), ...CSV_TAIL]) {
    if (!col.has(need)) bad(head.line, `column "${need}" is missing (the columns of \`study export --format csv\` are needed)`);
  }
  const trials: ImportedTrial[] = [];
  let skipped = 0;
  for (const { line, cells } of rows) {
    if (cells.length !== head.cells.length) bad(line, `has ${cells.length} cells, the header ${head.cells.length}`);
    const get = (name: string): string => cells[col.get(name) as number];
    const num = (name: string, opt: { optional: boolean }): number | undefined => {
      const text = get(name);
      if (text === '' && opt.optional) return undefined;
      const v = Number(text);
      if (text.trim() === '' || !Number.isFinite(v)) bad(line, `column ${name} must be a number, got ${JSON.stringify(text)}`);
      return v;
    };
    const state = get('state');
    if (!(['complete', 'pruned', 'infeasible', 'failed', 'running', 'waiting'] as string[]).includes(state)) {
      bad(line, `column state must be complete, pruned, infeasible, failed, running or waiting, got ${JSON.stringify(state)}`);
    }
    const requeued = get('requeued');
    if (!['true', 'false', ''].includes(requeued)) bad(line, `column requeued must be true or false, got ${JSON.stringify(requeued)}`);
    num('number', { optional: false });
    for (const name of ['attempt', 'retry_of', 'worker']) num(name, { optional: true });
    const params: Params = {};
    for (const p of names) {
      const text = get(`param_${p}`);
      if (text === '') continue;
      const spec = space.params[p];
      const what = `parameter ${p} (column param_${p})`;
      if (spec.type === 'bool') {
        if (text !== 'true' && text !== 'false') bad(line, `${what} must be true or false, got ${JSON.stringify(text)}`);
        params[p] = text === 'true';
      } else if (spec.type === 'categorical') {
        const choice = spec.choices.find((c) => String(c) === text);
        if (choice === undefined) bad(line, `${what} must be one of ${spec.choices.map((c) => JSON.stringify(c)).join(', ')}, got ${JSON.stringify(text)}`);
        params[p] = choice as Params[string];
      } else {
        const v = Number(text);
        if (text.trim() === '' || !Number.isFinite(v)) bad(line, `${what} must be a number, got ${JSON.stringify(text)}`);
        if (spec.type === 'int' && !Number.isInteger(v)) bad(line, `${what} must be an integer, got ${JSON.stringify(text)}`);
        params[p] = v;
      }
    }
    const value = num('value', { optional: true });
    const intermediate = steps.flatMap((step) => {
      const v = num(stepColumn(config, step), { optional: true });
      return v === undefined ? [] : [{ step, value: v }];
    }).sort((a, b) => a.step - b.step);
    const seconds = num('seconds', { optional: true });
    for (const name of ['started_at', 'finished_at']) {
      const t = get(name);
      if (t !== '' && !Number.isFinite(Date.parse(t))) bad(line, `column ${name} must be a date and time, got ${JSON.stringify(t)}`);
    }
    if (!(FINISHED_STATES as readonly string[]).includes(state) || requeued === 'true') {
      skipped++;
      continue;
    }
    if (state === 'complete' && value === undefined) bad(line, 'a complete trial needs a value');
    const why = config.strategy === 'lange' ? undefined : space.invalid(params);
    if (why) bad(line, why);
    const error = get('error');
    trials.push({
      state: state as ImportedTrial['state'], params, intermediate,
      ...(value !== undefined ? { value } : {}), ...(get('started_at') ? { startedAt: get('started_at') } : {}),
      ...(get('finished_at') ? { finishedAt: get('finished_at') } : {}), ...(seconds !== undefined ? { seconds } : {}),
      ...(error !== '' ? { error } : {}),
    });
  }
  return { trials, skipped };
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
  let space: Space;
  if (isModelObjective(c.objective)) {
    space = checkStudySpace(c.objective.model, { params: c.space, fixed: c.objective.fixed ?? {} }, file);
  } else {
    try {
      space = new Space(c.space);
    } catch (err) {
      return bad(`"config.space": ${(err as Error).message}`);
    }
  }
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
