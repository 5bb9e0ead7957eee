/**
 * Node adapter: extended attributes of host files (security.capability of /usr/bin/ping, SELinux
 * labels, user.*, trusted.* as root, POSIX ACLs), through @napi-rs/xattr: the one native module
 * extimg uses, optional, with prebuilt binaries for Linux, macOS and FreeBSD. Where it is not
 * installed or cannot load, readers say so (once) and builds go on without host xattrs.
 */
import { createRequire } from 'node:module';

interface NapiXattr {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Uint8Array | null;
}

export type XattrReader =
  | {
      ok: true;
      /**
       * The attributes of the file at `path`, not following a final symlink; attributes that
       * vanish between listing and reading are left out. Throws with the OS's error code.
       */
      read(path: string): Map<string, Uint8Array>;
    }
  | { ok: false; why: string };

let loaded: XattrReader | undefined;

/** The host xattr reader, or why there is none. Loaded once per process. */
export function hostXattrReader(): XattrReader {
  if (loaded) return loaded;
  let mod: NapiXattr;
  try {
    mod = createRequire(import.meta.url)('@napi-rs/xattr') as NapiXattr;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'MODULE_NOT_FOUND' ? 'the optional module @napi-rs/xattr is not installed' : `@napi-rs/xattr could not load (${firstLine(e)})`;
    return (loaded = { ok: false, why });
  }
  loaded = {
    ok: true,
    read(path: string): Map<string, Uint8Array> {
      const out = new Map<string, Uint8Array>();
      let names: string[];
      try {
        names = mod.listAttributesSync(path);
      } catch (e) {
        // A filesystem without xattrs has none to copy.
        if (/not supported|ENOTSUP|EOPNOTSUPP/i.test(firstLine(e))) return out;
        throw asOsError(e);
      }
      for (const name of names.sort()) {
        let v: Uint8Array | null;
        try {
          v = mod.getAttributeSync(path, name);
        } catch (e) {
          if (/No data available|ENODATA/i.test(firstLine(e))) continue;
          throw asOsError(e);
        }
        if (v !== null) out.set(name, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
      return out;
    },
  };
  return loaded;
}

/** The binding's errors carry the OS message ("Permission denied (os error 13)"): make it an errno code. */
function asOsError(e: unknown): Error & { code: string } {
  const m = firstLine(e);
  const errno = /\(os error (\d+)\)/.exec(m)?.[1];
  const code = errno ? (ERRNO[Number(errno)] ?? `errno ${errno}`) : 'EIO';
  const err = new Error(m) as Error & { code: string };
  err.code = code;
  return err;
}

const ERRNO: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 7: 'E2BIG', 13: 'EACCES', 20: 'ENOTDIR', 34: 'ERANGE', 36: 'ENAMETOOLONG', 40: 'ELOOP' };

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}
