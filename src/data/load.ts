// Loading a dataset's official split into memory, every file checked (format, counts, labels,
// checksums) before anything is returned or cached.
import fs from 'node:fs';
import path from 'node:path';

import { SLICE_BYTES, hashInSlices, tick } from '../slices';
import { CIFAR_RECORD, CIFAR_PIXELS, copyCifarRecords, countCifarRecords, parseCifarMeta } from './cifar';
import { DatasetError } from './errors';
import { gunzipIfNeeded, parseIdxImages, parseIdxLabels, readFileChecked } from './idx';
import { type CifarSpec, type DatasetSpec, type EmbeddedSpec, type FileSpec, type IdxSpec, datasetNames, findSpec } from './registry';
import { type DataOptions, fileExists, packageRoot, resolveDataDir, searchDirs } from './paths';
import { type Dataset, type ImageSet, makeImageSet, subsetInSlices } from './types';
import { assertVerified, largestForm } from './verify';

export interface LoadOptions extends DataOptions {
  /** Check every file against the known checksums (default true). */
  verify?: boolean;
  /** Keep the loaded dataset in memory for later calls with the same files (default true). */
  cache?: boolean;
  /** Use this spec instead of the registry's (tests inject small files' checksums this way). */
  spec?: DatasetSpec;
}

/** Name of the manifest written next to extracted CIFAR-10 members (sizes and sha256 of each). */
export const CIFAR_MANIFEST = '.dendrite-manifest.json';

export interface CifarManifest {
  archive: { name: string; sha256: string };
  members: Record<string, { size: number; sha256: string }>;
}

export function getSpec(name: string, opts: { spec?: DatasetSpec } = {}): DatasetSpec {
  if (opts.spec) return opts.spec;
  const spec = findSpec(name);
  if (!spec) throw new DatasetError('', 'usage', `unknown dataset "${name}"; known: ${datasetNames().join(', ')}`);
  return spec;
}

/** One line telling the user how to obtain a dataset. */
export function howToGet(spec: DatasetSpec, opts: DataOptions = {}): string {
  if (spec.kind === 'embedded') return 'it ships with dendrite-bench; reinstall the package';
  const where = path.join(resolveDataDir(opts).dir, spec.dir);
  let s = `get it with "dendrite-bench data fetch ${spec.name}" (downloads into ${where}; choose the folder with --data-dir or DENDRITE_DATA_DIR)`;
  if (spec.name === 'fashion-mnist') s += ', or install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)';
  return s;
}

const cache = new Map<string, Dataset>();
/** Loads under way, by cache key: jobs starting together on one dataset share one load. */
const loading = new Map<string, Promise<Dataset>>();

/** Forgets every dataset kept in memory. */
export function clearDatasetCache(): void {
  cache.clear();
  loading.clear();
}

function cacheKey(name: string, files: string[], verify: boolean): string {
  const stamps = files.map((f) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch {
      throw new DatasetError(f, 'missing', 'file disappeared while loading');
    }
    return `${f}:${st.size}:${st.mtimeMs}:${st.ino}`;
  });
  return JSON.stringify([name, verify, stamps]);
}

/** Loads the official train/test split of a dataset ("mnist-10k", "mnist", "fashion-mnist", "cifar10"). */
export async function loadDataset(name: string, opts: LoadOptions = {}): Promise<Dataset> {
  const spec = getSpec(name, opts);
  const verify = opts.verify ?? true;
  const files = locateDataset(spec, opts);
  const key = cacheKey(spec.name, files.all, verify);
  const useCache = opts.cache ?? true;
  const load = (): Promise<Dataset> =>
    spec.kind === 'cifar' ? loadCifar(spec, files.dir, verify) : spec.kind === 'embedded' ? loadEmbedded(spec, files.dir, verify) : loadIdx(spec, files.all, verify);
  if (!useCache) return load();
  const hit = cache.get(key) ?? loading.get(key);
  if (hit) return hit;
  const pending = load();
  loading.set(key, pending);
  try {
    const ds = await pending;
    // Only reached when every check passed; not kept when the cache was cleared meanwhile.
    if (loading.get(key) === pending) cache.set(key, ds);
    return ds;
  } finally {
    if (loading.get(key) === pending) loading.delete(key);
  }
}

export interface LocatedFiles {
  dir: string;
  /** Every file the loader will read, in a fixed order. */
  all: string[];
}

/** The uncompressed variant of an official ".gz" name. */
export function plainName(name: string): string {
  return name.endsWith('.gz') ? name.slice(0, -3) : name;
}

