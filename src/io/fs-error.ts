import { ExtimgError } from '../errors.js';

/** "EACCES: permission denied, open '/x'" -> "permission denied" (the path is said once, by us). */
export function fsReason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const m = /^[A-Z0-9_]+: ([^,]+)(?:,|$)/.exec(message);
  return m ? m[1]! : message;
}

/**
 * A Node fs error as one ExtimgError line, `<path>: [<what>: ]<reason>`. ENOENT and ENOTDIR keep
 * their codes; everything else on the host is EIO. ExtimgErrors pass through unchanged.
 */
export function fsError(path: string, e: unknown, what?: string): ExtimgError {
  if (e instanceof ExtimgError) return e;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  const code = errno === 'ENOENT' ? 'ENOENT' : errno === 'ENOTDIR' ? 'ENOTDIR' : 'EIO';
  return new ExtimgError(code, `${path}: ${what ? `${what}: ` : ''}${fsReason(e)}`, { path, errno });
}
