// The CIFAR-10 "binary version": fixed 3073-byte records (1 label byte, then the red, green and
// blue 32x32 planes, row-major, top row first), i.e. already channel-major. See docs/datasets.md.
import { DatasetError } from './errors';

export const CIFAR_RECORD = 3073;
export const CIFAR_PIXELS = 3072;

/**
 * Checks one batch file's length and returns its record count. `expectedRecords` (when given) is
 * the exact count the file must hold (10,000 for the official files).
 */
export function countCifarRecords(buf: Uint8Array, file: string, expectedRecords?: number): number {
  if (buf.length === 0) throw new DatasetError(file, 'truncated', 'empty file, expected 3073-byte records');
  if (buf.length % CIFAR_RECORD !== 0) {
    throw new DatasetError(
      file,
      'truncated',
      `length ${buf.length} is not a multiple of the 3073-byte record (${Math.floor(buf.length / CIFAR_RECORD)} records + ${buf.length % CIFAR_RECORD} bytes): truncated or corrupt`,
    );
  }
  const n = buf.length / CIFAR_RECORD;
  if (expectedRecords !== undefined && n !== expectedRecords) {
    throw new DatasetError(file, 'count', `${n} records (${buf.length} bytes), expected ${expectedRecords} (${expectedRecords * CIFAR_RECORD} bytes)`);
  }
  return n;
}

/**
 * Copies labels and pixels (label bytes stripped) of records [from, to) (default all) to image
 * offset `at + r`, checking each label.
 */
export function copyCifarRecords(
  buf: Uint8Array,
  file: string,
  images: Uint8Array,
  labels: Uint8Array,
  at: number,
  classes: number,
  from = 0,
  to = buf.length / CIFAR_RECORD,
): void {
  for (let r = from; r < to; r++) {
    const off = r * CIFAR_RECORD;
    const label = buf[off];
    if (label >= classes) throw new DatasetError(file, 'label', `label of record ${r} is ${label}, out of range 0..${classes - 1}`);
    labels[at + r] = label;
    images.set(buf.subarray(off + 1, off + CIFAR_RECORD), (at + r) * CIFAR_PIXELS);
  }
}

/** Class names from batches.meta.txt: one per line, blank lines ignored. */
export function parseCifarMeta(text: string, file: string, classes: number): string[] {
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== classes) {
    throw new DatasetError(file, 'count', `${names.length} class names, expected ${classes}`);
  }
  return names;
}