/** The path of a file in dir: the official name, else its uncompressed name; undefined if neither. */
export function findFileIn(dir: string, name: string): string | undefined {
  for (const n of [name, plainName(name)]) {
    const p = path.join(dir, n);
    if (fileExists(p)) return p;
  }
  return undefined;
}

export function idxFileSpecs(spec: IdxSpec): FileSpec[] {
  return [spec.files.trainImages, spec.files.trainLabels, spec.files.testImages, spec.files.testLabels];
}

export function cifarMembers(spec: CifarSpec): string[] {
  return [...spec.trainFiles, spec.testFile];
}

export function embeddedDir(): string {
  return path.join(packageRoot(), 'data');
}

/** Finds the folder holding all of a dataset's files; a DatasetError('missing') otherwise. */
export function locateDataset(spec: DatasetSpec, opts: DataOptions = {}): LocatedFiles {
  if (spec.kind === 'embedded') {
    const dir = embeddedDir();
    const all = [spec.images, spec.labels].map((f) => path.join(dir, f.name));
    for (const f of all) if (!fileExists(f)) throw new DatasetError(f, 'missing', `file not found; ${howToGet(spec, opts)}`);
    return { dir, all };
  }
  const dirs = searchDirs(spec, opts);
  let best: { dir: string; missing: string; found: number } | undefined;
  for (const base of dirs) {
    const dir = spec.kind === 'cifar' ? path.join(base, spec.archiveRoot) : base;
    const names = spec.kind === 'cifar' ? cifarMembers(spec) : idxFileSpecs(spec).map((f) => f.name);
    const found: string[] = [];
    let missing: string | undefined;
    for (const n of names) {
      const p = spec.kind === 'cifar' ? (fileExists(path.join(dir, n)) ? path.join(dir, n) : undefined) : findFileIn(dir, n);
      if (p) found.push(p);
      else missing ??= path.join(dir, n);
    }
    if (!missing) {
      if (spec.kind === 'cifar') {
        const meta = path.join(dir, spec.metaFile);
        if (fileExists(meta)) found.push(meta);
      }
      return { dir, all: found };
    }
    if (!best || found.length > best.found) best = { dir, missing, found: found.length };
  }
  const looked = dirs.length > 1 ? ` (looked in ${dirs.join(', ')})` : '';
  throw new DatasetError(best!.missing, 'missing', `file not found${looked}; ${howToGet(spec, opts)}`);
}

interface ReadIdx {
  file: string;
  stored: Buffer;
  raw: Buffer;
}

/** Reads and decompresses one IDX file, never more than its spec allows (see gunzipIfNeeded). */
async function readIdx(file: string, hint: string, fspec: FileSpec): Promise<ReadIdx> {
  const stored = await readFileChecked(file, hint, largestForm(fspec));
  const raw = await gunzipIfNeeded(stored, file, fspec.raw?.size);
  return { file, stored, raw };
}

async function idxPair(
  spec: DatasetSpec,
  images: ReadIdx,
  labels: ReadIdx,
  imgSpec: FileSpec,
  lblSpec: FileSpec,
  expected: number | undefined,
  verify: boolean,
  hint: string,
): Promise<ImageSet> {
  const [c, h, w] = spec.shape;
  const img = parseIdxImages(images.raw, images.file, { height: h, width: w });
  const lbl = parseIdxLabels(labels.raw, labels.file, spec.classNames.length);
  if (img.count !== lbl.length) {
    throw new DatasetError(images.file, 'count', `image count ${img.count} in header, labels file ${path.basename(labels.file)} has ${lbl.length}`);
  }
  if (expected !== undefined && img.count !== expected) {
    throw new DatasetError(images.file, 'count', `${img.count} images, expected ${expected}`);
  }
  if (verify) {
    await assertVerified(images.file, images.stored, images.raw, imgSpec, hint);
    await assertVerified(labels.file, labels.stored, labels.raw, lblSpec, hint);
  }
  // Views into the files' buffers (a few header bytes kept with them): a copy of MNIST's 47 MB held
  // the event loop for over 100 ms here, most of it faulting in fresh pages.
  return makeImageSet(img.images, lbl, [c, h, w], spec.classNames);
}

function verifyHint(spec: DatasetSpec): string {
  return spec.kind === 'embedded'
    ? 'the file shipped with dendrite-bench is damaged; reinstall the package'
    : `delete it and run "dendrite-bench data fetch ${spec.name}"`;
}

async function loadIdx(spec: IdxSpec, files: string[], verify: boolean): Promise<Dataset> {
  const hint = howToGet(spec);
  const fs4 = idxFileSpecs(spec);
  const [ti, tl, si, sl] = await Promise.all(files.map((f, i) => readIdx(f, hint, fs4[i])));
  const vh = verifyHint(spec);
  const train = await idxPair(spec, ti, tl, fs4[0], fs4[1], spec.counts.train, verify, vh);
  const test = await idxPair(spec, si, sl, fs4[2], fs4[3], spec.counts.test, verify, vh);
  return { name: spec.name, train, test, classNames: spec.classNames, shape: spec.shape, files };
}

