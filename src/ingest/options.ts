import type { Node } from '../tree/node.js';

/** How an archive is applied to the tree (tar, cpio, .deb, pacman, rpm payloads alike). */
export interface ArchiveOptions {
  /** The input as the user named it (a file path); every message and error starts with it. */
  origin: string;
  /** Apply under this directory of the image (created if missing, merged if present). Default '/'. */
  dest?: string;
  /** Give every node this owner instead of the archive's (like `tar --same-owner` under fakeroot). */
  owner?: { uid: number; gid: number };
  /**
   * Leave out entries whose path in the archive matches (a glob matcher supplied by the caller).
   * It sees paths as GNU tar normalises them: no leading '/' or './', '..' resolved, UTF-8.
   * An excluded directory takes everything below it along (tar --exclude).
   */
  exclude?: (pathInArchive: string) => boolean;
  /**
   * A container image layer (OCI semantics, as containerd and umoci apply them): an entry
   * replaces whatever is at its path, except that a directory merges into a directory; a
   * symlink to a directory is replaced, not followed, when a directory arrives.
   */
  layer?: boolean;
  /**
   * Symlinks with absolute or '..' targets made by earlier parts of the same input (an image's
   * lower layers): later entries may not go through them either. Internal to image inputs.
   */
  riskySymlinks?: Set<Node>;
  /**
   * Record .deb and pacman packages in the image's package database (/var/lib/dpkg,
   * /var/lib/pacman/local under `dest`) as they are applied: ingest/dpkg-db.ts, pacman-db.ts.
   * Default true; `extimg build --no-package-db` gives false.
   */
  packageDb?: boolean;
  /** Recoverable oddities (a lone zero block, leading '/' removed, unknown entry types). */
  onWarning?: (message: string) => void;
}
