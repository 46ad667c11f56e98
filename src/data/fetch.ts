// `data fetch`: downloads the official files over HTTPS, trying the mirrors in order, resuming
// with HTTP Range requests, and writing atomically: bytes go to "<file>.part", which is renamed to
// the final name only after its size and checksum verify. An interrupted fetch therefore never
// leaves a file under the final name; a later fetch resumes from the ".part". No mirror can make
// it hang or fill the disk: each file has a deadline, a response must keep a minimum rate, no
// request writes past the expected size, and retries and redirects are bounded (docs/reliability.md).
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
import { writeFileAtomic } from '../train/safetensors';

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
  /**
   * Further tries per mirror after a failure that may pass: dropped connection, stall, HTTP 5xx,
   * 408 or 429, a wrong Content-Range, more bytes than expected (default 3).
   */
  retries?: number;
  /** Pause before the first retry, in ms, doubled for each further one up to 30 s (default 1000). */
  retryDelayMs?: number;
  /**
   * The stall window, in ms: a request fails when its response has not begun within it, or when a
   * window brings fewer than minBytesPerSecond x window bytes (default 30000).
   */
  timeoutMs?: number;
  /** The slowest acceptable transfer, in bytes/s over each timeoutMs window (default 1024). */
  minBytesPerSecond?: number;
  /** Time for one file, all mirrors and retries together, in ms (default 10 min + the file's size at 16 KiB/s). */
  deadlineMs?: number;
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

/** What one mirror did wrong; `retry` when the same mirror may do better on another try. */
class MirrorError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

/** The file's deadline passed: no further tries, on any mirror. */
class DeadlineError extends Error {}

const MAX_REDIRECTS = 5;
const MAX_RETRY_DELAY_MS = 30000;

/** The limits of one file's download, shared by all its requests. */
interface Limits {
  /** The sizes the file may have (download and alternates). */
  sizes: number[];
  /** No request writes past this many bytes: the largest of `sizes`. */
  cap: number;
  windowMs: number;
  minBytesPerSecond: number;
  deadlineMs: number;
  /** Date.now() when the deadline passes. */
  deadlineAt: number;
}

function downloadLimits(fspec: FileSpec, opts: FetchOptions): Limits {
  const sizes = [fspec.download.size, ...(fspec.alternates ?? []).map((a) => a.size)];
  const cap = Math.max(...sizes);
  const windowMs = opts.timeoutMs ?? 30000;
  // Generous for slow links, yet bounded: 10 min plus the file at 16 KiB/s (CIFAR-10: about 3 h).
  const deadlineMs = opts.deadlineMs ?? 600000 + Math.ceil(cap / 16384) * 1000;
  return { sizes, cap, windowMs, minBytesPerSecond: opts.minBytesPerSecond ?? 1024, deadlineMs, deadlineAt: Date.now() + deadlineMs };
}

function deadlineError(limits: Limits, received?: number): DeadlineError {
  const got = received !== undefined ? ` (${received} of ${limits.cap} bytes received)` : '';
  return new DeadlineError(`deadline of ${limits.deadlineMs / 1000} s for this file passed${got}; no further tries`);
}

/** A delay for setTimeout, which fires at once for anything over 2^31 - 1 ms. */
function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), 2 ** 31 - 1);
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

interface TransferOutcome {
  resumed: boolean;
}

function partSize(part: string): number {
  try {
    return fs.statSync(part).size;
  } catch {
    return 0;
  }
}

