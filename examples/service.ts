// A small HTTP service that trains networks on request: the package inside another Node service.
//
//   npx tsc -p tsconfig.json && node dist/examples/service.js --port 8080
//
//   POST   /jobs              body: an experiment spec ({"model":"cnn","epochs":2}) -> 202 {id}
//   GET    /jobs              every job, a line each
//   GET    /jobs/:id          one job: its state, last progress, and its result once done
//   GET    /jobs/:id/events   its events as server-sent events (progress with ETA, epochs, the end)
//   DELETE /jobs/:id          cancels it: the training stops within one chunk -> 202
//   GET    /health            answers at once (the event loop is never blocked by training)
//   GET    /probe             one small native call (a 128x128x128 GEMM) and how long it took
//
// Training runs in the addon's threads, never on the event loop, so the service keeps answering
// while it trains; docs/service.md explains how the CPU is shared and what the latencies are.
// In your own project import from 'dendrite-bench' and 'dendrite-bench/kernels'.
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isAbortError, resolveSpec, runExperiment, type ExperimentEvent, type ExperimentResult, type ExperimentSpec } from '../src';
import { gemm, getCpuScheduling } from '../src/kernels';

type JobState = 'running' | 'done' | 'cancelled' | 'failed';
/** What an event stream carries: the experiment's events, then one `end`. */
type StreamEvent = Exclude<ExperimentEvent, { type: 'done' }> | { type: 'end'; state: JobState; error: string | null };

interface Job {
  id: string;
  spec: ExperimentSpec;
  state: JobState;
  createdAt: string;
  /** Every event but progress, which would grow without bound: the last one is kept instead. */
  events: StreamEvent[];
  progress: StreamEvent | null;
  result: ExperimentResult | null;
  error: string | null;
  controller: AbortController;
  done: Promise<void>;
  /** Open event streams of this job. */
  streams: Set<http.ServerResponse>;
}

export interface ServiceOptions {
  /** Jobs that may train at once; more are refused with 429 (default 2). */
  maxJobs?: number;
  /** Largest request body in bytes (default 64 KiB). */
  maxBody?: number;
}

