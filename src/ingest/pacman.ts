import type { Tree } from '../tree/tree.js';
import { bytesToKey } from '../tree/names.js';
import type { ArchiveOptions } from './options.js';
import type { ByteSource } from './source.js';
import { addTar, readTar } from './tar.js';

/**
 * pacman (Arch) and Frugalware packages are tar archives (.pkg.tar.zst/.xz/.gz, .fpm) with
 * package metadata files at their root that pacman reads and never installs.
 */
export const PACMAN_METADATA: ReadonlySet<string> = new Set(['.PKGINFO', '.BUILDINFO', '.MTREE', '.INSTALL', '.CHANGELOG', '.FILELIST']);

/** How many leading members are looked at for a .PKGINFO (makepkg writes it first). */
const EARLY = 8;

/** Whether a (decompressed) tar is a pacman package: a root `.PKGINFO` among its first members. */
export function isPacmanPackage(tar: Uint8Array | ByteSource): boolean {
  let n = 0;
  try {
    for (const e of readTar(tar, '')) {
      if (rootName(e.name) === '.PKGINFO') return true;
      if (++n >= EARLY) return false;
    }
  } catch {
    // A damaged archive is not recognised here; addTar reports it properly.
  }
  return false;
}

/** Apply a pacman package: its files, not its metadata. */
export function addPacman(tree: Tree, tar: Uint8Array | ByteSource, opts: ArchiveOptions): void {
  addTar(tree, tar, opts, (key) => PACMAN_METADATA.has(key));
}

function rootName(name: Uint8Array): string {
  const parts = bytesToKey(name)
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  return parts.length === 1 ? parts[0]! : '';
}
