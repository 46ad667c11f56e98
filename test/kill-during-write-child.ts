// Child of kill-during-write.test.ts: runs one of the package's writers over and over (or once,
// with "once"), printing "ready" after its first complete write, until the parent SIGKILLs it.
// Usage: node kill-during-write-child.js <writer> <target> <json args> [once]
import fs from 'node:fs';
import path from 'node:path';

import { writeSampleGrid } from '../src/cli/data';
import { fetchDataset } from '../src/data/fetch';
import { SegregatedNetwork } from '../src/models/segregated';
import { writeReport } from '../src/report/html';
import { readResults, writeResults } from '../src/report/results';
import { exportJson } from '../src/study/export';
import { MemoryStorage } from '../src/study/memory';
import type { StudyConfig } from '../src/study/types';
import { saveCheckpoint, writeFileAtomic } from '../src/train/checkpoint';
import { smallIdx, smallIdxSpec } from './data-fixtures';

const [writer, target, argsJson, once] = process.argv.slice(2);
const args = JSON.parse(argsJson) as Record<string, unknown>;

async function setup(): Promise<(i: number) => Promise<void>> {
  switch (writer) {
    case 'checkpoint': {
      // The training loop's and save()'s writer; every value of a version is its number.
      const w = new Float32Array(1 << 20);
      return async (i) => saveCheckpoint(target, { meta: { version: i }, arrays: { w: w.fill(i) } });
    }
    case 'segregated-save': {
      const net = new SegregatedNetwork({ layers: [500, 10], seed: 1, threads: 1 });
      return async () => net.save(target);
    }
    case 'results': {
      const results = readResults(args.source as string);
      return async (i) => { await writeResults(target, { ...results, createdAt: new Date(1e12 + i).toISOString() }); };
    }
    case 'report':
      return async () => { await writeReport(target, { samples: false }); };
    case 'study-export': {
      // `study export --out`'s writer: the export text, written with writeFileAtomic.
      const storage = new MemoryStorage();
      const study = await storage.createStudy('s', args.config as StudyConfig);
      const trials = await storage.importTrials('s', Array.from({ length: 3000 }, (_, k) => ({
        state: 'complete' as const, params: { lr: 0.001 + k * 1e-6, batchSize: 16 + (k % 200) }, value: k / 3000,
      })));
      return async () => writeFileAtomic(target, exportJson(study, trials));
    }
    case 'sample-grid':
      return async (i) => { await writeSampleGrid('mnist-10k', target, { split: 'train', perClass: 10, seed: i, scale: 3 }); };
    case 'download': {
      // A fresh download every time: the finished files go, a .part is resumed.
      const spec = smallIdxSpec(smallIdx(3000, 1000, 5));
      const dir = path.join(target, 'mnist');
      return async () => {
        for (const f of Object.values(spec.files)) fs.rmSync(path.join(dir, f.name), { force: true });
        await fetchDataset('mnist', { dataDir: target, spec, mirror: args.mirror as string, systemDirs: false, env: {}, timeoutMs: 5000, retries: 2, retryDelayMs: 10 });
      };
    }
    default:
      throw new Error(`unknown writer ${writer}`);
  }
}

async function main(): Promise<void> {
  const write = await setup();
  for (let i = 1; ; i++) {
    await write(i);
    if (once) return;
    if (i === 1) process.stdout.write('ready\n');
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
