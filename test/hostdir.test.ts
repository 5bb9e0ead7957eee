import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtimgError } from '../src/errors.js';
import { addHostDirectory, decodeDev, HostFileContent } from '../src/ingest/hostdir.js';
import type { FileNode, Node, Timestamp } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';

const isRoot = process.getuid?.() === 0;
// "f\xff\xfe.txt": not valid UTF-8, must survive byte for byte.
const BAD_NAME = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]);

let tmp: string;
let src: string;
let server: net.Server | undefined;

function readAll(node: Node | undefined): Buffer {
  expect(node?.kind).toBe('file');
  const content = (node as FileNode).content;
  const r = content.open();
  const out = Buffer.alloc(content.size);
  try {
    r.read(0, out);
  } finally {
    r.close();
  }
  return out;
}

function nsTime(ns: bigint): Timestamp {
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'extimg-hostdir-'));
  src = path.join(tmp, 'src');
  fs.mkdirSync(path.join(src, 'etc', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.writeFileSync(path.join(src, 'empty'), '');
  fs.writeFileSync(path.join(src, 'suid'), '#!/bin/sh\n');
  fs.chmodSync(path.join(src, 'suid'), 0o4755);
  fs.chmodSync(path.join(src, 'etc', 'sub'), 0o1750);
  fs.symlinkSync('../etc/passwd', path.join(src, 'rel-link'));
  fs.symlinkSync('/nowhere/at/all', path.join(src, 'dangling'));
  fs.symlinkSync(Buffer.concat([Buffer.from('/x/'), BAD_NAME]), path.join(src, 'bad-target'));
  fs.writeFileSync(Buffer.concat([Buffer.from(src + '/'), BAD_NAME]), 'bytes');
  // Hard links: three names, one across directories.
  fs.writeFileSync(path.join(src, 'hl-a'), 'shared');
  fs.linkSync(path.join(src, 'hl-a'), path.join(src, 'hl-b'));
  fs.linkSync(path.join(src, 'hl-a'), path.join(src, 'etc', 'sub', 'hl-c'));
  // Sparse: 1 MiB logical, one byte of data in the middle.
  const fd = fs.openSync(path.join(src, 'sparse'), 'w');
  fs.ftruncateSync(fd, 1 << 20);
  fs.writeSync(fd, Buffer.from('x'), 0, 1, 512 * 1024);
  fs.closeSync(fd);
  // A time with nanoseconds before the epoch and one after.
  fs.utimesSync(path.join(src, 'empty'), new Date('1960-05-01T00:00:00.25Z'), new Date('2001-02-03T04:05:06.789Z'));
  execFileSync('mkfifo', [path.join(src, 'fifo')]);
  server = net.createServer();
  await new Promise<void>((resolve) => server!.listen(path.join(src, 'sock'), resolve));
  if (isRoot) {
    execFileSync('mknod', [path.join(src, 'null'), 'c', '1', '3']);
    execFileSync('mknod', [path.join(src, 'disk'), 'b', '8', '1']);
    // Numbers past 8 bits exercise the split dev_t encoding.
    execFileSync('mknod', [path.join(src, 'big'), 'c', '300', '70000']);
  } else {
    console.log('hostdir.test: not root, skipping device nodes (mknod needs CAP_MKNOD)');
  }
});

afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('addHostDirectory', () => {
  it('copies every node kind with its metadata', () => {
    const tree = new Tree();
    addHostDirectory(tree, src);

    const passwd = tree.get('/etc/passwd');
    expect(readAll(passwd).toString()).toBe('root:x:0:0::/root:/bin/sh\n');
    const st = fs.lstatSync(path.join(src, 'etc', 'passwd'), { bigint: true });
    expect(passwd!.meta.mode).toBe(Number(st.mode & 0o7777n));
    expect(passwd!.meta.uid).toBe(Number(st.uid));
    expect(passwd!.meta.gid).toBe(Number(st.gid));
    expect(passwd!.meta.mtime).toEqual(nsTime(st.mtimeNs));
    expect((passwd as FileNode).content.origin).toBe(path.join(src, 'etc', 'passwd'));
    expect((passwd as FileNode).content.sparse).toBeUndefined();

    expect(tree.get('/suid')!.meta.mode).toBe(0o4755);
    const sub = tree.get('/etc/sub');
    expect(sub?.kind).toBe('dir');
    expect(sub!.meta.mode).toBe(0o1750);

    const empty = tree.get('/empty') as FileNode;
    expect(empty.content.size).toBe(0);
    expect(empty.meta.mtime).toEqual({ sec: 981173106, nsec: 789_000_000 });
    expect(empty.meta.atime).toEqual({ sec: Math.floor(Date.parse('1960-05-01T00:00:00.25Z') / 1000), nsec: 250_000_000 });

    const rel = tree.get('/rel-link');
    expect(rel?.kind).toBe('symlink');
    expect(Buffer.from((rel as { target: Uint8Array }).target).toString()).toBe('../etc/passwd');
    expect(Buffer.from((tree.get('/dangling') as { target: Uint8Array }).target).toString()).toBe('/nowhere/at/all');
    expect(Buffer.from((tree.get('/bad-target') as { target: Uint8Array }).target)).toEqual(
      Buffer.concat([Buffer.from('/x/'), BAD_NAME]),
    );

    const bad = tree.get(Buffer.concat([Buffer.from('/'), BAD_NAME]));
    expect(readAll(bad).toString()).toBe('bytes');
    expect([...tree.root.entries.keys()]).toContain(String.fromCharCode(...BAD_NAME));

    expect(tree.get('/fifo')?.kind).toBe('fifo');
    expect(tree.get('/sock')?.kind).toBe('socket');
  });

  it('keeps hard links as one node', () => {
    const tree = new Tree();
    addHostDirectory(tree, src);
    const a = tree.get('/hl-a');
    expect(a?.kind).toBe('file');
    expect(tree.get('/hl-b')).toBe(a);
    expect(tree.get('/etc/sub/hl-c')).toBe(a);
    expect(readAll(a).toString()).toBe('shared');
  });

  it('marks sparse host files', () => {
    const tree = new Tree();
    addHostDirectory(tree, src);
    const node = tree.get('/sparse') as FileNode;
    const st = fs.lstatSync(path.join(src, 'sparse'));
    expect(node.content.size).toBe(1 << 20);
    expect(node.content.sparse === true).toBe(st.blocks * 512 < st.size);
    const buf = readAll(node);
    expect(buf[512 * 1024]).toBe(0x78);
    expect(buf.reduce((n, b) => n + b, 0)).toBe(0x78);
  });

  it.runIf(isRoot)('copies device nodes with their numbers', () => {
    const tree = new Tree();
    addHostDirectory(tree, src);
    expect(tree.get('/null')).toMatchObject({ kind: 'chr', major: 1, minor: 3 });
    expect(tree.get('/disk')).toMatchObject({ kind: 'blk', major: 8, minor: 1 });
    expect(tree.get('/big')).toMatchObject({ kind: 'chr', major: 300, minor: 70000 });
  });

  it('maps the root onto dest, merging, and squashes owners', () => {
    const tree = new Tree({ time: { sec: 1, nsec: 0 } });
    tree.writeFile('/opt/app/keep', 'kept');
    addHostDirectory(tree, src + '/', { dest: '/opt/app/', owner: { uid: 1234, gid: 5678 } });
    expect(readAll(tree.get('/opt/app/keep')).toString()).toBe('kept');
    expect(readAll(tree.get('/opt/app/etc/passwd')).toString()).toContain('root:');
    const top = fs.statSync(src, { bigint: true });
    const app = tree.get('/opt/app')!;
    expect(app.meta.mode).toBe(Number(top.mode & 0o7777n));
    expect(app.meta.mtime).toEqual(nsTime(top.mtimeNs));
    expect(app.meta.uid).toBe(1234);
    for (const [p, node] of tree.walk()) {
      if (p.startsWith('opt/app/') && p !== 'opt/app/keep') expect([p, node.meta.uid, node.meta.gid]).toEqual([p, 1234, 5678]);
    }
    // Intermediate directories come from the tree's defaults.
    expect(tree.get('/opt')!.meta.mtime).toEqual({ sec: 1, nsec: 0 });
  });

  it('applies the top directory metadata to the root by default', () => {
    const tree = new Tree();
    addHostDirectory(tree, src, { owner: { uid: 0, gid: 0 } });
    const top = fs.statSync(src, { bigint: true });
    expect(tree.root.meta.mode).toBe(Number(top.mode & 0o7777n));
    expect(tree.root.meta.mtime).toEqual(nsTime(top.mtimeNs));
  });

  it('keeps a directory symlink already in the tree (merged /usr)', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'usr-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'sh'), 'sh');
    const tree = new Tree();
    tree.mkdir('/usr/bin');
    tree.symlink('/bin', 'usr/bin');
    addHostDirectory(tree, dir);
    expect(tree.get('/bin')?.kind).toBe('symlink');
    expect(readAll(tree.get('/usr/bin/sh')).toString()).toBe('sh');
  });

  it('walks in byte order regardless of readdir order', () => {
    const tree = new Tree();
    addHostDirectory(tree, src);
    const names = [...tree.root.entries.keys()];
    expect(names).toEqual([...names].sort());
  });

  it('reports a missing or non-directory source with its path', () => {
    const missing = path.join(tmp, 'does-not-exist');
    expect(() => addHostDirectory(new Tree(), missing)).toThrow(ExtimgError);
    expect(() => addHostDirectory(new Tree(), missing)).toThrow(missing);
    try {
      addHostDirectory(new Tree(), missing);
    } catch (e) {
      expect((e as ExtimgError).code).toBe('ENOENT');
    }
    const file = path.join(src, 'etc', 'passwd');
    expect(() => addHostDirectory(new Tree(), file)).toThrow(`${file}: not a directory`);
  });

  it('reports an unreadable directory as permission denied, as an unprivileged user', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'locked-'));
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(path.join(dir, 'secret'));
    fs.chmodSync(path.join(dir, 'secret'), 0);
    try {
      if (!isRoot) {
        expect(() => addHostDirectory(new Tree(), dir)).toThrow(`${path.join(dir, 'secret')}: permission denied`);
        return;
      }
      // Root reads everything: run the CLI as nobody (setpriv, util-linux) to see the real error.
      fs.chmodSync(tmp, 0o755);
      const out = path.join(fs.mkdtempSync(path.join(tmp, 'out-')), 'x.img');
      fs.chmodSync(path.dirname(out), 0o777);
      const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'build', '-o', out, dir], {
        encoding: 'utf8',
      });
      expect(r.error, 'setpriv (util-linux) is needed to drop root for this test').toBeUndefined();
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(`extimg: ${path.join(dir, 'secret')}: permission denied`);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      fs.chmodSync(path.join(dir, 'secret'), 0o755);
    }
  });
});

