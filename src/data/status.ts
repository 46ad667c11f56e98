// `data list` and `data verify`: what is available where, and whether it checks out.
import fs from 'node:fs';
import path from 'node:path';

import { DatasetError } from './errors';
import { type LoadOptions, cifarMembers, getSpec, howToGet, idxFileSpecs, locateDataset, readCifarManifest } from './load';
import { type DataOptions, datasetDir } from './paths';
import { DATASETS, type DatasetSpec, type FileSpec } from './registry';
import { type VerifyResult, hashFile, verifyFile } from './verify';

export interface DatasetReport {
  name: string;
  title: string;
  ok: boolean;
  /** Folder holding the files. */
  dir: string;
  files: VerifyResult[];
  bytes: number;
}

/** Verifies every file of a dataset where the loader would find it. Throws DatasetError('missing') when absent. */
export async function verifyDataset(name: string, opts: Pick<LoadOptions, keyof DataOptions | 'spec'> = {}): Promise<DatasetReport> {
  const spec = getSpec(name, opts);
  const located = locateDataset(spec, opts);
  const results: VerifyResult[] = [];
  if (spec.kind === 'cifar') {
    const manifest = readCifarManifest(located.dir);
    for (const n of cifarMembers(spec)) {
      const file = path.join(located.dir, n);
      const size = fs.statSync(file).size;
      const m = manifest?.members[n];
      if (!manifest) {
        results.push({ file, ok: false, how: `no checksum recorded (not extracted by "dendrite-bench data fetch cifar10", which verifies the archive and records one)`, size });
        continue;
      }
      const sha = (await hashFile(file, ['sha256'])).sha256;
      const ok = !!m && m.size === size && m.sha256 === sha;
      results.push({ file, ok, how: ok ? 'sha256 recorded at extraction from the verified archive' : `checksum mismatch: ${size} bytes with sha256 ${sha}, recorded ${m ? `${m.size} bytes with sha256 ${m.sha256}` : 'nothing'}`, size });
    }
  } else {
    const specs: FileSpec[] = spec.kind === 'idx' ? idxFileSpecs(spec) : [spec.images, spec.labels];
    for (let i = 0; i < specs.length; i++) results.push(await verifyFile(located.all[i], specs[i]));
  }
  return {
    name: spec.name,
    title: spec.title,
    ok: results.every((r) => r.ok),
    dir: located.dir,
    files: results,
    bytes: results.reduce((a, r) => a + r.size, 0),
  };
}

export interface ListEntry {
  name: string;
  title: string;
  present: boolean;
  /** Where it was found, or where `data fetch` would put it. */
  dir: string;
  bytes: number;
  /** undefined when not checked or absent. */
  verified?: boolean;
  detail: string;
}

/** Every known dataset with its location and state. `verify` false skips hashing. */
export async function listDatasets(opts: DataOptions & { verify?: boolean; specs?: readonly DatasetSpec[] } = {}): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  for (const spec of opts.specs ?? Object.values(DATASETS)) {
    try {
      const located = locateDataset(spec, opts);
      if (opts.verify === false) {
        const bytes = located.all.reduce((a, f) => a + fs.statSync(f).size, 0);
        out.push({ name: spec.name, title: spec.title, present: true, dir: located.dir, bytes, detail: 'not checked' });
        continue;
      }
      const r = await verifyDataset(spec.name, { ...opts, spec });
      const bad = r.files.filter((f) => !f.ok);
      out.push({
        name: spec.name,
        title: spec.title,
        present: true,
        dir: r.dir,
        bytes: r.bytes,
        verified: r.ok,
        detail: r.ok ? 'verified' : bad.map((f) => `${path.basename(f.file)}: ${f.how}`).join('; '),
      });
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      const dir = spec.kind === 'embedded' ? '' : datasetDir(spec, opts);
      out.push({ name: spec.name, title: spec.title, present: false, dir, bytes: 0, detail: err.code === 'missing' ? howToGet(spec, opts) : err.message });
    }
  }
  return out;
}
