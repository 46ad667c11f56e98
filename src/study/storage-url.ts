// The one place that turns a --storage value into a study storage: ":memory:" is this process's
// memory, postgresql://user:password@host:port/database[?schema=NAME] (or postgres://) is a
// PostgreSQL database shared by workers on many machines, and anything else is the path of a
// SQLite file. Other URL schemes are refused rather than taken for odd file names.
import { MemoryStorage } from './memory';
import { PostgresStorage, redact, type PostgresOptions } from './postgres';
import { SqliteStorage } from './sqlite';
import { StudyError, type StudyStorage } from './storage';

export type StorageKind = 'memory' | 'sqlite' | 'postgres';

export interface OpenStorageOptions {
  /** Refuse to create the SQLite file or PostgreSQL schema (default false). */
  mustExist?: boolean;
  /** PostgreSQL: where lost and regained connections are reported (default stderr). */
  onWarning?: PostgresOptions['onWarning'];
  /** PostgreSQL: how long a call retries a lost connection (default 10 min). */
  retryForMs?: number;
}

/** Which storage `spec` names; throws for a URL scheme that is not PostgreSQL's. */
export function storageKind(spec: string): StorageKind {
  if (typeof spec !== 'string' || spec.trim() === '') throw new StudyError('ERR_STUDY_STORAGE', 'the storage is a SQLite file, a postgresql:// URL or :memory:, got an empty value');
  if (spec === ':memory:') return 'memory';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) return 'sqlite';
  if (scheme === 'postgresql' || scheme === 'postgres') return 'postgres';
  throw new StudyError('ERR_STUDY_STORAGE', `unsupported storage ${JSON.stringify(redact(spec))}: a study lives in a SQLite file (a path), ` +
    'a PostgreSQL database (postgresql://user:password@host:port/database) or :memory:');
}

/** Opens the storage `spec` names (PostgreSQL: connects and creates or migrates its schema). */
export async function openStorage(spec: string, options: OpenStorageOptions = {}): Promise<StudyStorage> {
  switch (storageKind(spec)) {
    case 'memory':
      return new MemoryStorage();
    case 'postgres':
      return PostgresStorage.open(spec, {
        ...(options.mustExist !== undefined ? { mustExist: options.mustExist } : {}),
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        ...(options.retryForMs !== undefined ? { retryForMs: options.retryForMs } : {}),
      });
    case 'sqlite':
      return new SqliteStorage(spec, options.mustExist !== undefined ? { mustExist: options.mustExist } : {});
  }
}

/** What opens `storage` again in another process (worker processes), or undefined for memory. */
export function storageSpec(storage: StudyStorage): string | undefined {
  if (storage instanceof SqliteStorage) return storage.file;
  if (storage instanceof PostgresStorage) return storage.url;
  return undefined;
}
