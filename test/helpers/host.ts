import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  renameSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Node, Timestamp } from '../../src/tree/node.js';
import type { Tree } from '../../src/tree/tree.js';

/**
 * Write a Tree out as a real host directory (as root: devices, owners), so reference tools
 * (`mke2fs -d`, `genext2fs -d`) can build an image of the same content and our readers can be
 * checked against each other. Holes stay holes (ftruncate + positional writes). Timestamps go
 * through utimes() where a double holds them exactly enough, else through `touch -h -d @sec.nsec`
 * (Node turns negative times into "now").
 */
export function materializeTree(tree: Tree, dir: string): void {
  const root = Buffer.from(dir);
  const pathOf = (key: string): Buffer => (key === '' ? root : Buffer.concat([root, Buffer.from('/'), Buffer.from(key, 'latin1')]));
  const first = new Map<Node, string>();
  let tmpCounter = 0;
  const viaTemp = (key: string, make: (tmp: string) => void): void => {
    // Tools take names as UTF-8 argv strings; make the node under a plain name, then rename.
    const tmp = join(dir, `.materialize-tmp-${tmpCounter++}`);
    make(tmp);
    renameSync(tmp, pathOf(key));
  };
  const entries = [...tree.walk()];
  for (const [key, node] of entries) {
    const p = pathOf(key);
    if (node.kind !== 'dir' && first.has(node)) {
      linkSync(pathOf(first.get(node)!), p);
      continue;
    }
    first.set(node, key);
    switch (node.kind) {
      case 'dir':
        if (key !== '') mkdirSync(p);
        break;
      case 'file': {
        const fd = openSync(p, 'w');
        try {
          const c = node.content;
          ftruncateSync(fd, c.size);
          const reader = c.open();
          const ranges = c.dataRanges ?? [{ offset: 0, length: c.size }];
          for (const r of ranges) {
            for (let off = 0; off < r.length; off += 1 << 20) {
              const buf = new Uint8Array(Math.min(1 << 20, r.length - off));
              reader.read(r.offset + off, buf);
              writeSync(fd, buf, 0, buf.length, r.offset + off);
            }
          }
          reader.close();
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink':
        symlinkSync(Buffer.from(node.target), p);
        break;
      case 'chr':
      case 'blk':
        viaTemp(key, (tmp) => execFileSync('mknod', [tmp, node.kind === 'chr' ? 'c' : 'b', String(node.major), String(node.minor)]));
        break;
      case 'fifo':
        viaTemp(key, (tmp) => execFileSync('mkfifo', [tmp]));
        break;
      case 'socket':
        viaTemp(key, (tmp) =>
          execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', tmp]),
        );
        break;
    }
  }
  // Metadata children first, so setting a directory's times is the last thing to touch it.
  const done = new Set<Node>();
  for (let i = entries.length - 1; i >= 0; i--) {
    const [key, node] = entries[i]!;
    if (done.has(node)) continue;
    done.add(node);
    const p = pathOf(key);
    const m = node.meta;
    lchownSync(p, m.uid, m.gid);
    if (node.kind !== 'symlink') chmodSync(p, m.mode);
    setTimes(p, m.atime, m.mtime);
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function setTimes(p: Buffer, atime: Timestamp, mtime: Timestamp): void {
  const exact = (t: Timestamp): boolean => t.sec >= 0 && t.nsec === 0;
  if (exact(atime) && exact(mtime)) {
    lutimesSync(p, atime.sec, mtime.sec);
    return;
  }
  let path: string;
  try {
    path = utf8Strict.decode(p);
  } catch {
    throw new Error(`cannot set exact times on a path that is not UTF-8: ${p.toString('latin1')}`);
  }
  const stamp = (t: Timestamp): string => {
    // A decimal number of seconds: {sec: -1, nsec: 5e8} is -0.5, not -1.5.
    const total = BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    const abs = total < 0n ? -total : total;
    return `@${total < 0n ? '-' : ''}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
  };
  execFileSync('touch', ['-h', '-a', '-d', stamp(atime), path]);
  execFileSync('touch', ['-h', '-m', '-d', stamp(mtime), path]);
}