describe('HostFileContent', () => {
  it('reads at positions and fails when the file shrank', () => {
    const p = path.join(tmp, 'shrinks');
    fs.writeFileSync(p, '0123456789');
    const c = new HostFileContent(p, 10);
    const r = c.open();
    const into = new Uint8Array(4);
    r.read(3, into);
    expect(Buffer.from(into).toString()).toBe('3456');
    fs.truncateSync(p, 5);
    expect(() => r.read(3, into)).toThrow(/shrank/);
    r.close();
    r.close();
  });

  it('reports a vanished file as ENOENT with its path', () => {
    const c = new HostFileContent(path.join(tmp, 'gone'), 1);
    expect(() => c.open()).toThrow(`${path.join(tmp, 'gone')}: no such file or directory`);
  });
});

describe('decodeDev', () => {
  it('follows glibc gnu_dev_major/minor', () => {
    // makedev(maj, min) per glibc: min & 0xff | (maj & 0xfff) << 8 | (min & ~0xff) << 12 | (maj & ~0xfff) << 32
    const makedev = (maj: bigint, min: bigint): bigint =>
      (min & 0xffn) | ((maj & 0xfffn) << 8n) | ((min & ~0xffn) << 12n) | ((maj & ~0xfffn) << 32n);
    for (const [maj, min] of [
      [0n, 0n],
      [1n, 3n],
      [8n, 17n],
      [259n, 65536n],
      [4095n, 0xfffffn],
      [0xfffffn, 0xffffffn],
    ] as const) {
      expect(decodeDev(makedev(maj, min))).toEqual({ major: Number(maj), minor: Number(min) });
    }
  });
});

