// `data fetch`: downloads the official files over HTTPS, trying the mirrors in order, resuming
// with HTTP Range requests, and writing atomically: bytes go to "<file>.part", which is renamed to
// the final name only after its size and checksum verify. An interrupted fetch therefore never
// leaves a file under the final name; a later fetch resumes from the ".part".
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';

import { CIFAR_RECORD } from './cifar';
import { DatasetError } from './errors';
import { CIFAR_MANIFEST, type CifarManifest, cifarMembers, getSpec, idxFileSpecs, locateDataset } from './load';
import { type DataOptions, resolveDataDir } from './paths';
import type { CifarSpec, DatasetSpec, FileSpec, IdxSpec } from './registry';
import { TarParser, isSafeMemberPath } from './tar';
import { type VerifyResult, hashFile, verifyFile } from './verify';
import { verifyDataset } from './status';

export interface DownloadProgress {
  file: string;
  url: string;
  /** Bytes in the .part file so far (including bytes resumed from an earlier attempt). */
  received: number;
  /** Total size when the server said it. */
  total?: number;
  /** Bytes already there when this request started. */
  resumedFrom: number;
  done: boolean;
}

export interface FetchOptions extends DataOptions {
  /** Base URL(s), comma-separated, replacing the official mirrors (also DENDRITE_DATA_MIRROR). */
  mirror?: string;
  /** Download even when a verified copy exists elsewhere (e.g. the Debian package). */
  force?: boolean;
  /** Resumptions per mirror after a dropped connection or stall (default 3). */
  retries?: number;
  /** Abort a request after this long without data, in ms (default 30000). */
  timeoutMs?: number;
  /** Permit plain http:// to non-loopback hosts (default false: HTTPS only). */
  allowHttp?: boolean;
  onProgress?: (p: DownloadProgress) => void;
  /** Status lines (mirror tried, resumed, rejected). */
  log?: (line: string) => void;
  /** Use this spec instead of the registry's (tests inject checksums of their files). */
  spec?: DatasetSpec;
}

export interface FetchedFile {
  file: string;
  status: 'present' | 'downloaded' | 'extracted';
  how: string;
}

export interface FetchResult {
  name: string;
  dir: string;
  files: FetchedFile[];
  /** Set when nothing was done because a verified copy is already available. */
  alreadyAt?: string;
}

/** The URLs to try for one file, in order. */
export function mirrorUrls(spec: DatasetSpec, file: string, opts: FetchOptions = {}): string[] {
  const override = opts.mirror ?? (opts.env ?? process.env).DENDRITE_DATA_MIRROR;
  if (override) {
    return override
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0)
      .map((b) => (b.includes('{file}') ? b.replace(/\{name\}/g, spec.name).replace(/\{file\}/g, file) : `${b.replace(/\/+$/, '')}/${spec.name}/${file}`));
  }
  if (spec.kind === 'embedded') return [];
  return spec.mirrors.map((m) => m + file);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function urlAllowed(url: URL, opts: FetchOptions): string | undefined {
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && (LOOPBACK.has(url.hostname) || opts.allowHttp)) return undefined;
  if (url.protocol === 'http:') return 'plain http refused (HTTPS only; http:// is allowed for loopback test servers)';
  return `unsupported protocol ${url.protocol}`;
}

/** A failure worth retrying on the same mirror (dropped connection, stall). */
class TransientError extends Error {}

interface TransferOutcome {
  resumed: boolean;
}

function knownSizes(f: FileSpec): number[] {
  return [f.download.size, ...(f.alternates ?? []).map((a) => a.size)];
}

function partSize(part: string): number {
  try {
    return fs.statSync(part).size;
  } catch {
    return 0;
  }
}

