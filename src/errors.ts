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

/**
 * Control characters (from names inside archives, host paths) written as escapes, so a message
 * stays one line whatever it quotes: a newline as `\n`, a tab as `\t`, others as `\xNN`.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

export class ExtimgError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  /** `data` keeps values as they are; the message has control characters escaped (escapeControls). */
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(escapeControls(message));
    this.name = 'ExtimgError';
    this.code = code;
    this.data = data;
  }
}

export function isExtimgError(e: unknown): e is ExtimgError {
  return e instanceof ExtimgError;
}
