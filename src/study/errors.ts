// What an error of a trial says about the trial. A configuration's own failures are its result
// and count towards the budget (a divergence, an option the model refuses, any other error of the
// run); an error of the machine it ran on (the environment) says nothing about the configuration:
// every trial there would meet it, so the worker stops and the trial goes back to the queue
// without taking a place in the budget (worker.ts, run.ts; docs/bo.md "Errors of the environment").
import { DatasetError } from '../data/errors';
import { isOptionError } from '../models/options';
import { DivergenceError } from '../train/loop';
import { isAbortError } from '../train/model';
import { isConnectionError } from './postgres';
import { isSqliteError } from './sqlite';
import { isStudyError } from './storage';

/**
 * interrupted: stopped on purpose (an abort); infeasible: the model refused the configuration;
 * diverged: training blew up (a result: chance accuracy); environment: the machine, not the
 * configuration; failed: anything else, the configuration's own failure.
 */
export type TrialErrorKind = 'interrupted' | 'infeasible' | 'diverged' | 'environment' | 'failed';

// Errors of the file system and of the process's limits: out of disk or quota, no permission, a
// read-only or failing disk, a file that vanished, no file descriptors left.
const SYSTEM_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'ENOENT', 'EMFILE', 'ENFILE',
  // a file of the package itself went away (a checkout deleted or rebuilt under a running study)
  'MODULE_NOT_FOUND', 'ERR_MODULE_NOT_FOUND',
  // the addon missing or older than the code (src/native.ts), a CUDA device asked for and not there
  'ERR_DENDRITE_ADDON', 'ERR_DENDRITE_DEVICE_UNAVAILABLE']);

/** Which kind of failure `err` is (the order matters: an option error may also be a TypeError). */
export function classifyTrialError(err: unknown): TrialErrorKind {
  if (isAbortError(err)) return 'interrupted';
  if (isOptionError(err)) return 'infeasible';
  if (err instanceof DivergenceError) return 'diverged';
  if (isEnvironmentError(err)) return 'environment';
  return 'failed';
}

function isEnvironmentError(err: unknown): boolean {
  if (err instanceof EnvironmentError) return true;
  // A dataset file missing or corrupt (an unknown dataset name is the study's own mistake).
  if (err instanceof DatasetError) return err.code !== 'usage';
  // The study's storage: unreachable, full, locked, corrupt.
  if (isStudyError(err, 'ERR_STUDY_STORAGE') || isConnectionError(err)) return true;
  if (isSqliteError(err)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && SYSTEM_CODES.has(code)) return true;
  // The addon refuses an option the code's own tables accepted: it was built from older sources
  // (its message, bindings/args.cpp; an option error of ours was classified above).
  return err instanceof TypeError && /: unknown option "/.test(err.message);
}

/** A worker stopped by an error of its machine; its trial (if any) went back to the queue. */
export class EnvironmentError extends Error {
  readonly code = 'ERR_STUDY_ENVIRONMENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnvironmentError';
  }
}

/** The exit code of a worker process stopped by an environment error (1 is any other error). */
export const ENVIRONMENT_EXIT_CODE = 3;
