// The one error type of the data module: every failure names the file and what is wrong with it.

/** What went wrong, for programs that react to the kind of failure. */
export type DatasetErrorCode =
  | 'missing' // the file is not there (the message says how to get it)
  | 'magic' // wrong magic number / header
  | 'truncated' // shorter than its header says
  | 'trailing' // longer than its header says
  | 'shape' // dimensions other than the dataset's
  | 'count' // image and label counts differ, or not the expected count
  | 'checksum' // size or checksum differs from the known values
  | 'gzip' // corrupt or truncated gzip stream
  | 'label' // a label outside 0 .. classes-1
  | 'archive' // malformed or unsafe tar archive
  | 'download' // every mirror failed
  | 'usage'; // unknown dataset name, bad option

export class DatasetError extends Error {
  /** The file (absolute path or URL) the error is about; '' when it concerns no single file. */
  readonly file: string;
  readonly code: DatasetErrorCode;

  constructor(file: string, code: DatasetErrorCode, detail: string) {
    super(file ? `${file}: ${detail}` : detail);
    this.name = 'DatasetError';
    this.file = file;
    this.code = code;
  }
}