/** One transfer attempt into `part`, resuming from its current length. Follows redirects. */
async function transfer(startUrl: string, part: string, fspec: FileSpec, opts: FetchOptions): Promise<TransferOutcome> {
  const sizes = knownSizes(fspec);
  const timeoutMs = opts.timeoutMs ?? 30000;
  let start = partSize(part);
  if (start > Math.max(...sizes)) {
    fs.rmSync(part, { force: true });
    start = 0;
  }
  let url = new URL(startUrl);
  for (let redirects = 0; ; redirects++) {
    const refused = urlAllowed(url, opts);
    if (refused) throw new Error(refused);
    const headers: Record<string, string> = { 'user-agent': 'dendrite-bench', 'accept-encoding': 'identity' };
    if (start > 0) headers.range = `bytes=${start}-`;
    const lib = url.protocol === 'https:' ? https : http;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = lib.get(url, { headers, agent: false }, resolve);
      req.setTimeout(timeoutMs, () => req.destroy(new TransientError(`no response for ${timeoutMs / 1000} s`)));
      req.on('error', (e) => reject(e instanceof TransientError || isTransientNetError(e) ? new TransientError(e.message) : e));
    });
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      if (redirects >= 5) throw new Error('too many redirects');
      url = new URL(res.headers.location, url);
      opts.log?.(`  redirected to ${url.href}`);
      continue;
    }
    if (status === 416 && start > 0) {
      res.resume();
      const total = contentRangeTotal(res.headers['content-range']);
      if (total === start) return { resumed: true }; // the .part was already complete
      fs.rmSync(part, { force: true });
      start = 0;
      continue;
    }
    let total: number | undefined;
    let append = false;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== start) {
        res.resume();
        fs.rmSync(part, { force: true });
        start = 0;
        continue;
      }
      append = true;
      total = m[3] === '*' ? undefined : Number(m[3]);
    } else if (status === 200) {
      const len = res.headers['content-length'];
      total = len !== undefined ? Number(len) : undefined;
      start = 0;
    } else {
      res.resume();
      throw new Error(`HTTP ${status}${res.statusMessage ? ' ' + res.statusMessage : ''}`);
    }
    if (total !== undefined && !sizes.includes(total)) {
      res.resume();
      throw new Error(`server offers ${total} bytes, expected ${sizes.join(' or ')}`);
    }
    if (append) opts.log?.(`  resuming at byte ${start}`);
    await receive(res, part, append, start, total, url.href, timeoutMs, opts);
    return { resumed: append };
  }
}

function contentRangeTotal(h: string | string[] | undefined): number | undefined {
  const m = /\/(\d+)$/.exec(String(h ?? ''));
  return m ? Number(m[1]) : undefined;
}

function isTransientNetError(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ECONNABORTED' || e.message === 'aborted';
}

async function receive(
  res: http.IncomingMessage,
  part: string,
  append: boolean,
  start: number,
  total: number | undefined,
  url: string,
  timeoutMs: number,
  opts: FetchOptions,
): Promise<void> {
  let received = start;
  const file = path.basename(part, '.part');
  const report = (done: boolean): void => opts.onProgress?.({ file, url, received, total, resumedFrom: start, done });
  report(false);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      report(false);
      cb(null, chunk);
    },
  });
  // A stalled body: no bytes for timeoutMs (the socket is ours alone: agent false).
  res.socket?.setTimeout(timeoutMs, () => res.destroy(new TransientError(`no data for ${timeoutMs / 1000} s`)));
  const out = fs.createWriteStream(part, { flags: append ? 'a' : 'w' });
  try {
    await pipeline(res, counter, out);
  } catch (err) {
    // pipeline rejects before a write in flight has landed; the resume point is the .part's
    // length, so wait until the file is closed before anyone measures it.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    const e = err as Error;
    if (e instanceof TransientError) throw e;
    throw new TransientError(`connection lost after ${received} of ${total ?? '?'} bytes (${e.message})`);
  }
  if (!res.complete || (total !== undefined && received !== total)) {
    throw new TransientError(`connection closed after ${received} of ${total ?? '?'} bytes`);
  }
  report(true);
}

/**
 * Downloads one file to `dest`, trying `urls` in order; returns how it verified. The file appears
 * under `dest` only after it verifies; throws DatasetError('download') when every URL failed.
 */