/** The mnist-10k split rule: image i is a test image when i % testEvery === testRemainder. */
export function embeddedSplitIndices(spec: EmbeddedSpec, count: number): { train: Uint32Array; test: Uint32Array } {
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < count; i++) (i % spec.testEvery === spec.testRemainder ? test : train).push(i);
  return { train: Uint32Array.from(train), test: Uint32Array.from(test) };
}

async function loadEmbedded(spec: EmbeddedSpec, dir: string, verify: boolean): Promise<Dataset> {
  const hint = howToGet(spec);
  const images = await readIdx(path.join(dir, spec.images.name), hint, spec.images);
  const labels = await readIdx(path.join(dir, spec.labels.name), hint, spec.labels);
  const all = await idxPair(spec, images, labels, spec.images, spec.labels, spec.counts.train + spec.counts.test, verify, verifyHint(spec));
  const split = embeddedSplitIndices(spec, all.count);
  return {
    name: spec.name,
    train: await subsetInSlices(all, split.train),
    test: await subsetInSlices(all, split.test),
    classNames: spec.classNames,
    shape: spec.shape,
    files: [images.file, labels.file],
  };
}

/** Reads the manifest written by `data fetch cifar10`; undefined when absent. */
export function readCifarManifest(dir: string): CifarManifest | undefined {
  const p = path.join(dir, CIFAR_MANIFEST);
  if (!fileExists(p)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8')) as CifarManifest;
  } catch {
    throw new DatasetError(p, 'checksum', 'unreadable manifest; delete it and run "dendrite-bench data fetch cifar10"');
  }
}

async function loadCifar(spec: CifarSpec, dir: string, verify: boolean): Promise<Dataset> {
  const hint = howToGet(spec);
  const manifest = verify ? readCifarManifest(dir) : undefined;
  const classes = spec.classNames.length;
  const read = async (names: readonly string[]): Promise<{ bufs: Buffer[]; files: string[] }> => {
    const files = names.map((n) => path.join(dir, n));
    const bufs = await Promise.all(files.map((f) => readFileChecked(f, hint, spec.recordsPerFile * CIFAR_RECORD)));
    for (const [i, b] of bufs.entries()) {
      countCifarRecords(b, files[i], spec.recordsPerFile);
      const m = manifest?.members[names[i]];
      if (manifest) {
        const got = (await hashInSlices([b], ['sha256'])).sha256;
        if (!m || m.size !== b.length || m.sha256 !== got) {
          throw new DatasetError(
            files[i],
            'checksum',
            `checksum mismatch: ${b.length} bytes with sha256 ${got}, the manifest written at extraction says ${m ? `${m.size} bytes with sha256 ${m.sha256}` : 'nothing about this file'}; delete the folder and run "dendrite-bench data fetch cifar10"`,
          );
        }
      }
    }
    return { bufs, files };
  };
  const build = async (parts: { bufs: Buffer[]; files: string[] }): Promise<ImageSet> => {
    const n = parts.bufs.reduce((a, b) => a + b.length / CIFAR_RECORD, 0);
    const images = new Uint8Array(n * CIFAR_PIXELS);
    const labels = new Uint8Array(n);
    let at = 0;
    const perSlice = Math.ceil(SLICE_BYTES / CIFAR_RECORD);
    for (const [i, b] of parts.bufs.entries()) {
      const records = b.length / CIFAR_RECORD;
      for (let r = 0; r < records; r += perSlice) {
        copyCifarRecords(b, parts.files[i], images, labels, at, classes, r, Math.min(records, r + perSlice));
        await tick();
      }
      at += records;
    }
    return makeImageSet(images, labels, spec.shape, spec.classNames);
  };
  const trainParts = await read(spec.trainFiles);
  const train = await build(trainParts);
  const testParts = await read([spec.testFile]);
  const test = await build(testParts);
  let classNames: readonly string[] = spec.classNames;
  const metaFile = path.join(dir, spec.metaFile);
  if (fileExists(metaFile)) classNames = parseCifarMeta(fs.readFileSync(metaFile, 'utf8'), metaFile, classes);
  const files = [...trainParts.files, ...testParts.files];
  const withNames = (s: ImageSet): ImageSet => ({ ...s, classNames });
  return { name: spec.name, train: withNames(train), test: withNames(test), classNames, shape: spec.shape, files };
}
