// `data fetch` against misbehaving mirrors on 127.0.0.1: a wrong Content-Range, a body without
// Content-Length that never ends, a trickle, a slow mirror past the deadline, a silent server, a
// redirect loop, errors that may or may not pass. Each must end, bounded, with an error naming the
// mirror and what it did, and never leave a file under the final name. Timeouts are small options
// here, but no assertion depends on tight timing (the sanitizer run is about 3x slower).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { DatasetError, downloadFile } from '../src/data';
import { smallIdx, smallIdxSpec, startServer, tmpDir } from './data-fixtures';

const small = smallIdx(40, 10, 11);
const spec = smallIdxSpec(small);
const images = { name: 'train-images-idx3-ubyte.gz', body: small.trainImages, spec: spec.files.trainImages };
const base = { systemDirs: false as const, env: {}, timeoutMs: 1500, retries: 2, retryDelayMs: 10 };

function listing(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

test('a wrong Content-Range start is that mirror\'s error: retried a bounded number of times, the .part kept, then the next mirror', async (t) => {
  const server = await startServer({
    '/bad/x.gz': { body: images.body, wrongRangeStart: 5 },
    '/good/x.gz': { body: images.body },
  });
  t.teardown(() => server.close());
  const dir = tmpDir('hostile-range');
  const dest = path.join(dir, images.name);
  fs.writeFileSync(dest + '.part', images.body.subarray(0, 1000)); // an earlier, interrupted fetch
  const lines: string[] = [];
  const v = await downloadFile([`${server.base}/bad/x.gz`, `${server.base}/good/x.gz`], dest, images.spec, { ...base, log: (l) => lines.push(l) });
  t.true(v.ok);
  t.deepEqual(fs.readFileSync(dest), images.body);
  const bad = server.requests.filter((q) => q.path === '/bad/x.gz');
  t.is(bad.length, 3); // the first try and 2 retries (before: an endless loop of requests)
  t.true(bad.every((q) => q.range === 'bytes=1000-'));
  t.deepEqual(server.requests.filter((q) => q.path === '/good/x.gz').map((q) => q.range), ['bytes=1000-']);
  t.true(lines.some((l) => /answered a request for the bytes from 1000 with 206 and Content-Range "bytes 5-\d+\/\d+"; retrying/.test(l)), lines.join('\n'));
  // Alone, the bad mirror makes the fetch fail, naming it and what it did.
  const other = path.join(dir, 'other.gz');
  const err = await t.throwsAsync(downloadFile([`${server.base}/bad/x.gz`], other, images.spec, base), { instanceOf: DatasetError });
  t.is(err!.code, 'download');
  t.regex(err!.message, new RegExp(`${server.base}/bad/x.gz: answered a request for the bytes from 0 with 206 and Content-Range "bytes 5-`));
  t.false(fs.existsSync(other));
});

test('a body without Content-Length that never ends is cut at the expected size; the .part never exceeds it', async (t) => {
  const server = await startServer({ '/endless/x.gz': { body: images.body, noLength: true, endless: true } });
  t.teardown(() => server.close());
  const dir = tmpDir('hostile-endless');
  const dest = path.join(dir, images.name);
  const err = await t.throwsAsync(downloadFile([`${server.base}/endless/x.gz`], dest, images.spec, base), { instanceOf: DatasetError });
  t.regex(err!.message, new RegExp(`${server.base}/endless/x.gz: sent more than the expected ${images.body.length} bytes \\(no Content-Length\\)`));
  t.false(fs.existsSync(dest));
  t.true(!fs.existsSync(dest + '.part') || fs.statSync(dest + '.part').size <= images.body.length);
  t.is(server.requests.length, 3); // retried, bounded
  // What the server got out is only what the socket buffers took before the client hung up
  // (before: gigabytes, written to disk).
  const sent = server.requests.reduce((a, q) => a + q.sent, 0);
  t.true(sent < 256 * 1024 * 1024, `${sent} bytes sent`);
});

test('a body without Content-Length of the right size is accepted', async (t) => {
  const server = await startServer({ '/nolen/x.gz': { body: images.body, noLength: true } });
  t.teardown(() => server.close());
  const dest = path.join(tmpDir('hostile-nolen'), images.name);
  t.true((await downloadFile([`${server.base}/nolen/x.gz`], dest, images.spec, base)).ok);
  t.deepEqual(fs.readFileSync(dest), images.body);
});

test('a trickle (about 100 bytes/s) trips the stall window although every piece is a new byte', async (t) => {
  const server = await startServer({ '/slow/x.gz': { body: images.body, trickle: { bytes: 10, everyMs: 100 } } });
  t.teardown(() => server.close());
  const dir = tmpDir('hostile-trickle');
  const dest = path.join(dir, images.name);
  const t0 = Date.now();
  const err = await t.throwsAsync(downloadFile([`${server.base}/slow/x.gz`], dest, images.spec, { ...base, retries: 1, minBytesPerSecond: 1024 }), { instanceOf: DatasetError });
  t.regex(err!.message, new RegExp(`${server.base}/slow/x.gz: too slow: \\d+ bytes in 1.5 s, under the minimum of 1024 bytes/s`));
  // Two windows of 1.5 s and a retry; the whole file would take 5 minutes at this rate.
  t.true(Date.now() - t0 < 60000);
  t.is(server.requests.length, 2);
  t.regex(server.requests[1].range ?? '', /^bytes=\d+-$/); // the retry resumed the trickled bytes
  t.false(fs.existsSync(dest));
});

test('the deadline ends a download that keeps the minimum rate, and no further mirror is tried', async (t) => {
  // About 10 KB/s: well over the minimum rate, but the file takes 3 s and the deadline is 1.5 s
  // (long enough for the response to begin even on a loaded machine, so a .part is there to keep).
  const server = await startServer({
    '/slow/x.gz': { body: images.body, trickle: { bytes: 1000, everyMs: 100 } },
    '/good/x.gz': { body: images.body },
  });
  t.teardown(() => server.close());
  const dir = tmpDir('hostile-deadline');
  const dest = path.join(dir, images.name);
  const err = await t.throwsAsync(downloadFile([`${server.base}/slow/x.gz`, `${server.base}/good/x.gz`], dest, images.spec, { ...base, deadlineMs: 1500 }), {
    instanceOf: DatasetError,
  });
  t.regex(err!.message, new RegExp(`${server.base}/slow/x.gz: deadline of 1.5 s for this file passed \\(\\d+ of ${images.body.length} bytes received\\)`));
  t.regex(err!.message, /partial download is kept/);
  t.deepEqual(server.requests.map((q) => q.path), ['/slow/x.gz']);
  t.false(fs.existsSync(dest));
  t.true(fs.statSync(dest + '.part').size < images.body.length);
});

test('a server that never answers times out, retried a bounded number of times', async (t) => {
  const server = await startServer({ '/silent/x.gz': { silent: true } });
  t.teardown(() => server.close());
  const dest = path.join(tmpDir('hostile-silent'), images.name);
  const err = await t.throwsAsync(downloadFile([`${server.base}/silent/x.gz`], dest, images.spec, { ...base, retries: 1 }), { instanceOf: DatasetError });
  t.regex(err!.message, new RegExp(`${server.base}/silent/x.gz: no response within 1.5 s`));
  t.is(server.requests.length, 2);
});

test('a redirect loop is an error of that mirror (not retried), and so are more than 5 redirects; the next mirror is tried', async (t) => {
  const chain = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`/chain/${i}`, { redirect: `/chain/${i + 1}` }]));
  const server = await startServer({
    '/loop/a': { redirect: '/loop/b' },
    '/loop/b': { redirect: '/loop/a' },
    ...chain,
    '/good/x.gz': { body: images.body },
  });
  t.teardown(() => server.close());
  const dir = tmpDir('hostile-redirect');
  const dest = path.join(dir, images.name);
  const err = await t.throwsAsync(downloadFile([`${server.base}/loop/a`, `${server.base}/chain/0`], dest, images.spec, base), { instanceOf: DatasetError });
  const a = `${server.base}/loop/a`;
  t.true(err!.message.includes(`${a}: redirect loop: ${a} -> ${server.base}/loop/b -> ${a}`), err!.message);
  t.regex(err!.message, new RegExp(`${server.base}/chain/0: more than 5 redirects \\(last to ${server.base}/chain/6\\)`));
  t.deepEqual(server.requests.map((q) => q.path), ['/loop/a', '/loop/b', ...Array.from({ length: 6 }, (_, i) => `/chain/${i}`)]);
  t.deepEqual(listing(dir), []);
  t.true((await downloadFile([`${server.base}/loop/a`, `${server.base}/good/x.gz`], dest, images.spec, base)).ok);
});