export interface Service {
  server: http.Server;
  /** Stops taking requests, cancels running jobs, waits for them to stop and closes the server. */
  shutdown(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage, maxBody: number): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBody) throw new HttpError(413, `the body is larger than ${maxBody} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `the body is not JSON: ${(e as Error).message}`);
  }
}

function summary(job: Job): Record<string, unknown> {
  return { id: job.id, state: job.state, model: job.spec.model, createdAt: job.createdAt, progress: job.progress, error: job.error };
}

function writeEvent(res: http.ServerResponse, e: StreamEvent): void {
  res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
}

export function createService(options: ServiceOptions = {}): Service {
  const maxJobs = options.maxJobs ?? 2;
  const maxBody = options.maxBody ?? 64 * 1024;
  const jobs = new Map<string, Job>();
  let nextId = 1;
  let closing = false;
  // How long callbacks waited for the event loop (ms): what /health reports, to show nothing blocks it.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const probeA = Float32Array.from({ length: 128 * 128 }, (_, i) => (i % 7) / 7);
  const probeB = Float32Array.from({ length: 128 * 128 }, (_, i) => (i % 5) / 5);

  const finish = (job: Job, state: JobState, error: string | null): void => {
    job.state = state;
    job.error = error;
    for (const res of job.streams) {
      writeEvent(res, { type: 'end', state, error });
      res.end();
    }
    job.streams.clear();
  };

  const startJob = (spec: ExperimentSpec): Job => {
    resolveSpec(spec);  // a bad spec is the client's error (400), found before anything starts
    const running = [...jobs.values()].filter((j) => j.state === 'running').length;
    if (running >= maxJobs) throw new HttpError(429, `${running} jobs are training (at most ${maxJobs}); cancel one or wait`);
    const id = String(nextId++);
    const controller = new AbortController();
    const job: Job = {
      id, spec, state: 'running', createdAt: new Date().toISOString(), events: [], progress: null, result: null, error: null,
      controller, done: Promise.resolve(), streams: new Set(),
    };
    const onEvent = (e: ExperimentEvent): void => {
      if (e.type === 'done') return;  // the result: GET /jobs/:id, once the stream says `end`
      if (e.type === 'progress') job.progress = e;
      else job.events.push(e);
      for (const res of job.streams) writeEvent(res, e);
    };
    job.done = runExperiment(spec, { signal: controller.signal, onEvent }).then(
      (result) => {
        job.result = result;
        finish(job, 'done', null);
      },
      (err: unknown) => {
        if (isAbortError(err) && controller.signal.aborted) finish(job, 'cancelled', String((controller.signal.reason as Error)?.message ?? 'cancelled'));
        else finish(job, 'failed', (err as Error).message);
      },
    );
    jobs.set(id, job);
    return job;
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (parts[0] === 'health' && parts.length === 1 && method === 'GET') {
      const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
      send(res, 200, {
        ok: !closing, jobs: [...jobs.values()].filter((j) => j.state === 'running').length, cpu: getCpuScheduling(),
        eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
      });
      return;
    }
    if (parts[0] === 'probe' && parts.length === 1 && method === 'GET') {
      const t = process.hrtime.bigint();
      const c = await gemm({ a: probeA, b: probeB, m: 128, n: 128, k: 128 });
      send(res, 200, { ms: Number(process.hrtime.bigint() - t) / 1e6, c0: c[0] });
      return;
    }
    if (parts[0] !== 'jobs') throw new HttpError(404, `no route ${method} ${url.pathname}`);
    if (parts.length === 1 && method === 'POST') {
      if (closing) throw new HttpError(503, 'the service is shutting down');
      const spec = (await readJson(req, maxBody)) as ExperimentSpec;
      let job: Job;
      try {
        job = startJob(spec);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw new HttpError(400, (e as Error).message);
      }
      send(res, 202, { id: job.id, href: `/jobs/${job.id}` });
      return;
    }
    if (parts.length === 1 && method === 'GET') {
      send(res, 200, [...jobs.values()].map(summary));
      return;
    }
    const job = jobs.get(parts[1] ?? '');
    if (!job) throw new HttpError(404, `no job ${parts[1]}`);
    if (parts.length === 2 && method === 'GET') {
      send(res, 200, { ...summary(job), events: job.events, result: job.result });
      return;
    }
    if (parts.length === 2 && method === 'DELETE') {
      if (job.state === 'running') job.controller.abort(new Error(`cancelled by ${req.socket.remoteAddress ?? 'a client'}`));
      send(res, 202, summary(job));
      return;
    }
    if (parts.length === 3 && parts[2] === 'events' && method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      for (const e of job.events) writeEvent(res, e);
      if (job.progress) writeEvent(res, job.progress);
      if (job.state !== 'running') {
        writeEvent(res, { type: 'end', state: job.state, error: job.error });
        res.end();
        return;
      }
      job.streams.add(res);
      res.on('close', () => job.streams.delete(res));
      return;
    }
    throw new HttpError(405, `${method} is not allowed on ${url.pathname}`);
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (!res.headersSent) send(res, status, { error: (e as Error).message });
      else res.end();
    });
  });

  const shutdown = async (): Promise<void> => {
    closing = true;
    const running = [...jobs.values()].filter((j) => j.state === 'running');
    for (const job of running) job.controller.abort(new Error('the service is shutting down'));
    await Promise.all(running.map((j) => j.done));
    loopDelay.disable();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  return { server, shutdown };
}

if (require.main === module) {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
  const service = createService();
  service.server.listen(port, '127.0.0.1', () => {
    const address = service.server.address();
    console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`);
  });
  // Graceful shutdown: running jobs are cancelled (each stops within one chunk), then the process ends.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.log(`${sig}: cancelling running jobs and closing`);
      service.shutdown().then(() => process.exit(0), () => process.exit(1));
    });
  }
}