describe('addHostDirectory errors from the tree', () => {
  it('name the host path that could not be added', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'extimg-conflict-'));
    try {
      fs.writeFileSync(path.join(dir, 'etc'), 'a file where the tree has a full directory');
      const tree = new Tree();
      tree.writeFile('/etc/passwd', 'x');
      let err: unknown;
      try {
        addHostDirectory(tree, dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ExtimgError);
      expect((err as ExtimgError).code).toBe('EISDIR');
      expect((err as ExtimgError).message).toMatch(new RegExp(`^${path.join(dir, 'etc')}: `));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('addHostDirectory exclude', () => {
  it('leaves out matching entries and does not descend into excluded directories', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'extimg-excl-'));
    try {
      fs.mkdirSync(path.join(dir, 'usr/share/doc/pkg'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'usr/share/doc/pkg/README'), 'x');
      fs.writeFileSync(path.join(dir, 'usr/keep'), 'k');
      fs.writeFileSync(path.join(dir, 'a.pyc'), 'p');
      const seen: string[] = [];
      const t = new Tree();
      addHostDirectory(t, dir, {
        exclude: (p) => {
          seen.push(p);
          return p === 'usr/share/doc' || p.endsWith('.pyc');
        },
      });
      expect(t.get('/usr/keep')?.kind).toBe('file');
      expect(t.get('/usr/share/doc')).toBeUndefined();
      expect(t.get('/a.pyc')).toBeUndefined();
      expect(seen).not.toContain('usr/share/doc/pkg');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host extended attributes (issue #13)', () => {
  const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
  const setXattr = (p: string, name: string, hex: string): void => {
    execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)', p, name, hex]);
  };

  it('are copied into the tree, and names ext cannot store are said', () => {
    const dir = path.join(tmp, 'xattr-src');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'ping'), 'ELF');
    setXattr(path.join(dir, 'ping'), 'user.mime_type', Buffer.from('application/x-executable').toString('hex'));
    if (isRoot) setXattr(path.join(dir, 'ping'), 'security.capability', '0100000200200000000000000000000000000000');
    setXattr(dir, 'user.top', '746f70');
    const tree = new Tree();
    const warnings: string[] = [];
    addHostDirectory(tree, dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    const x = tree.get('ping')!.meta.xattrs;
    expect(Buffer.from(x.get('user.mime_type')!).toString()).toBe('application/x-executable');
    if (isRoot) expect(Buffer.from(x.get('security.capability')!).toString('hex')).toBe('0100000200200000000000000000000000000000');
    expect(Buffer.from(tree.get('/')!.meta.xattrs.get('user.top')!).toString()).toBe('top');
    // xattrs: false reads none.
    const plain = new Tree();
    addHostDirectory(plain, dir, { xattrs: false });
    expect(plain.get('ping')!.meta.xattrs.size).toBe(0);
  });

  it('without @napi-rs/xattr the build works and says once that none were read', () => {
    // The compiled CLI copied where no node_modules is found: the optional module cannot load.
    const alone = path.join(tmp, 'alone');
    fs.cpSync(path.join(path.dirname(CLI), '..'), path.join(alone, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(alone, 'package.json'), JSON.stringify({ type: 'module', version: '0.0.0' }));
    const a = path.join(tmp, 'alone-a');
    const b = path.join(tmp, 'alone-b');
    for (const d of [a, b]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, `file-${path.basename(d)}`), 'x');
      setXattr(path.join(d, `file-${path.basename(d)}`), 'user.x', '78');
    }
    const img = path.join(tmp, 'alone.img');
    const r = spawnSync(process.execPath, [path.join(alone, 'dist', 'cli', 'main.js'), 'build', '-q', '-o', img, a, b], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('extimg: warning: host extended attributes (security.capability, ACLs, SELinux labels) were not read: the optional module @napi-rs/xattr is not installed\n');
    expect(execFileSync('debugfs', ['-R', 'ea_list /file-alone-a', img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()).not.toContain('user.x');
  });
});
