import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDebugfs } from './debugfs.js';

/** Extended attributes as name → value (hex), read by debugfs and by the kernel. */
export type Xattrs = Map<string, string>;

/**
 * debugfs: `ea_list` for the names, `ea_get -f FILE` for each raw value. Inodes are given by
 * number (`<ino>`) or by an ASCII path.
 */
export function xattrsFromDebugfs(image: string, inodes: readonly string[]): Map<string, Xattrs> {
  const out = new Map<string, Xattrs>();
  const lists = runDebugfs(image, inodes.map((i) => `ea_list ${i}`));
  const gets: Array<[string, string, string]> = [];
  const dir = mkdtempSync(join(tmpdir(), 'extimg-ea-'));
  try {
    inodes.forEach((ino, i) => {
      const names: string[] = [];
      for (const m of lists.outputs[i]!.matchAll(/^ {2}(\S+) \((\d+)\)/gm)) names.push(m[1]!);
      out.set(ino, new Map());
      names.forEach((name, k) => gets.push([ino, name, join(dir, `${i}-${k}`)]));
    });
    runDebugfs(image, gets.map(([ino, name, file]) => `ea_get -f ${file} ${ino} ${name}`));
    for (const [ino, name, file] of gets) {
      let value: string;
      try {
        value = readFileSync(file).toString('hex');
      } catch {
        value = '(unreadable)';
      }
      out.get(ino)!.set(name, value);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The kernel's view through llistxattr/lgetxattr (Python's os module: Node has no xattr API). */
export function xattrsFromKernel(paths: readonly string[]): Map<string, Xattrs> | undefined {
  const script = `
import os, sys, json
res = {}
for p in json.load(sys.stdin):
    names = os.listxattr(p, follow_symlinks=False)
    res[p] = {n: os.getxattr(p, n, follow_symlinks=False).hex() for n in names}
print(json.dumps(res))
`;
  const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(paths), encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const parsed = JSON.parse(r.stdout) as Record<string, Record<string, string>>;
  return new Map(Object.entries(parsed).map(([p, x]) => [p, new Map(Object.entries(x))]));
}
