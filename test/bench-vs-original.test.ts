// The parts of the side-by-side bench (bench/vs-original.ts) that need no copy of the original
// (GPL, never in this repository): the checks of --original DIR and the scratch folder it prepares.
// The stand-in files below are a few lines of ours with the one line the bench edits.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { ORIGINAL_IDX_NAMES, checkOriginalDir, prepareOriginal, run } from '../bench/vs-original';
import { parseIdxImages, parseIdxLabels } from '../src/data/idx';
import { pattern, tmpDir } from './data-fixtures';

const STAND_IN = 'import numpy as np\nnonspiking_mode         = True  # comment kept\nl_f_phase = 50\n';

function standIn(source = STAND_IN): string {
  const dir = tmpDir('vs-original-src');
  fs.writeFileSync(path.join(dir, 'deep_learning.py'), source);
  fs.writeFileSync(path.join(dir, 'MNIST.py'), 'TRAINIMAGES = "train-images.idx3-ubyte"\n');
  fs.writeFileSync(path.join(dir, 'README.md'), 'not copied\n');
  return dir;
}

test('a folder without the original\'s files is refused with what to fetch, before anything runs', async (t) => {
  const empty = tmpDir('vs-original-empty');
  t.throws(() => checkOriginalDir(empty), { message: /has no deep_learning\.py or MNIST\.py.*git clone https:\/\/github\.com\/jordan-g/ });
  t.throws(() => checkOriginalDir(path.join(empty, 'nope')), { message: /no such folder/ });
  fs.writeFileSync(path.join(empty, 'deep_learning.py'), STAND_IN);
  t.throws(() => checkOriginalDir(empty), { message: /has no MNIST\.py/ });
  t.notThrows(() => checkOriginalDir(standIn()));
  await t.throwsAsync(run(['--original', tmpDir('vs-original-empty2'), '--train', '5']), { message: /has no deep_learning\.py/ });
  await t.throwsAsync(run(['--train', '5']), { instanceOf: RangeError, message: /--original DIR is required/ });
  await t.throwsAsync(run(['--original', empty, '--train', '0']), { instanceOf: RangeError, message: /--train expects an integer/ });
});

test('the scratch folder: .py files copied with the mode set, the digits as IDX files, DIR untouched', (t) => {
  const dir = standIn();
  const before = fs.readdirSync(dir).sort();
  const train = { images: pattern(3 * 784, 1), labels: Uint8Array.from([1, 2, 3]), count: 3 };
  const test_ = { images: pattern(2 * 784, 2), labels: Uint8Array.from([7, 0]), count: 2 };
  for (const [mode, flag] of [['spiking', 'False'], ['nonspiking', 'True']] as const) {
    const work = tmpDir('vs-original-work');
    prepareOriginal(dir, work, mode, train, test_);
    t.is(fs.readFileSync(path.join(work, 'deep_learning.py'), 'utf8'), STAND_IN.replace('= True', `= ${flag}`));
    t.is(fs.readFileSync(path.join(work, 'MNIST.py'), 'utf8'), fs.readFileSync(path.join(dir, 'MNIST.py'), 'utf8'));
    t.false(fs.existsSync(path.join(work, 'README.md')));
    const img = (f: string) => parseIdxImages(fs.readFileSync(path.join(work, f)), f, { height: 28, width: 28 });
    const lab = (f: string) => Array.from(parseIdxLabels(fs.readFileSync(path.join(work, f)), f, 10));
    t.deepEqual(Buffer.from(img(ORIGINAL_IDX_NAMES.trainImages).images), Buffer.from(train.images));
    t.deepEqual(Buffer.from(img(ORIGINAL_IDX_NAMES.testImages).images), Buffer.from(test_.images));
    t.deepEqual(lab(ORIGINAL_IDX_NAMES.trainLabels), [1, 2, 3]);
    t.deepEqual(lab(ORIGINAL_IDX_NAMES.testLabels), [7, 0]);
  }
  t.deepEqual(fs.readdirSync(dir).sort(), before);
  t.is(fs.readFileSync(path.join(dir, 'deep_learning.py'), 'utf8'), STAND_IN);
  // Another program under that name: refused, not run in the wrong mode.
  t.throws(() => prepareOriginal(standIn('print(1)\n'), tmpDir('vs-original-work'), 'spiking', train, test_),
    { message: /has no line "nonspiking_mode = True\|False"/ });
});
