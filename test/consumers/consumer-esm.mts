// The same package from a TypeScript ES module: named imports of the CommonJS build, typed.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { type DevicesInfo, datasetNames, devices, loadDataset } from 'dendrite-bench';
import { type ConvShape, conv2dForward } from 'dendrite-bench/kernels';
import { crc32 } from 'dendrite-bench/data';

const info: DevicesInfo = devices();
assert.ok(info.cpu.logicalCores >= 1);
assert.ok(datasetNames().includes('mnist-10k'));
assert.equal((await loadDataset('mnist-10k')).test.count, 2000);
assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
const shape: ConvShape = { batch: 1, inChannels: 1, inH: 3, inW: 3, outChannels: 1, kernelH: 3, kernelW: 3 };
const y = await conv2dForward({ ...shape, x: new Float32Array(9).fill(1), w: new Float32Array(9).fill(2), threads: 1 });
assert.deepEqual(Array.from(y), [18]);
const addon = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.endsWith('.node'));
console.log(JSON.stringify({ consumer: 'typescript-esm', ok: true, addon }));