export async function downloadFile(urls: string[], dest: string, fspec: FileSpec, opts: FetchOptions = {}): Promise<VerifyResult> {
  const part = dest + '.part';
  const retries = opts.retries ?? 3;
  const errors: string[] = [];
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  for (const url of urls) {
    opts.log?.(`${fspec.name}: from ${url}`);
    let attempts = 0;
    let freshTried = false;
    for (;;) {
      try {
        const { resumed } = await transfer(url, part, fspec, opts);
        const v = await verifyFile(part, fspec);
        if (v.ok) {
          fs.renameSync(part, dest);
          return { ...v, file: dest };
        }
        fs.rmSync(part, { force: true });
        errors.push(`${url}: ${v.how}`);
        opts.log?.(`  rejected: ${v.how}`);
        if (resumed && !freshTried) {
          freshTried = true; // the resumed-from bytes may be the bad ones: one full download
          continue;
        }
        break;
      } catch (err) {
        const e = err as Error;
        if (e instanceof TransientError && attempts < retries) {
          attempts++;
          opts.log?.(`  ${e.message}; retrying (${attempts}/${retries})`);
          continue;
        }
        errors.push(`${url}: ${e.message}`);
        opts.log?.(`  failed: ${e.message}`);
        break;
      }
    }
  }
  if (urls.length === 0) errors.push('no download location is known');
  const kept = partSize(part) > 0 ? `; the partial download is kept in ${part} and the next fetch resumes it` : '';
  throw new DatasetError(dest, 'download', `download failed${kept}:\n  ${errors.join('\n  ')}`);
}

/** Downloads (and for CIFAR-10 extracts) a dataset into the data directory; skips what verifies already. */
export async function fetchDataset(name: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const spec = getSpec(name, opts);
  if (spec.kind === 'embedded') {
    const report = await verifyDataset(spec.name, { ...opts, spec });
    const dir = path.dirname(report.files[0]?.file ?? '');
    return { name: spec.name, dir, files: report.files.map((f) => ({ file: f.file, status: 'present', how: f.how })), alreadyAt: dir };
  }
  if (!opts.force) {
    // A complete verified copy anywhere we search (e.g. Debian's Fashion-MNIST) is enough.
    try {
      const located = locateDataset(spec, opts);
      const report = await verifyDataset(spec.name, { ...opts, spec });
      if (report.ok) {
        return { name: spec.name, dir: located.dir, files: report.files.map((f) => ({ file: f.file, status: 'present', how: f.how })), alreadyAt: located.dir };
      }
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
    }
  }
  const dir = path.join(resolveDataDir(opts).dir, spec.dir);
  fs.mkdirSync(dir, { recursive: true });
  if (spec.kind === 'idx') return fetchIdx(spec, dir, opts);
  return fetchCifar(spec, dir, opts);
}

async function fetchIdx(spec: IdxSpec, dir: string, opts: FetchOptions): Promise<FetchResult> {
  const files: FetchedFile[] = [];
  for (const f of idxFileSpecs(spec)) {
    const dest = path.join(dir, f.name);
    const have = await verifyFile(dest, f);
    if (have.ok) {
      files.push({ file: dest, status: 'present', how: have.how });
      continue;
    }
    if (have.how !== 'missing') opts.log?.(`${dest}: ${have.how}; downloading again`);
    const v = await downloadFile(mirrorUrls(spec, f.name, opts), dest, f, opts);
    files.push({ file: dest, status: 'downloaded', how: v.how });
  }
  return { name: spec.name, dir, files };
}

async function fetchCifar(spec: CifarSpec, dir: string, opts: FetchOptions): Promise<FetchResult> {
  const archive = path.join(dir, spec.archive.name);
  const files: FetchedFile[] = [];
  const have = await verifyFile(archive, spec.archive);
  if (have.ok) files.push({ file: archive, status: 'present', how: have.how });
  else {
    if (have.how !== 'missing') opts.log?.(`${archive}: ${have.how}; downloading again`);
    const v = await downloadFile(mirrorUrls(spec, spec.archive.name, opts), archive, spec.archive, opts);
    files.push({ file: archive, status: 'downloaded', how: v.how });
  }
  opts.log?.(`extracting ${spec.archive.name}`);
  const extracted = await extractCifar(archive, dir, spec);
  for (const f of extracted) files.push({ file: f, status: 'extracted', how: 'from the verified archive' });
  return { name: spec.name, dir, files };
}

