// A process running optimize() on a SQLite study (test/optimize-study.test.ts): Branin, minimised.
// In trial `hangAt` it prints "hanging <number>" and waits to be killed, so the test can kill it
// mid-trial at a known point.
import { branin } from '../../src/bo/benchmarks';
import { optimize } from '../../src/study/optimize';

const { storage, study, trials, hangAt } = JSON.parse(process.env.OPTIMIZE_CHILD ?? '{}') as { storage: string; study: string; trials: number; hangAt: number };

optimize({
  storage, study, trials, space: branin.space, direction: 'minimize', seed: 3, initialPoints: 4,
  objective: async (p, { number }) => {
    if (number === hangAt) {
      process.stdout.write(`hanging ${number}\n`);
      setInterval(() => undefined, 1000);
      await new Promise(() => undefined);
    }
    return branin.f(p);
  },
}).then(() => process.stdout.write('done\n'), (err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
