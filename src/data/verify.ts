// Checking files against the known sizes and checksums. Rule (docs/datasets.md, `data verify`): accept a
// file when its own bytes match a known download or alternate, or when its decompressed length
// and checksum match the known raw content.
import crypto from 'node:crypto';
import fs from 'node:fs';

import { hashInSlices } from '../slices';
import { DatasetError } from './errors';
import { gunzipIfNeeded, readFileChecked } from './idx';
import type { Checksums, FileSpec } from './registry';

export type HashAlgo = 'md5' | 'sha256';

export interface VerifyResult {
  file: string;
  ok: boolean;
  /** How it was accepted ("download sha256", "Debian dataset-fashion-mnist md5", "decompressed sha256") or why not. */
  how: string;
  size: number;
}

function algosOf(c: Checksums): HashAlgo[] {
  const a: HashAlgo[] = [];
  if (c.md5) a.push('md5');
  if (c.sha256) a.push('sha256');
  return a;
}

/** The algorithm named in messages: the strongest one known. */
function mainAlgo(c: Checksums): HashAlgo | undefined {
  return c.sha256 ? 'sha256' : c.md5 ? 'md5' : undefined;
}

export async function hashFile(file: string, algos: readonly HashAlgo[]): Promise<Partial<Record<HashAlgo, string>>> {
  const hashes = algos.map((a) => crypto.createHash(a));
  await new Promise<void>((resolve, reject) => {
    const s = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    s.on('data', (chunk) => {
      for (const h of hashes) h.update(chunk);
    });
    s.on('error', reject);
    s.on('end', () => resolve());
  });
  const out: Partial<Record<HashAlgo, string>> = {};
  algos.forEach((a, i) => (out[a] = hashes[i].digest('hex')));
  return out;
}

/** True when size matches and every checksum c states matches (and c states at least one). */
export function matches(size: number, hashes: Partial<Record<HashAlgo, string>>, c: Checksums): boolean {
  const algos = algosOf(c);
  if (size !== c.size || algos.length === 0) return false;
  return algos.every((a) => hashes[a] !== undefined && hashes[a] === c[a]);
}

/** The compressed forms a file may have: the download and the alternates, with a label each. */
function storedForms(spec: FileSpec): Array<{ c: Checksums; label: string }> {
  return [{ c: spec.download, label: 'download' }, ...(spec.alternates ?? []).map((a) => ({ c: a as Checksums, label: a.note }))];
}

/** The most bytes a file of this spec holds in any accepted form (compressed or not): a bound on what is read. */
export function largestForm(spec: FileSpec): number {
  return Math.max(...storedForms(spec).map((f) => f.c.size), spec.raw?.size ?? 0);
}

function describeExpected(spec: FileSpec): string {
  const parts = storedForms(spec)
    .filter((f) => mainAlgo(f.c))
    .map((f) => `${f.c.size} bytes with ${mainAlgo(f.c)} ${f.c[mainAlgo(f.c)!]}`);
  if (spec.raw && mainAlgo(spec.raw)) {
    parts.push(`decompressed ${spec.raw.size} bytes with ${mainAlgo(spec.raw)} ${spec.raw[mainAlgo(spec.raw)!]}`);
  }
  return parts.join(', or ');
}

/**
 * Verifies content already in memory: `stored` is the file's bytes, `raw` its decompressed bytes
 * (the same buffer when the file is not compressed). Hashed in slices, the event loop free between.
 */
export async function verifyBuffers(file: string, stored: Uint8Array, raw: Uint8Array, spec: FileSpec): Promise<VerifyResult> {
  for (const f of storedForms(spec)) {
    if (stored.length === f.c.size && algosOf(f.c).length > 0) {
      if (matches(stored.length, await hashInSlices([stored], algosOf(f.c)), f.c)) {
        return { file, ok: true, how: `${f.label} ${mainAlgo(f.c)}`, size: stored.length };
      }
    }
  }
  if (spec.raw && raw.length === spec.raw.size && matches(raw.length, await hashInSlices([raw], algosOf(spec.raw)), spec.raw)) {
    return { file, ok: true, how: `decompressed ${mainAlgo(spec.raw)}`, size: stored.length };
  }
  return { file, ok: false, how: await mismatchText(stored, raw, spec), size: stored.length };
}

async function mismatchText(stored: Uint8Array, raw: Uint8Array, spec: FileSpec): Promise<string> {
  const rawNote = raw !== stored ? `, decompressed ${raw.length} bytes` : '';
  const algo = mainAlgo(spec.raw ?? spec.download) ?? 'sha256';
  const got = (await hashInSlices([raw !== stored && spec.raw ? raw : stored], [algo]))[algo];
  const gotWhat = raw !== stored && spec.raw ? 'decompressed' : 'file';
  return `checksum mismatch: file has ${stored.length} bytes${rawNote} (${gotWhat} ${algo} ${got}); expected ${describeExpected(spec)}`;
}

/** Throws a DatasetError('checksum') unless the content verifies. */
export async function assertVerified(file: string, stored: Uint8Array, raw: Uint8Array, spec: FileSpec, hint: string): Promise<VerifyResult> {
  const r = await verifyBuffers(file, stored, raw, spec);
  if (!r.ok) throw new DatasetError(file, 'checksum', `${r.how}; ${hint}`);
  return r;
}

/**
 * Verifies a file on disk. Streams the hash when the size is that of a known compressed form;
 * reads and decompresses the file only to apply the raw rule.
 */
export async function verifyFile(file: string, spec: FileSpec): Promise<VerifyResult> {
  let size: number;
  try {
    size = (await fs.promises.stat(file)).size;
  } catch {
    return { file, ok: false, how: 'missing', size: 0 };
  }
  const forms = storedForms(spec).filter((f) => f.c.size === size && algosOf(f.c).length > 0);
  if (forms.length > 0) {
    const algos = [...new Set(forms.flatMap((f) => algosOf(f.c)))];
    const hashes = await hashFile(file, algos);
    for (const f of forms) {
      if (matches(size, hashes, f.c)) return { file, ok: true, how: `${f.label} ${mainAlgo(f.c)}`, size };
    }
  }
  if (spec.raw) {
    // Read and decompressed with caps from the spec: a huge file or a gzip bomb is a mismatch.
    let stored: Buffer;
    let raw: Uint8Array;
    try {
      stored = await readFileChecked(file, 'it disappeared while being verified', largestForm(spec));
      raw = await gunzipIfNeeded(stored, file, spec.raw.size);
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      const algo = mainAlgo(spec.download) ?? 'md5';
      const got = (await hashFile(file, [algo]))[algo];
      const why = err.message.slice(file.length + 2);
      return { file, ok: false, how: `checksum mismatch: file has ${size} bytes (${algo} ${got}); ${why}; expected ${describeExpected(spec)}`, size };
    }
    return verifyBuffers(file, stored, raw, spec);
  }
  const algo = mainAlgo(spec.download) ?? 'sha256';
  const got = (await hashFile(file, [algo]))[algo];
  return { file, ok: false, how: `checksum mismatch: file has ${size} bytes (${algo} ${got}); expected ${describeExpected(spec)}`, size };
}
