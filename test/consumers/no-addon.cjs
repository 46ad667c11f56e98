// Run with DENDRITE_ADDON pointing at a file that does not exist (test/consumers.test.ts): the
// pure parts of the package work without the native addon, and a kernel call names the fix.
'use strict';
const assert = require('node:assert/strict');

async function main() {
  const missing = process.env.DENDRITE_ADDON;
  const data = require('dendrite-bench/data');
  const ds = await data.loadDataset('mnist-10k');
  assert.equal(ds.train.count, 8000);
  assert.equal(ds.test.count, 2000);
  const batch = data.fillBatch(ds.train, Int32Array.of(0, 1));
  assert.equal(batch.length, 2 * 784);

  const kernels = require('dendrite-bench/kernels');
  await assert.rejects(kernels.gemm({ a: new Float32Array(1), b: new Float32Array(1), m: 1, n: 1, k: 1 }), (err) => {
    assert.match(err.message, /native addon could not be loaded/);
    assert.match(err.message, /npm run build/);
    assert.ok(err.message.includes(missing), 'the message names the file it tried');
    return true;
  });

  // The root holds the models, which need the addon: importing it either works for the pure parts
  // or fails with the same message.
  let root = 'loads';
  try {
    assert.equal(typeof require('dendrite-bench').loadDataset, 'function');
  } catch (err) {
    assert.match(err.message, /native addon could not be loaded/);
    root = 'throws the addon error';
  }
  console.log(JSON.stringify({ consumer: 'no-addon', root }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