/** One transfer attempt into `part`, resuming from its current length. Follows redirects. */
async function transfer(startUrl: string, part: string, limits: Limits, opts: FetchOptions): Promise<TransferOutcome> {
  if (Date.now() >= limits.deadlineAt) throw deadlineError(limits);
  let start = partSize(part);
  if (start > limits.cap) {
    fs.rmSync(part, { force: true });
    start = 0;
  }
  let url = new URL(startUrl);
  const visited = [url.href];
  try {
    for (;;) {
      const refused = urlAllowed(url, opts);
      if (refused) throw new MirrorError(refused, false);
      const res = await request(url, start, limits);
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        discard(res);
        const next = new URL(res.headers.location, url);
        if (visited.includes(next.href)) throw new MirrorError(`redirect loop: ${[...visited, next.href].join(' -> ')}`, false);
        if (visited.length > MAX_REDIRECTS) throw new MirrorError(`more than ${MAX_REDIRECTS} redirects (last to ${next.href})`, false);
        visited.push(next.href);
        url = next;
        opts.log?.(`  redirected to ${url.href}`);
        continue;
      }
      if (status === 416 && start > 0) {
        discard(res);
        const total = contentRangeTotal(res.headers['content-range']);
        if (total === start) return { resumed: true }; // the .part was already complete (verified next)
        // The .part is longer than the file: not a prefix of it. Once only: without a Range header
        // the next request cannot get a 416.
        fs.rmSync(part, { force: true });
        start = 0;
        continue;
      }
      let total: number | undefined;
      if (status === 206) {
        const range = String(res.headers['content-range'] ?? '');
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
        if (!m || Number(m[1]) !== start) {
          discard(res);
          // The .part is kept: the mirror's answer says nothing about the bytes already there.
          throw new MirrorError(`answered a request for the bytes from ${start} with 206 and Content-Range "${range}"`, true);
        }
        total = m[3] === '*' ? undefined : Number(m[3]);
      } else if (status === 200) {
        const len = res.headers['content-length'];
        total = len !== undefined ? Number(len) : undefined;
        start = 0; // the whole file: the .part is rewritten
      } else {
        discard(res);
        const passing = status >= 500 || status === 408 || status === 429;
        throw new MirrorError(`HTTP ${status}${res.statusMessage ? ' ' + res.statusMessage : ''}`, passing);
      }
      if (total !== undefined && !limits.sizes.includes(total)) {
        discard(res);
        throw new MirrorError(`server offers ${total} bytes, expected ${limits.sizes.join(' or ')}`, false);
      }
      if (start > 0) opts.log?.(`  resuming at byte ${start}`);
      await receive(res, part, start, total, url.href, limits, opts);
      return { resumed: start > 0 };
    }
  } catch (err) {
    // Say which server misbehaved when it is not the mirror itself.
    if (err instanceof MirrorError && url.href !== startUrl) err.message += ` (at ${url.href}, redirected from the mirror)`;
    throw err;
  }
}

/** Sends one GET; its response must begin within the stall window and before the deadline. */
function request(url: URL, start: number, limits: Limits): Promise<http.IncomingMessage> {
  const headers: Record<string, string> = { 'user-agent': 'dendrite-bench', 'accept-encoding': 'identity' };
  if (start > 0) headers.range = `bytes=${start}-`;
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    let reason: Error | undefined;
    const req = lib.get(url, { headers, agent: false }, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    const untilDeadline = limits.deadlineAt - Date.now();
    const byDeadline = untilDeadline <= limits.windowMs;
    // A fixed timer, not the socket's idle timeout: a server dribbling its headers cannot reset it.
    const timer = setTimeout(
      () => req.destroy((reason = byDeadline ? deadlineError(limits) : new MirrorError(`no response within ${seconds(limits.windowMs)}`, true))),
      timerDelay(Math.min(untilDeadline, limits.windowMs)),
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(reason ?? new MirrorError(e.message, isTransientNetError(e)));
    });
  });
}

/** Ends a response that will not be read. Not drained: its body may be endless (the socket is ours alone: agent false). */
function discard(res: http.IncomingMessage): void {
  res.destroy();
}

function contentRangeTotal(h: string | string[] | undefined): number | undefined {
  const m = /\/(\d+)$/.exec(String(h ?? ''));
  return m ? Number(m[1]) : undefined;
}

function isTransientNetError(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ECONNABORTED' || code === 'EAI_AGAIN' || e.message === 'aborted';
}

