// A minimal streaming tar reader (POSIX ustar, old GNU headers, GNU long names and pax "path"/
// "size" records), enough for the CIFAR-10 archive. Only the member data the caller asks for is
// passed on; nothing is written by this file.
import { Writable } from 'node:stream';

import { DatasetError } from './errors';

const BLOCK = 512;
/** Bound on a long-name or pax record, which is kept in memory (real ones are a few hundred bytes). */
const MAX_META = 1024 * 1024;

export type TarType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarHeader {
  /** Member path as stored, with any leading "./" removed. */
  name: string;
  type: TarType;
  size: number;
  linkName: string;
}

/** Called for each member; return a sink for its data, or null to skip it. */
export type TarEntryHandler = (header: TarHeader) => ((chunk: Buffer) => void) | null;

function cString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? len : end).toString('utf8');
}

function octal(buf: Buffer, start: number, len: number, file: string, what: string): number {
  const field = buf.subarray(start, start + len);
  if (field[0] & 0x80) {
    // GNU base-256 for large values: big-endian, top bit of the first byte is the marker.
    let v = field[0] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + field[i];
    return v;
  }
  const s = cString(buf, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new DatasetError(file, 'archive', `malformed tar header: ${what} field "${s}" is not octal`);
  return parseInt(s, 8);
}

function typeOf(flag: number): TarType | 'longname' | 'longlink' | 'pax' | 'paxglobal' {
  switch (String.fromCharCode(flag)) {
    case '\0':
    case '0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    case 'L':
      return 'longname';
    case 'K':
      return 'longlink';
    case 'x':
      return 'pax';
    case 'g':
      return 'paxglobal';
    default:
      return 'other';
  }
}

/** Parses pax extended-header records: "<len> <key>=<value>\n". */
function parsePax(data: Buffer, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = parseInt(data.subarray(pos, sp).toString('ascii'), 10);
    if (!(len > 0) || pos + len > data.length) throw new DatasetError(file, 'archive', 'malformed pax extended header');
    const rec = data.subarray(sp + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

/** A Writable that parses a tar stream (already decompressed) and hands member data to a handler. */
export class TarParser extends Writable {
  private pending: Buffer = Buffer.alloc(0);
  private state: 'header' | 'data' | 'end' = 'header';
  private remaining = 0; // data bytes of the current member still to come
  private padding = 0; // bytes of block padding after the data
  private sink: ((chunk: Buffer) => void) | null = null;
  private meta: 'longname' | 'longlink' | 'pax' | null = null;
  private metaBuf: Buffer[] = [];
  private nextName: string | null = null;
  private nextSize: number | null = null;
  private sawHeader = false;

  constructor(
    private readonly file: string,
    private readonly handler: TarEntryHandler,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.consume(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.state === 'data' || this.pending.length > 0 || !this.sawHeader) {
      cb(new DatasetError(this.file, 'archive', 'tar archive ends in the middle of a member (truncated)'));
      return;
    }
    cb();
  }

  private consume(chunk: Buffer): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    let pos = 0;
    while (pos < buf.length) {
      if (this.state === 'end') return; // ignore whatever follows the end marker
      if (this.state === 'data') {
        if (this.remaining > 0) {
          const n = Math.min(this.remaining, buf.length - pos);
          const piece = buf.subarray(pos, pos + n);
          if (this.meta) this.metaBuf.push(Buffer.from(piece));
          else if (this.sink) this.sink(piece);
          this.remaining -= n;
          pos += n;
          if (this.remaining > 0) continue;
          this.finishMember();
        }
        const skip = Math.min(this.padding, buf.length - pos);
        this.padding -= skip;
        pos += skip;
        if (this.padding === 0) this.state = 'header';
        continue;
      }
      if (buf.length - pos < BLOCK) {
        this.pending = Buffer.from(buf.subarray(pos));
        return;
      }
      this.header(buf.subarray(pos, pos + BLOCK));
      pos += BLOCK;
    }
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.state = 'end';
      this.sawHeader = true;
      return;
    }
    this.sawHeader = true;
    const stored = octal(h, 148, 8, this.file, 'checksum');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (sum !== stored) throw new DatasetError(this.file, 'archive', `tar header checksum ${stored} does not match ${sum}: not a tar archive, or corrupt`);
    const magic = h.subarray(257, 263).toString('latin1');
    let name = cString(h, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let size = octal(h, 124, 12, this.file, 'size');
    const kind = typeOf(h[156]);
    const linkName = cString(h, 157, 100);
    if (kind === 'longname' || kind === 'longlink' || kind === 'pax' || kind === 'paxglobal') {
      if (size > MAX_META) throw new DatasetError(this.file, 'archive', `${kind} header record of ${size} bytes (at most ${MAX_META} are read)`);
      this.meta = kind === 'paxglobal' ? null : kind; // global pax records are not used
      this.metaBuf = [];
      this.sink = null;
      this.begin(size);
      return;
    }
    if (this.nextName !== null) name = this.nextName;
    if (this.nextSize !== null) size = this.nextSize;
    this.nextName = null;
    this.nextSize = null;
    name = name.replace(/^(\.\/)+/, '');
    const type = kind as TarType;
    this.meta = null;
    // Links and directories carry no data; other types (devices, sparse files) are skipped whole.
    const dataSize = type === 'file' || type === 'other' ? size : 0;
    const sink = this.handler({ name, type, size: dataSize, linkName });
    this.sink = type === 'file' ? sink : null;
    this.begin(dataSize);
  }

  private begin(size: number): void {
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = 'data';
    if (size === 0) this.finishMember();
  }

  private finishMember(): void {
    if (this.meta) {
      const data = Buffer.concat(this.metaBuf);
      if (this.meta === 'longname') this.nextName = cString(data, 0, data.length);
      else if (this.meta === 'pax') {
        const rec = parsePax(data, this.file);
        if (rec.path !== undefined) this.nextName = rec.path;
        if (rec.size !== undefined) this.nextSize = Number(rec.size);
      }
      this.meta = null;
      this.metaBuf = [];
    }
    this.sink = null;
  }
}

/** True when a member path stays inside its archive (relative, no ".." segment). */
export function isSafeMemberPath(name: string): boolean {
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\')) return false;
  return !name.split('/').some((seg) => seg === '..');
}
