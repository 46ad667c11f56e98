// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3
// in, fd 4 out, NUL-terminated JSON): open a page, collect its console messages, exceptions and
// network requests, evaluate an expression in it and take screenshots. Used to check that a report
// renders offline and to rasterise its SVG figures to PNG. Every host name resolves to nothing
// (--host-resolver-rules), so a page that tries to reach the network shows it in `requests`
// without reaching anything.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { writeFileAtomic } from '../train/safetensors';

/** The Chromium binary: $CHROMIUM when set, else the first of the usual names on PATH; null when none. */
export function findChromium(): string | null {
  const given = process.env.CHROMIUM;
  if (given) return fs.existsSync(given) ? given : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
      const f = path.join(dir, name);
      try {
        fs.accessSync(f, fs.constants.X_OK);
        return f;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export interface PageLog {
  /** console.* calls and browser log entries: level and text. */
  console: Array<{ level: string; text: string }>;
  /** Uncaught exceptions. */
  exceptions: string[];
  /** Every URL the page requested (its own included). */
  requests: string[];
}

type Json = Record<string, unknown>;

/** One headless browser with one page. Close it when done. */
/**
 * The browser's environment: ours without the sanitizer preload (the sanitizer suite runs Node with
 * LD_PRELOAD=libasan for our addon; a Chromium started under it spins instead of rendering).
 */
function browserEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  delete env.ASAN_OPTIONS;
  delete env.UBSAN_OPTIONS;
  return env;
}

export class ChromiumPage {
  readonly log: PageLog = { console: [], exceptions: [], requests: [] };
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void; method: string }>();
  private waiters: Array<{ method: string; resolve: (p: Json) => void }> = [];
  private sessionId = '';
  private buffer = '';
  private closed = false;
  private stderr = '';

  private constructor(private readonly proc: ChildProcess, private readonly userDir: string) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, end)) as Json;
        this.buffer = this.buffer.slice(end + 1);
        this.dispatch(msg);
      }
    });
    (proc.stderr as Readable).on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    proc.on('exit', (code, signal) => {
      this.closed = true;
      const err = new Error(`chromium exited (${signal ?? code}) ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  /** Starts Chromium with an empty page attached (throws when the binary does not start). */
  static async launch(binary: string, opts: { width?: number; height?: number } = {}): Promise<ChromiumPage> {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-chromium-'));
    const proc = spawn(binary, [
      '--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe', `--user-data-dir=${userDir}`,
      '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--disable-background-networking',
      '--disable-component-update', '--disable-default-apps', '--disable-sync', '--mute-audio', '--hide-scrollbars',
      '--host-resolver-rules=MAP * ~NOTFOUND', `--window-size=${opts.width ?? 1200},${opts.height ?? 900}`, 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env: browserEnv() });
    const page = new ChromiumPage(proc, userDir);
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', reject);
    });
    const { targetId } = await page.send('Target.createTarget', { url: 'about:blank' }, false);
    const { sessionId } = await page.send('Target.attachToTarget', { targetId, flatten: true }, false);
    page.sessionId = sessionId as string;
    for (const domain of ['Page', 'Runtime', 'Log', 'Network']) await page.send(`${domain}.enable`);
    return page;
  }

  private dispatch(msg: Json): void {
    if (typeof msg.id === 'number') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${JSON.stringify(msg.error)}`));
      else p.resolve((msg.result ?? {}) as Json);
      return;
    }
    const method = msg.method as string;
    const params = (msg.params ?? {}) as Json;
    if (method === 'Runtime.consoleAPICalled') {
      const args = (params.args as Array<{ value?: unknown; description?: string }>) ?? [];
      this.log.console.push({ level: String(params.type), text: args.map((a) => (a.value !== undefined ? String(a.value) : a.description ?? '')).join(' ') });
    } else if (method === 'Log.entryAdded') {
      const e = params.entry as { level: string; text: string; url?: string };
      this.log.console.push({ level: e.level, text: e.url ? `${e.text} (${e.url})` : e.text });
    } else if (method === 'Runtime.exceptionThrown') {
      const d = params.exceptionDetails as { text: string; exception?: { description?: string } };
      this.log.exceptions.push(d.exception?.description ?? d.text);
    } else if (method === 'Network.requestWillBeSent') {
      this.log.requests.push((params.request as { url: string }).url);
    }
    this.waiters = this.waiters.filter((w) => {
      if (w.method !== method) return true;
      w.resolve(params);
      return false;
    });
  }

  /** Sends a DevTools command (to the page's session unless `session` is false). */
  send(method: string, params: Json = {}, session = true): Promise<Json> {
    if (this.closed) return Promise.reject(new Error(`chromium is closed (${method})`));
    const id = this.nextId++;
    const msg = { id, method, params, ...(session ? { sessionId: this.sessionId } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      (this.proc.stdio[3] as Writable).write(`${JSON.stringify(msg)}\0`);
    });
  }

  private event(method: string, timeoutMs: number): Promise<Json> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chromium: no ${method} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ method, resolve: (p) => { clearTimeout(timer); resolve(p); } });
    });
  }

  /** Opens a URL and waits for its load event. */
  async goto(url: string, timeoutMs = 20000): Promise<void> {
    const loaded = this.event('Page.loadEventFired', timeoutMs);
    const r = await this.send('Page.navigate', { url });
    if (r.errorText) throw new Error(`chromium: cannot open ${url}: ${String(r.errorText)}`);
    await loaded;
  }

  /** The value of a JavaScript expression in the page (JSON-serialisable results only). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`chromium: evaluating failed: ${JSON.stringify(r.exceptionDetails)}`);
    return (r.result as { value: T }).value;
  }

  /** A PNG of the page: the whole document (default) or a `width` x `height` viewport at the top. */
  async screenshot(opts: { width?: number; height?: number; scale?: number } = {}): Promise<Buffer> {
    const size = await this.evaluate<{ w: number; h: number }>(
      '({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight })');
    const width = opts.width ?? size.w, height = opts.height ?? size.h;
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: opts.scale ?? 1, mobile: false });
    const r = await this.send('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width, height, scale: 1 }, captureBeyondViewport: true });
    return Buffer.from(r.data as string, 'base64');
  }

  async close(): Promise<void> {
    if (!this.closed) {
      const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
      this.send('Browser.close', {}, false).catch(() => undefined);
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}

/** Rasterises SVG files to PNG files of the same pixel size (scale 2 by default, for sharp text). */
export async function svgsToPng(binary: string, files: ReadonlyArray<{ svg: string; png: string }>, scale = 2): Promise<void> {
  const page = await ChromiumPage.launch(binary);
  try {
    for (const f of files) {
      await page.goto(pathToFileURL(f.svg).href);
      const size = await page.evaluate<{ w: number; h: number }>(
        '({ w: Math.ceil(document.documentElement.width.baseVal.value), h: Math.ceil(document.documentElement.height.baseVal.value) })');
      writeFileAtomic(f.png, await page.screenshot({ width: size.w, height: size.h, scale }));
    }
  } finally {
    await page.close();
  }
}