test('HTTP 503 is retried with backoff a bounded number of times, HTTP 404 is not; the error names each mirror', async (t) => {
  const server = await startServer({ '/busy/x.gz': { status: 503 } });
  t.teardown(() => server.close());
  const dest = path.join(tmpDir('hostile-http'), images.name);
  const lines: string[] = [];
  const err = await t.throwsAsync(downloadFile([`${server.base}/busy/x.gz`, `${server.base}/gone/x.gz`], dest, images.spec, { ...base, retries: 3, retryDelayMs: 20, log: (l) => lines.push(l) }), {
    instanceOf: DatasetError,
  });
  t.regex(err!.message, new RegExp(`${server.base}/busy/x.gz: HTTP 503[\\s\\S]*${server.base}/gone/x.gz: HTTP 404`));
  t.deepEqual(server.requests.map((q) => q.path), ['/busy/x.gz', '/busy/x.gz', '/busy/x.gz', '/busy/x.gz', '/gone/x.gz']);
  // Doubling pauses: 0.02, 0.04, 0.08 s.
  t.deepEqual(lines.filter((l) => /retrying/.test(l)).map((l) => /retrying in ([\d.]+) s \((\d)\/3\)/.exec(l)?.slice(1).join(' ')), ['0.02 1', '0.04 2', '0.08 3']);
});
