// Progress on stderr: live bars on a terminal (cli-progress), plain lines otherwise (logs, CI,
// pipes). `createProgress`: a bar per run (run, train); `createStudyProgress`: a bar for a study
// and one per running trial (study run, study presets). Lines a command prints on stdout while
// bars are drawn go through `print`: above the bars when stdout is the same terminal (a line
// written past them would be overwritten by the next redraw), else to stdout as they would.
import { MultiBar, Presets, type SingleBar } from 'cli-progress';

import type { ExperimentEvent } from '../experiment/run';
import type { TrialProgress } from '../study/objective';

export interface RunBar {
  update(e: ExperimentEvent): void;
  finish(text: string): void;
}

export interface Progress {
  start(name: string, epochs: number): RunBar;
  /** A line above the bars (stderr). */
  log(line: string): void;
  /** A line of the command's output (stdout): see the file comment. */
  print(line: string): void;
  stop(): void;
}

function pct(x: number | undefined | null): string {
  return x === undefined || x === null || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`;
}

/** Seconds as 1h02m, 3m05s or 42s. */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '-';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/**
 * A MultiBar on `stream` whose logged lines are flushed before it stops (cli-progress drops them),
 * and which gives the terminal its cursor and line wrapping back should the process exit while it
 * draws (a second Ctrl-C exits at once).
 */
function bars(stream: NodeJS.WriteStream, format: string, barsize = 40): { multi: MultiBar; stop: () => void } {
  const multi = new MultiBar({ stream, format, barsize, hideCursor: true, clearOnComplete: false, etaBuffer: 50 }, Presets.shades_classic);
  const restore = (): void => void stream.write('\u001b[?25h\u001b[?7h\n');
  process.once('exit', restore);
  return {
    multi,
    stop: () => {
      process.off('exit', restore);
      multi.update();
      multi.stop();
    },
  };
}

/** `print` while bars run on `stream`: above them when stdout is the same terminal. */
function printer(multi: MultiBar, stdout: NodeJS.WriteStream, out: (line: string) => void, live: () => boolean): (line: string) => void {
  return (line) => {
    if (live() && stdout.isTTY) multi.log(`${line}\n`);
    else out(line);
  };
}

const RUN_FORMAT = '{name} |{bar}| epoch {epoch}/{epochs} {value}/{total} ex  {speed} ex/s  acc {acc}  ETA {eta_formatted}';

/**
 * `out` is where `print` writes when the bars do not take the line (default: stdout); on a
 * terminal `stream` gets a bar per run, elsewhere a plain line per epoch.
 */
export function createProgress(stream: NodeJS.WriteStream, out: (line: string) => void = (l) => void process.stdout.write(`${l}\n`),
  stdout: NodeJS.WriteStream = process.stdout): Progress {
  if (!stream.isTTY) {
    return {
      start: (name, epochs) => ({
        update: (e) => {
          if (e.type === 'epoch') {
            stream.write(`${name}: epoch ${e.epoch}/${epochs}  train acc ${pct(e.trainAccuracy)}  val acc ${pct(e.validationAccuracy)}  ` +
              `${e.trainSeconds.toFixed(1)} s  ${Math.round(e.examplesPerSecond)} ex/s\n`);
          }
        },
        finish: (text) => void stream.write(`${name}: ${text}\n`),
      }),
      log: (line) => void stream.write(`${line}\n`),
      print: out,
      stop: () => undefined,
    };
  }
  const { multi, stop } = bars(stream, RUN_FORMAT);
  let live = true;
  return {
    start: (name, epochs) => {
      let bar: SingleBar | undefined;
      let epochSize = 0;
      let done = 0;
      return {
        update: (e) => {
          if (e.type === 'start') {
            epochSize = e.data.train;
            done = e.resumed ? e.resumed.epoch * epochSize + e.resumed.position : 0;
            bar = multi.create(Math.max(1, epochs * epochSize), done, { name, epoch: 1, epochs, speed: '-', acc: '-' });
          } else if (e.type === 'progress' && bar) {
            done = (e.epoch - 1) * epochSize + e.position;
            bar.update(done, { epoch: e.epoch, speed: Math.round(e.examplesPerSecond), acc: pct(e.trainAccuracy) });
          } else if (e.type === 'epoch' && bar) {
            bar.update(e.epoch * epochSize, { epoch: e.epoch, acc: pct(e.validationAccuracy ?? e.trainAccuracy) });
          }
        },
        finish: (text) => {
          bar?.update(bar.getTotal(), { acc: text });
          bar?.stop();
        },
      };
    },
    log: (line) => multi.log(`${line}\n`),
    print: printer(multi, stdout, out, () => live),
    stop: () => {
      if (!live) return;
      live = false;
      stop();
    },
  };
}

export interface StudyProgress {
  /** The study has started (or resumed) at `finished` of `budget` trials. */
  study(name: string, finished: number, budget: number): void;
  /** A trial finished: the study's count, best and ETA; the trial's bar goes. */
  trial(number: number, finished: number, budget: number, best: string, etaSeconds: number | undefined): void;
  /** Where a running trial is (its worker's pid: a worker that dies takes its bars with it). */
  trialProgress(number: number, pid: number, p: TrialProgress): void;
  workerGone(pid: number): void;
  print(line: string): void;
  log(line: string): void;
  stop(): void;
}

// {eta} is cli-progress's own (from the rate of updates): the study's comes from its trial times, as left.
const STUDY_FORMAT = '{name} |{bar}| {value}/{total} trials  best {best}  elapsed {elapsed}  ETA {left}';
const TRIAL_FORMAT = '  trial {trial} |{bar}| fold {fold}/{folds} epoch {epoch}/{epochs} {value}/{total} ex  {speed} ex/s  acc {acc}  ETA {eta_formatted}';

/** Bars of a study on a terminal `stream`; undefined elsewhere (the study prints its lines). */
export function createStudyProgress(stream: NodeJS.WriteStream, out: (line: string) => void, stdout: NodeJS.WriteStream = process.stdout): StudyProgress | undefined {
  if (!stream.isTTY) return undefined;
  const { multi, stop } = bars(stream, STUDY_FORMAT, 20);
  const started = Date.now();
  let live = true;
  let studyBar: SingleBar | undefined;
  const trials = new Map<number, { bar: SingleBar; pid: number; epochSize: number }>();
  const drop = (n: number): void => {
    const t = trials.get(n);
    if (!t) return;
    trials.delete(n);
    multi.remove(t.bar);
  };
  const elapsed = (): string => duration((Date.now() - started) / 1000);
  return {
    study: (name, finished, budget) => {
      studyBar = multi.create(budget, finished, { name: `study ${name}`, best: '-', elapsed: elapsed(), left: '-' });
    },
    trial: (number, finished, budget, best, etaSeconds) => {
      // The trial's last state is drawn before its bar goes: cli-progress redraws 10 times a
      // second, and a short trial (or a busy machine) could end between two redraws unseen.
      if (trials.has(number)) multi.update();
      drop(number);
      studyBar?.setTotal(budget);
      studyBar?.update(finished, { best, elapsed: elapsed(), left: etaSeconds === undefined ? '-' : duration(etaSeconds) });
    },
    trialProgress: (number, pid, p) => {
      let t = trials.get(number);
      // Every fold's training split has about the same size: the first fold's sets the total.
      if (!t) {
        const bar = multi.create(Math.max(1, p.folds * p.epochs * p.epochSize), 0,
          { trial: number, fold: 1, folds: p.folds, epoch: 1, epochs: p.epochs, speed: '-', acc: '-' }, { format: TRIAL_FORMAT });
        t = { bar, pid, epochSize: p.epochSize };
        trials.set(number, t);
      }
      const done = (p.fold * p.epochs + p.epoch - 1) * t.epochSize + Math.min(p.position, t.epochSize);
      t.bar.update(Math.min(done, t.bar.getTotal()), {
        fold: p.fold + 1, epoch: p.epoch, speed: p.examplesPerSecond === undefined ? '-' : Math.round(p.examplesPerSecond), acc: pct(p.accuracy),
      });
      studyBar?.update({ elapsed: elapsed() });
    },
    workerGone: (pid) => {
      for (const [n, t] of trials) if (t.pid === pid) drop(n);
    },
    print: printer(multi, stdout, out, () => live),
    log: (line) => multi.log(`${line}\n`),
    stop: () => {
      if (!live) return;
      live = false;
      for (const n of [...trials.keys()]) drop(n);
      stop();
    },
  };
}