/** Writes a response body to `part` (appending from `start`), enforcing the size cap, the minimum rate and the deadline. */
async function receive(
  res: http.IncomingMessage,
  part: string,
  start: number,
  total: number | undefined,
  url: string,
  limits: Limits,
  opts: FetchOptions,
): Promise<void> {
  let received = start;
  let reason: Error | undefined;
  const stop = (e: Error): void => {
    reason ??= e;
    res.destroy(e);
  };
  const file = path.basename(part, '.part');
  const report = (done: boolean): void => opts.onProgress?.({ file, url, received, total, resumedFrom: start, done });
  report(false);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (received + chunk.length > limits.cap) {
        // Nothing of this chunk is written: the .part never exceeds the expected size.
        const how = total === undefined ? ' (no Content-Length)' : '';
        cb((reason ??= new MirrorError(`sent more than the expected ${limits.cap} bytes${how}`, true)));
        return;
      }
      received += chunk.length;
      report(false);
      cb(null, chunk);
    },
  });
  // Each window must bring minBytesPerSecond x window bytes, or all that is still missing: a trickle
  // cannot keep the request alive. Judged after pending I/O has run (setImmediate), so bytes that
  // arrived while the event loop was busy elsewhere count.
  const end = total ?? limits.cap;
  const minBytesPerWindow = (limits.minBytesPerSecond * limits.windowMs) / 1000;
  let windowStart = received;
  const windowTimer = setInterval(
    () =>
      setImmediate(() => {
        const got = received - windowStart;
        const missing = end - windowStart;
        if (got < Math.max(1, Math.min(minBytesPerWindow, missing))) {
          const what =
            got === 0
              ? missing > 0
                ? `no data for ${seconds(limits.windowMs)}`
                : `all ${end} bytes sent, but the response did not end within ${seconds(limits.windowMs)}`
              : `too slow: ${got} bytes in ${seconds(limits.windowMs)}, under the minimum of ${limits.minBytesPerSecond} bytes/s`;
          stop(new MirrorError(`${what} (after ${received} of ${total ?? '?'} bytes)`, true));
        }
        windowStart = received;
      }),
    limits.windowMs,
  );
  const deadline = setTimeout(() => stop(deadlineError(limits, received)), timerDelay(limits.deadlineAt - Date.now()));
  const out = fs.createWriteStream(part, { flags: start > 0 ? 'a' : 'w' });
  try {
    await pipeline(res, counter, out);
  } catch (err) {
    // pipeline rejects before a write in flight has landed; the resume point is the .part's
    // length, so wait until the file is closed before anyone measures it.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    if (reason) throw reason;
    throw new MirrorError(`connection lost after ${received} of ${total ?? '?'} bytes (${(err as Error).message})`, true);
  } finally {
    clearInterval(windowTimer);
    clearTimeout(deadline);
  }
  if (!res.complete || (total !== undefined && received !== total)) {
    throw new MirrorError(`connection closed after ${received} of ${total ?? '?'} bytes`, true);
  }
  if (total === undefined && !limits.sizes.includes(received)) {
    // Without a length the end of the body is the only sign of completeness: a short one is resumed.
    throw new MirrorError(`body ended after ${received} bytes (no Content-Length), expected ${limits.sizes.join(' or ')}`, true);
  }
  report(true);
}

/**
 * Downloads one file to `dest`, trying `urls` in order; returns how it verified. The file appears
 * under `dest` only after it verifies; throws DatasetError('download') when every URL failed or the
 * file's deadline passed, naming each mirror and what it did wrong.
 */
export async function downloadFile(urls: string[], dest: string, fspec: FileSpec, opts: FetchOptions = {}): Promise<VerifyResult> {
  const part = dest + '.part';
  const limits = downloadLimits(fspec, opts);
  const retries = opts.retries ?? 3;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const errors: string[] = [];
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  mirrors: for (const url of urls) {
    opts.log?.(`${fspec.name}: from ${url}`);
    let failures = 0;
    let freshTried = false;
    for (;;) {
      try {
        const { resumed } = await transfer(url, part, limits, opts);
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
        if (e instanceof DeadlineError) {
          errors.push(`${url}: ${e.message}`);
          opts.log?.(`  failed: ${e.message}`);
          break mirrors;
        }
        if (e instanceof MirrorError && e.retry && failures < retries) {
          failures++;
          const delay = Math.min(retryDelayMs * 2 ** (failures - 1), MAX_RETRY_DELAY_MS, Math.max(0, limits.deadlineAt - Date.now()));
          opts.log?.(`  ${e.message}; retrying in ${seconds(delay)} (${failures}/${retries})`);
          await new Promise((resolve) => setTimeout(resolve, timerDelay(delay)));
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

/** Bound on batches.meta.txt (ten class names) in an archive. */
const MAX_META_BYTES = 64 * 1024;

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
  const expectedSize = (n: string): number | undefined => (n === spec.metaFile ? undefined : spec.recordsPerFile * CIFAR_RECORD);
  const wrongSize = (full: string, size: number, expected: number): DatasetError =>
    new DatasetError(archive, 'count', `member ${full} holds ${size} bytes, expected ${expected} (${spec.recordsPerFile} records of ${CIFAR_RECORD})`);
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
    // Refused from the header, before anything is written: an oversized member cannot fill the disk.
    const expected = expectedSize(n) ?? MAX_META_BYTES;
    if (h.size > expected) {
      if (n === spec.metaFile) throw new DatasetError(archive, 'archive', `member ${h.name} holds ${h.size} bytes, more than the ${MAX_META_BYTES} a list of class names needs`);
      throw wrongSize(h.name, h.size, expected);
    }
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
      const expected = expectedSize(n);
      if (expected !== undefined && g.size !== expected) throw wrongSize(full, g.size, expected);
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
    writeFileAtomic(mf, JSON.stringify(manifest, null, 2) + '\n');
    return out;
  } finally {
    cleanup();
  }
}
