// Progress of runs on stderr: a live bar per run on a terminal (cli-progress), plain lines at
// epoch ends otherwise (logs, CI, pipes).
import { MultiBar, Presets, type SingleBar } from 'cli-progress';

import type { ExperimentEvent } from '../experiment/run';

export interface RunBar {
  update(e: ExperimentEvent): void;
  finish(text: string): void;
}

export interface Progress {
  start(name: string, epochs: number): RunBar;
  /** A line above the bars. */
  log(line: string): void;
  stop(): void;
}

function pct(x: number | undefined): string {
  return x === undefined || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`;
}

export function createProgress(stream: NodeJS.WriteStream): Progress {
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
      stop: () => undefined,
    };
  }
  const multi = new MultiBar({
    stream,
    format: '{name} |{bar}| epoch {epoch}/{epochs} {value}/{total} ex  {speed} ex/s  acc {acc}  ETA {eta_formatted}',
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 50,
  }, Presets.shades_classic);
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
    stop: () => multi.stop(),
  };
}
