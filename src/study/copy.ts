// Moving a study from one storage to another (SQLite to PostgreSQL to scale out, PostgreSQL to
// SQLite to archive): the configuration, every finished trial with its state, value,
// intermediate values, timings, error and details, and the final result. The trials taken are
// those a JSON export carries (export.ts: finished, not superseded by a re-run), read back through
// the export's own parser, so a copy and an export followed by an import agree. Trial numbers in
// the target are consecutive; the final result is renumbered with its trial. The source is only read.
import { exportJson, parseStudyJson } from './export';
import { StudyError, type StudyStorage } from './storage';
import { FINISHED_STATES } from './types';

export interface CopyResult {
  /** The study's name in the target. */
  name: string;
  copied: number;
  /** Trials of the source not copied: still running or waiting, or failed attempts that were run again. */
  leftOut: { running: number; waiting: number; rerun: number };
  /** The final result's trial, in the source and in the target. */
  final?: { from: number; to: number };
}

/**
 * Copies study `name` of `from` into `to` (as `as`). A target study of that name must not exist,
 * except one with the same configuration and no trials (a copy that was interrupted after
 * creating it), which is filled.
 */
export async function copyStudy(from: StudyStorage, to: StudyStorage, name: string, as = name): Promise<CopyResult> {
  const record = await from.loadStudy(name);
  if (!record) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study "${name}" in ${from.location}`);
  const trials = await from.listTrials(name);
  const doc = parseStudyJson(exportJson(record, trials), `study "${name}" in ${from.location}`);
  const kept = trials.filter((t) => FINISHED_STATES.includes(t.state) && !t.requeued);
  if (kept.length !== doc.trials.length) throw new Error(`copy: ${kept.length} finished trials but ${doc.trials.length} exported`);

  const existing = await to.loadStudy(as);
  if (existing) {
    const empty = (await to.listTrials(as)).length === 0;
    if (!empty || JSON.stringify(existing.config) !== JSON.stringify(record.config)) {
      throw new StudyError('ERR_STUDY_EXISTS', `study "${as}" exists already in ${to.location}; copy it under another name`);
    }
  } else {
    await to.createStudy(as, record.config);
  }
  // One transaction: the target has all of the trials or none of them.
  const added = await to.importTrials(as, doc.trials);
  const numbers = new Map(kept.map((t, i) => [t.number, added[i].number]));
  let final: CopyResult['final'];
  if (record.final) {
    const to2 = numbers.get(record.final.trial);
    if (to2 !== undefined) {
      await to.setFinal(as, { ...record.final, trial: to2 });
      final = { from: record.final.trial, to: to2 };
    }
  }
  return {
    name: as, copied: added.length,
    leftOut: { running: trials.filter((t) => t.state === 'running').length, waiting: trials.filter((t) => t.state === 'waiting').length,
      rerun: trials.filter((t) => t.requeued).length },
    ...(final ? { final } : {}),
  };
}
