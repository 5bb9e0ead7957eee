/**
 * One error class for everything extimg refuses. `code` is stable (tests and callers branch on
 * it), `message` is one line that names the input and what is wrong, `data` carries the details.
 */
export type ErrorCode =
  | 'EUSAGE' // bad option or argument
  | 'ENOENT' // path not found in the tree or on the host
  | 'ENOTDIR' // a path component is not a directory
  | 'EISDIR' // a directory where something else was expected
  | 'EEXIST' // the name already exists
  | 'ENOTEMPTY' // non-recursive remove of a non-empty directory
  | 'ELOOP' // too many symlinks while resolving
  | 'ENAMETOOLONG' // a name component over 255 bytes
  | 'EBADNAME' // empty component, NUL, '.' or '..' as a name
  | 'ENOSPC' // the content does not fit the requested image
  | 'ETOOBIG' // a file or symlink larger than the format can hold
  | 'EINVAL' // a value out of range (mode, uid, device number, ...)
  | 'EIO' // reading an input or writing the output failed
  | 'EFORMAT' // not an archive or compressed stream we know, or an unsupported variant
  | 'ECORRUPT'; // a truncated or corrupt archive, compressed stream or header (data names where)

export class ExtimgError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ExtimgError';
    this.code = code;
    this.data = data;
  }
}

export function isExtimgError(e: unknown): e is ExtimgError {
  return e instanceof ExtimgError;
}
