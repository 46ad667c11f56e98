// A study's trials as a report: the trials become the results folder's extras.trials (best value
// so far against trial number, the distribution of values, parallel coordinates), and the best
// configuration retrained and tested, when the study has one, is stated beside them.
import fs from 'node:fs';
import path from 'node:path';

import type { StudyStorage } from '../study/storage';
import { isModelObjective, type StudyRecord, type StudyTrial } from '../study/types';
import type { TrialRecord } from './figures';
import { writeReport } from './html';
import { makeResults, readResults, RESULTS_JSON, writeResults } from './results';

/** The figures' rows of a study: every trial, with a value only where it completed. */
export function studyTrialRecords(study: StudyRecord, trials: readonly StudyTrial[]): TrialRecord[] {
  const o = study.config.objective;
  // A function study (optimize()) has no model or dataset: its study name stands for both.
  const about = isModelObjective(o)
    ? { model: o.model, dataset: o.dataset, metric: o.holdout !== undefined ? `holdout validation accuracy (${o.holdout} of the training split)` : `mean ${o.folds}-fold validation accuracy` }
    : { model: study.name, dataset: 'function', metric: 'objective value' };
  return trials.filter((t) => !t.requeued).map((t) => ({
    study: study.name,
    ...about,
    trial: t.number,
    value: t.state === 'complete' && t.value !== undefined ? t.value : null,
    params: t.params as Record<string, number | string | boolean>,
    direction: study.config.direction,
  }));
}

/**
 * Refuses a folder whose results.json holds training runs, or the plan of a run under way
 * (dendrite-bench run): a study's report would overwrite them. A study's earlier report is replaced.
 */
export function checkStudyReportFolder(folder: string): void {
  const file = path.join(folder, RESULTS_JSON);
  if (!fs.existsSync(file)) return;
  const r = readResults(file);
  if (r.runs.length > 0 || r.plan !== undefined) {
    throw new RangeError(`report: ${file} holds the results of dendrite-bench run, which a study's report would overwrite: give the report a folder of its own`);
  }
}

/** Writes results.json (the trials) and report.html for the named studies of one storage into `folder`. */
export async function writeStudyReport(storage: StudyStorage, names: readonly string[], folder: string,
  opts: { png?: boolean } = {}): Promise<{ report: string; trials: number }> {
  checkStudyReportFolder(folder);
  const trials: TrialRecord[] = [];
  for (const name of names) {
    const study = await storage.loadStudy(name);
    if (!study) throw new RangeError(`report: no study "${name}" in ${storage.location}`);
    trials.push(...studyTrialRecords(study, await storage.listTrials(name)));
  }
  await writeResults(folder, makeResults([], { extras: { trials } }));
  // The report's notes are about figures of training runs, which a study folder has none of.
  const r = await writeReport(folder, { png: opts.png ?? false });
  return { report: r.report, trials: trials.length };
}