/**
 * Extracts the CIFAR-10 members (the six .bin batches and batches.meta.txt, regular files only)
 * from a verified archive into <dir>/<archiveRoot>/, checking each length; then writes a manifest
 * of their sha256 so later loads can verify them. Members are written as ".part" and renamed only
 * when the whole archive has been read.
 */
export async function extractCifar(archive: string, dir: string, spec: CifarSpec): Promise<string[]> {
  const root = path.join(dir, spec.archiveRoot);
  fs.mkdirSync(root, { recursive: true });
  fs.rmSync(path.join(root, CIFAR_MANIFEST), { force: true });
  const wanted = new Map<string, string>();
  for (const n of [...cifarMembers(spec), spec.metaFile]) wanted.set(`${spec.archiveRoot}/${n}`, n);
  const got = new Map<string, { fd: number; open: boolean; size: number; hash: crypto.Hash }>();
  const close = (g: { fd: number; open: boolean }): void => {
    if (g.open) fs.closeSync(g.fd);
    g.open = false;
  };
  const cleanup = (): void => {
    for (const [n, g] of got) {
      close(g);
      fs.rmSync(path.join(root, n + '.part'), { force: true });
    }
  };
  const parser = new TarParser(archive, (h) => {
    if (!isSafeMemberPath(h.name)) throw new DatasetError(archive, 'archive', `unsafe member path "${h.name}" (absolute or outside the archive's directory)`);
    const n = wanted.get(h.name.replace(/\/+$/, ''));
    if (!n) return null; // readme.html and anything else: not extracted
    if (h.type !== 'file') throw new DatasetError(archive, 'archive', `member ${h.name} is a ${h.type}, expected a regular file`);
    if (got.has(n)) throw new DatasetError(archive, 'archive', `member ${h.name} appears twice`);
    const entry = { fd: fs.openSync(path.join(root, n + '.part'), 'w'), open: true, size: 0, hash: crypto.createHash('sha256') };
    got.set(n, entry);
    return (chunk) => {
      fs.writeSync(entry.fd, chunk);
      entry.size += chunk.length;
      entry.hash.update(chunk);
    };
  });
  try {
    const gunzip = zlib.createGunzip();
    try {
      await pipeline(fs.createReadStream(archive), gunzip, parser);
    } catch (err) {
      if (err instanceof DatasetError) throw err;
      throw new DatasetError(archive, 'gzip', `corrupt or truncated gzip stream (${(err as Error).message})`);
    }
    const members: CifarManifest['members'] = {};
    for (const [full, n] of wanted) {
      const g = got.get(n);
      if (!g) throw new DatasetError(archive, 'archive', `member ${full} is missing from the archive`);
      close(g);
      const expected = n === spec.metaFile ? undefined : spec.recordsPerFile * CIFAR_RECORD;
      if (expected !== undefined && g.size !== expected) {
        throw new DatasetError(archive, 'count', `member ${full} holds ${g.size} bytes, expected ${expected} (${spec.recordsPerFile} records of ${CIFAR_RECORD})`);
      }
      members[n] = { size: g.size, sha256: g.hash.digest('hex') };
    }
    const out: string[] = [];
    for (const n of wanted.values()) {
      const final = path.join(root, n);
      fs.renameSync(final + '.part', final);
      out.push(final);
    }
    got.clear();
    const archiveSha = (await hashFile(archive, ['sha256'])).sha256!;
    const manifest: CifarManifest = { archive: { name: spec.archive.name, sha256: archiveSha }, members };
    const mf = path.join(root, CIFAR_MANIFEST);
    fs.writeFileSync(mf + '.part', JSON.stringify(manifest, null, 2) + '\n');
    fs.renameSync(mf + '.part', mf);
    return out;
  } finally {
    cleanup();
  }
}
