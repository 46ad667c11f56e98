// Where data lives: the --data-dir option, else DENDRITE_DATA_DIR, else a per-user cache folder
// ($XDG_CACHE_HOME/dendrite-bench or ~/.cache/dendrite-bench); plus system folders where a
// package may have installed a dataset (Debian's dataset-fashion-mnist).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { DatasetSpec } from './registry';

export interface DataOptions {
  /** Data directory (CLI --data-dir); overrides DENDRITE_DATA_DIR. */
  dataDir?: string;
  /** Environment to read DENDRITE_DATA_DIR, DENDRITE_DATA_MIRROR, XDG_CACHE_HOME from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Also look in the dataset's system folders (default true); or a replacement list of folders. */
  systemDirs?: boolean | readonly string[];
}

export type DataDirSource = 'option' | 'env' | 'cache';

export interface ResolvedDataDir {
  dir: string;
  source: DataDirSource;
}

/** The per-user cache folder. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'dendrite-bench');
  if (process.platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'dendrite-bench', 'Cache');
  const home = env.HOME || os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches', 'dendrite-bench');
  return path.join(home, '.cache', 'dendrite-bench');
}

export function resolveDataDir(opts: DataOptions = {}): ResolvedDataDir {
  const env = opts.env ?? process.env;
  if (opts.dataDir) return { dir: path.resolve(opts.dataDir), source: 'option' };
  if (env.DENDRITE_DATA_DIR) return { dir: path.resolve(env.DENDRITE_DATA_DIR), source: 'env' };
  return { dir: userCacheDir(env), source: 'cache' };
}

/** The folder where `data fetch` puts a dataset. */
export function datasetDir(spec: DatasetSpec, opts: DataOptions = {}): string {
  return path.join(resolveDataDir(opts).dir, spec.dir);
}

/**
 * Folders to search for a dataset, in order. A data directory chosen explicitly (option or
 * environment) comes first; otherwise a system-installed copy comes before the user cache.
 */
export function searchDirs(spec: DatasetSpec, opts: DataOptions = {}): string[] {
  const resolved = resolveDataDir(opts);
  const own = path.join(resolved.dir, spec.dir);
  const system =
    opts.systemDirs === false
      ? []
      : Array.isArray(opts.systemDirs)
        ? [...(opts.systemDirs as readonly string[])]
        : spec.kind === 'embedded'
          ? []
          : [...spec.systemDirs];
  const dirs = resolved.source === 'cache' ? [...system, own] : [own, ...system];
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

/** The root of the installed package (the folder holding package.json and data/). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'dendrite-bench') return dir;
      } catch {
        // not ours; keep looking upward
      }
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', '..');
}

export function fileExists(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
