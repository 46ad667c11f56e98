#!/usr/bin/env node
// `npm test`: compiles the TypeScript, runs the ava suite and the native test programs, and ends
// with one line "N passed, N failed[, N skipped]" over both.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const totals = { passed: 0, failed: 0, skipped: 0 };
// What failed, repeated above the summary: a CI log cut to its end still names them.
const failures = [];

// Runs a command, echoing its output, and returns { status, output }.
function run(cmd, args, env = {}) {
  console.log(`> ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

function count(output, pattern) {
  let n = 0;
  for (const m of output.matchAll(pattern)) n += Number(m[1]);
  return n;
}

// The exit code is set, not forced with process.exit(): stdout is a pipe under CI (npm test | tee),
// and process.exit() drops what is still queued for it (the summary line went missing that way).
function main() {
  const tsc = run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']);
  if (tsc.status !== 0) {
    console.log('TypeScript compilation failed');
    console.log(`0 passed, 1 failed`);
    return 1;
  }

  // ava's default reporter ends with lines such as "12 tests passed", "1 test failed", "2 tests skipped";
  // when some fail it prints no "passed" line, so the passes are then counted from the "✔" lines.
  function runAva(args) {
    const ava = run(process.execPath, [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), ...args], { FORCE_COLOR: '0' });
    const passed = /^\s*\d+ tests? passed/m.test(ava.output)
      ? count(ava.output, /^\s*(\d+) tests? passed/gm)
      : (ava.output.match(/^\s*✔/gm) ?? []).length;
    let failed =
      count(ava.output, /^\s*(\d+) tests? failed/gm) +
      count(ava.output, /^\s*(\d+) uncaught exceptions?/gm) +
      count(ava.output, /^\s*(\d+) unhandled rejections?/gm) +
      count(ava.output, /^\s*(\d+) tests? remained pending/gm);
    if (ava.status !== 0 && failed === 0) failed = 1;  // a crash or timeout without a summary
    const named = (ava.output.match(/^\s*✘.*$/gm) ?? []).map((l) => l.trim());
    failures.push(...(failed > 0 && named.length === 0 ? [`ava ${args.join(' ')}: exit status ${ava.status}`] : named));
    totals.passed += passed;
    totals.failed += failed;
    totals.skipped += count(ava.output, /^\s*(\d+) tests? skipped/gm) + count(ava.output, /^\s*(\d+) tests? todo/gm);
  }

  // test/alone/ holds tests that assert latencies: they run after the rest, one file at a time, so that
  // no other test shares the cores with them (package.json's ava config leaves them out of the first run).
  const given = process.argv.slice(2);
  runAva(given);
  const alone = path.join(root, 'dist', 'test', 'alone');
  if (given.length === 0 && fs.existsSync(alone)) {
    const files = fs.readdirSync(alone).filter((f) => f.endsWith('.test.js')).map((f) => path.join('dist', 'test', 'alone', f));
    if (files.length > 0) runAva(['--concurrency=1', ...files]);
  }

  // The native test programs print "N passed, N failed" themselves. node-gyp builds have none. The
  // CUDA emulator's self-test, then the native test program against the emulator: the CUDA kernels
  // checked without a GPU (native/test/cuda_emu).
  const buildDir = process.env.DENDRITE_BUILD_DIR || 'build';
  for (const program of ['dendrite_native_test', 'dendrite_cuda_emu_selftest', 'dendrite_native_test_cuda_emu']) {
    const file = path.join(root, buildDir, program);
    if (process.env.DENDRITE_SKIP_NATIVE_TEST === '1') {
      console.log(`${program}: skipped (DENDRITE_SKIP_NATIVE_TEST=1)`);
    } else if (fs.existsSync(file)) {
      const nt = run(file, []);
      const m = /^(\d+) passed, (\d+) failed/m.exec(nt.output);
      totals.passed += m ? Number(m[1]) : 0;
      totals.failed += m ? Number(m[2]) : 1;
      if (m && nt.status !== 0 && Number(m[2]) === 0) totals.failed += 1;
      failures.push(...(nt.output.match(/^FAILED .*$/gm) ?? []).map((l) => `${program}: ${l}`));
      if (!m || (nt.status !== 0 && Number(m[2]) === 0)) failures.push(`${program}: exit status ${nt.status}, no failed check named`);
    } else {
      console.log(`${program} not found at ${file} (built only by the CMake build): skipped`);
      totals.skipped += 1;
    }
  }

  if (failures.length > 0) console.log(`\nfailed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
  const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
  console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`);
  return totals.failed === 0 ? 0 : 1;
}

process.exitCode = main();
