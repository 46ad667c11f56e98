// PostgreSQL for the tests: the server named by DENDRITE_TEST_POSTGRES (.ci/run starts one and
// sets it), a fresh schema per store so that tests and runs never see each other's studies, and
// a TCP proxy between a client and the server that a test can cut, restore, or make lose the
// reply to a COMMIT. Without the variable the tests are registered as skipped, saying why.
import net from 'node:net';

import type { TestFn } from 'ava';
import pg from 'pg';

export const PG_URL = process.env.DENDRITE_TEST_POSTGRES;
export const PG_SKIP = '[skipped: DENDRITE_TEST_POSTGRES is not set: a postgresql:// URL of a database where the tests may create schemas; .ci/run sets it]';

/** `test` when a server is configured, else a test function that registers every test as skipped, with the reason. */
export function pgTest(test: TestFn): TestFn {
  if (PG_URL) return test;
  const skip = ((title: string, fn: unknown) => (test.skip as unknown as (t: string, f: unknown) => void)(`${title} ${PG_SKIP}`, fn)) as unknown as TestFn;
  return skip;
}

/** Schemas made for one test file, dropped at its end. */
export class TestSchemas {
  private readonly made: string[] = [];
  private n = 0;

  constructor(private readonly prefix: string) {}

  /** A new schema name (nothing is created: the store creates it). */
  name(): string {
    const name = `t_${this.prefix}_${process.pid}_${this.n++}`;
    this.made.push(name);
    return name;
  }

  /** DENDRITE_TEST_POSTGRES with a new schema. */
  url(base = PG_URL as string): string {
    return withSchema(base, this.name());
  }

  async dropAll(): Promise<void> {
    if (!PG_URL || this.made.length === 0) return;
    await sql(`DROP SCHEMA IF EXISTS ${this.made.join(', ')} CASCADE`);
  }
}

export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

/** The URL with another host and port (a proxy's). */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/** Runs statements on the test server directly (not through a store). */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const u = new URL(PG_URL as string);
  u.search = '';
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** Replies from the server are dropped (a COMMIT whose answer is lost). */
  mute: boolean;
}

/** A TCP proxy on 127.0.0.1 to the test server. */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  private commitsToLose = 0;
  /** COMMITs whose replies were dropped. */
  lostCommits = 0;

  private constructor(private readonly target: { host: string; port: number }, public port: number) {}

  static async start(): Promise<TcpProxy> {
    const u = new URL(PG_URL as string);
    const p = new TcpProxy({ host: u.hostname, port: Number(u.port || 5432) }, 0);
    await p.listen();
    return p;
  }

  private listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      const pair: Pair = { client, server: upstream, mute: false };
      this.pairs.add(pair);
      const end = (): void => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('data', (d: Buffer) => {
        upstream.write(d);
        // A simple-protocol query message "COMMIT": let the server commit, lose its answer, cut.
        if (this.commitsToLose > 0 && d.includes('COMMIT\0')) {
          this.commitsToLose--;
          this.lostCommits++;
          pair.mute = true;
          setTimeout(end, 150);
        }
      });
      upstream.on('data', (d: Buffer) => {
        if (!pair.mute) client.write(d);
      });
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  /** The next `n` COMMITs reach the server, but their replies are lost and the connection cut. */
  loseCommitReplies(n = 1): void {
    this.commitsToLose += n;
  }

  /** Every connection cut and new ones refused, as when a network goes away. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const p of this.pairs) {
      p.client.destroy();
      p.server.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts connections again, on the same port. */
  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
