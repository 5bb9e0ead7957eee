import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyEdits, prepareEdit, type Edit, type HostFiles } from '../src/edit/ops.js';
import { parseModeSpec } from '../src/edit/mode.js';
import { parseAccounts, parseOwnerSpec, readContent } from '../src/edit/owner.js';
import { ExtimgError } from '../src/errors.js';
import { BytesContent, SegmentedContent, type FileContent } from '../src/tree/content.js';
import type { FileNode, Node } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import { judgeAvailable } from './helpers/env.js';
import { workDir } from './helpers/image.js';

const T0 = { sec: 1_700_000_000, nsec: 0 };

function tree(): Tree {
  const t = new Tree({ time: T0 });
  t.writeFile('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n# comment\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  t.writeFile('/etc/group', 'root:x:0:\ndisk:x:6:\nwww-data:x:33:\nstaff:x:50:alice\n');
  t.writeFile('/etc/shadow', 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  t.writeFile('/bin/sh', 'sh');
  return t;
}

function text(node: Node | undefined): string {
  expect(node?.kind).toBe('file');
  return new TextDecoder().decode(readContent((node as FileNode).content));
}

/** The ExtimgError a function throws. */
function error(f: () => unknown): ExtimgError {
  try {
    f();
  } catch (e) {
    if (e instanceof ExtimgError) return e;
    throw e;
  }
  throw new Error('expected an ExtimgError');
}

const host = (files: Record<string, string>): HostFiles => ({
  file(path) {
    const t = files[path];
    if (t === undefined) throw new ExtimgError('ENOENT', `${path}: no such file or directory`);
    return new BytesContent(new TextEncoder().encode(t));
  },
  readFile(path) {
    const t = files[path];
    if (t === undefined) throw new ExtimgError('ENOENT', `${path}: no such file or directory`);
    return new TextEncoder().encode(t);
  },
});

describe('edit ops', () => {
  it('write: text, base64 and host files, with mode, owner and mtime', () => {
    const t = tree();
    applyEdits(
      t,
      [
        { op: 'write', path: '/etc/hostname', content: 'vm\n', mode: '0600', owner: 'www-data:staff', mtime: 1234 },
        { op: 'write', path: '/bin/blob', contentBase64: 'AAEC/w==' },
        { op: 'write', path: '/opt/new/dir/file', source: 'host.txt', uid: 7, gid: 8 },
      ],
      { host: host({ 'host.txt': 'from host' }) },
    );
    const hn = t.get('/etc/hostname')!;
    expect(text(hn)).toBe('vm\n');
    expect(hn.meta).toMatchObject({ mode: 0o600, uid: 33, gid: 50, mtime: { sec: 1234, nsec: 0 } });
    expect([...readContent((t.get('/bin/blob') as FileNode).content)]).toEqual([0, 1, 2, 255]);
    expect(text(t.get('/opt/new/dir/file'))).toBe('from host');
    expect(t.get('/opt/new/dir/file')!.meta).toMatchObject({ uid: 7, gid: 8, mode: 0o644 });
    expect(t.get('/opt/new')!.kind).toBe('dir');
  });

  it('write replaces a file or symlink but refuses a directory', () => {
    const t = tree();
    t.symlink('/etc/resolv.conf', '../run/resolv.conf');
    applyEdits(t, [{ op: 'write', path: '/etc/resolv.conf', content: 'nameserver 1.1.1.1\n' }]);
    expect(t.get('/etc/resolv.conf')?.kind).toBe('file');
    t.mkdir('/empty');
    const e = error(() => applyEdits(t, [{ op: 'write', path: '/empty', content: 'x' }]));
    expect(e.code).toBe('EISDIR');
    expect(e.message).toBe('edits[0] (write /empty): is a directory');
  });

  it('append re-materializes the content: old bytes + new ones, through symlinks, for every hard link', () => {
    const t = tree();
    t.link('/etc/passwd', '/etc/passwd-hardlink');
    t.symlink('/passwd-link', 'etc/passwd');
    applyEdits(t, [{ op: 'append', path: '/passwd-link', content: 'bob:x:1001:1001::/home/bob:/bin/sh\n' }]);
    expect(t.get('/passwd-link')?.kind).toBe('symlink');
    const all = text(t.get('/etc/passwd'));
    expect(all.endsWith('alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n')).toBe(true);
    expect(text(t.get('/etc/passwd-hardlink'))).toBe(all);
    expect((t.get('/etc/passwd') as FileNode).content).toBeInstanceOf(BytesContent);
    // A missing file is created; a host file can be appended.
    applyEdits(t, [{ op: 'append', path: '/etc/motd', source: 'm' }, { op: 'append', path: '/etc/motd', content: '!' }], {
      host: host({ m: 'hello' }),
    });
    expect(text(t.get('/etc/motd'))).toBe('hello!');
  });

  it('append keeps the holes of sparse content', () => {
    const t = new Tree({ time: T0 });
    const sparse: FileContent = new SegmentedContent(10000, [{ offset: 8192, bytes: new Uint8Array([1, 2, 3]) }]);
    t.writeFile('/sparse', sparse);
    applyEdits(t, [{ op: 'append', path: '/sparse', contentBase64: 'BAU=' }]);
    const c = (t.get('/sparse') as FileNode).content;
    expect(c.size).toBe(10002);
    expect(c.dataRanges).toEqual([{ offset: 8192, length: 3 }, { offset: 10000, length: 2 }]);
    const bytes = readContent(c);
    expect([...bytes.subarray(8192, 8195)]).toEqual([1, 2, 3]);
    expect([...bytes.subarray(10000)]).toEqual([4, 5]);
  });

  it('append refuses a directory, a device and a dangling symlink', () => {
    const t = tree();
    t.mknod('/dev/null', 'chr', 1, 3);
    t.symlink('/dangling', '/nowhere/x');
    expect(error(() => applyEdits(t, [{ op: 'append', path: '/etc', content: 'x' }])).code).toBe('EISDIR');
    expect(error(() => applyEdits(t, [{ op: 'append', path: '/dev/null', content: 'x' }])).message).toBe(
      'edits[0] (append /dev/null): is a character device, not a regular file',
    );
    expect(error(() => applyEdits(t, [{ op: 'append', path: '/dangling', content: 'x' }])).message).toMatch(/dangling/);
  });

  it('mkdir: -p, mode and owner; an existing directory is updated; a file in the way is an error', () => {
    const t = tree();
    applyEdits(t, [
      { op: 'mkdir', path: '/var/lib/app', mode: '0750', owner: 'www-data:www-data' },
      { op: 'mkdir', path: '/tmp', mode: 0o1777 },
      { op: 'mkdir', path: '/etc', mode: '700' },
    ]);
    expect(t.get('/var/lib/app')!.meta).toMatchObject({ mode: 0o750, uid: 33, gid: 33 });
    expect(t.get('/var/lib')!.meta.mode).toBe(0o755);
    expect(t.get('/tmp')!.meta.mode).toBe(0o1777);
    expect(t.get('/etc')!.meta.mode).toBe(0o700);
    expect((t.get('/etc') as { entries: Map<string, Node> }).entries.size).toBe(3);
    const e = error(() => applyEdits(t, [{ op: 'mkdir', path: '/bin/sh' }]));
    expect(e.code).toBe('EEXIST');
    expect(e.message).toBe('edits[0] (mkdir /bin/sh): exists and is not a directory (file)');
  });

  it('symlink and hard link', () => {
    const t = tree();
    applyEdits(t, [
      { op: 'symlink', path: '/usr/bin/sh', target: '/bin/sh', owner: '1000:1000' },
      { op: 'link', path: '/bin/ash', target: '/bin/sh' },
    ]);
    const s = t.get('/usr/bin/sh')!;
    expect(s.kind === 'symlink' && new TextDecoder().decode(s.target)).toBe('/bin/sh');
    expect(s.meta).toMatchObject({ uid: 1000, gid: 1000 });
    expect(t.get('/bin/ash')).toBe(t.get('/bin/sh'));
    const e = error(() => applyEdits(t, [{ op: 'link', path: '/x', target: '/missing' }]));
    expect(e.code).toBe('ENOENT');
    expect(e.message).toBe('edits[0] (link /x): /missing: hard link target does not exist');
    expect(error(() => applyEdits(t, [{ op: 'link', path: '/y', target: '/etc' }])).code).toBe('EISDIR');
  });

  it('mknod: block, char, fifo and socket without root', () => {
    const t = tree();
    applyEdits(t, [
      { op: 'mknod', path: '/dev/xvda', type: 'b', major: 220, minor: 0, mode: '0660', owner: 'root:disk' },
      { op: 'mknod', path: '/dev/console', type: 'c', major: 5, minor: 1, mode: 0o600 },
      { op: 'mknod', path: '/run/initctl', type: 'p' },
      { op: 'mknod', path: '/run/sock', type: 's', mode: '0777' },
      { op: 'mknod', path: '/dev/big', type: 'c', major: 4095, minor: 1048575 },
    ]);
    expect(t.get('/dev/xvda')).toMatchObject({ kind: 'blk', major: 220, minor: 0, meta: { mode: 0o660, uid: 0, gid: 6 } });
    expect(t.get('/dev/console')).toMatchObject({ kind: 'chr', major: 5, minor: 1, meta: { mode: 0o600 } });
    expect(t.get('/run/initctl')?.kind).toBe('fifo');
    expect(t.get('/run/sock')).toMatchObject({ kind: 'socket', meta: { mode: 0o777 } });
    expect(t.get('/dev/big')).toMatchObject({ major: 4095, minor: 1048575 });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ op: 'mknod', path: '/dev/x', type: 'b', major: 8 }, "edits[0]: missing 'minor' (a block device needs both)"],
    [{ op: 'mknod', path: '/dev/x', type: 'q', major: 8, minor: 0 }, "edits[0].type: 'q' is not a node type (c, b, p or s)"],
    [{ op: 'mknod', path: '/dev/x', type: 'c', major: 4096, minor: 0 }, 'edits[0].major: 4096 out of range (0-4095)'],
    [{ op: 'mknod', path: '/dev/x', type: 'p', major: 1, minor: 0 }, 'edits[0].major: a FIFO has no device numbers'],
    [{ op: 'mknod', path: '/dev/x', type: 'c', major: 1, minor: 2, mdoe: '0600' }, 'edits[0].mdoe: unknown key'],
    [{ op: 'chmod', path: '/x', mode: 'rwx' }, "edits[0].mode: 'rwx' is not a mode (octal like 0644, or symbolic like u+x,go-w)"],
    [{ op: 'chmod', path: '/x', mode: '10000' }, "edits[0].mode: 'rwx' is not a mode"],
    [{ op: 'chmod', path: '/x' }, "edits[0]: missing 'mode'"],
    [{ op: 'chown', path: '/x' }, "edits[0]: missing 'owner' (or 'uid'/'gid')"],
    [{ op: 'chown', path: '/x', owner: '0:0', uid: 1 }, "edits[0].owner: give either 'owner' or 'uid'/'gid', not both"],
    [{ op: 'chown', path: '/x', owner: 'a b' }, "edits[0].owner: 'a b': 'a b' is neither an id nor a user or group name"],
    [{ op: 'chown', path: '/x', owner: '4294967296' }, "edits[0].owner: '4294967296': id 4294967296 out of range (0-4294967295)"],
    [{ op: 'write', path: '/x' }, "edits[0]: missing content: give one of 'source', 'content', 'contentBase64'"],
    [{ op: 'write', path: '/x', content: 'a', source: 'b' }, "edits[0].content: give only one of 'source', 'content', 'contentBase64'"],
    [{ op: 'write', path: '/x', contentBase64: 'abc' }, 'edits[0].contentBase64: not base64 (A-Z a-z 0-9 + /, padded with =)'],
    [{ op: 'write', path: '', content: '' }, 'edits[0].path: empty path'],
    [{ op: 'write', path: 7, content: '' }, 'edits[0].path: expected a string, got number 7'],
    [{ op: 'write', path: '/x', content: 'a', mtime: 1.5 }, 'edits[0].mtime: expected an integer, got number 1.5'],
    [{ op: 'remove', path: '/x', recursive: 'yes' }, 'edits[0].recursive: expected true or false, got the string "yes"'],
    [{ op: 'frob', path: '/x' }, "edits[0].op: unknown op 'frob' (one of write, append, mkdir, symlink, link, mknod, chmod, chown, remove, rename, move, devices, sysusers, password, sed)"],
    [{ path: '/x' }, "edits[0]: missing 'op' (one of write, append, mkdir, symlink, link, mknod, chmod, chown, remove, rename, move, devices, sysusers, password, sed)"],
    [{ op: 'symlink', path: '/x', target: '' }, 'edits[0].target: empty symlink target'],
    [{ op: 'rename', from: '/x' }, "edits[0]: missing 'to'"],
  ])('validates %j', (edit, message) => {
    const e = error(() => prepareEdit(edit, 'edits[0]'));
    expect(e.code).toBe('EINVAL');
    if (message.endsWith("'rwx' is not a mode")) expect(e.message).toMatch(/^edits\[0\]\.mode: '10000' is not/);
    else expect(e.message).toBe(message);
  });

  it('checks every edit before applying any', () => {
    const t = tree();
    expect(() => applyEdits(t, [{ op: 'mkdir', path: '/new' }, { op: 'chmod', path: '/new', mode: 'bad' }])).toThrow(/edits\[1\]\.mode/);
    expect(t.get('/new')).toBeUndefined();
  });

  it('refuses JSON numbers as modes when asked (recipes)', () => {
    const e = error(() => prepareEdit({ op: 'chmod', path: '/x', mode: 644 }, 'r.json: edits[0]', { json: true }));
    expect(e.message).toBe('r.json: edits[0].mode: write the mode as an octal string (644 is the decimal number, octal "01204"; did you mean "0644"?): JSON has no octal numbers');
  });

  it('chmod: octal and symbolic, following symlinks unless told not to', () => {
    const t = tree();
    t.symlink('/sh-link', 'bin/sh');
    t.mkdir('/d', { mode: 0o700 });
    applyEdits(t, [
      { op: 'chmod', path: '/etc/shadow', mode: '0600' },
      { op: 'chmod', path: '/sh-link', mode: 'u+s,go-w' },
      { op: 'chmod', path: '/d', mode: 'go+rX' },
    ]);
    expect(t.get('/etc/shadow')!.meta.mode).toBe(0o600);
    expect(t.get('/bin/sh')!.meta.mode).toBe(0o4644);
    expect(t.get('/sh-link')!.meta.mode).toBe(0o777);
    expect(t.get('/d')!.meta.mode).toBe(0o755);
    applyEdits(t, [{ op: 'chmod', path: '/sh-link', mode: '0700', follow: false }]);
    expect(t.get('/sh-link')!.meta.mode).toBe(0o700);
    expect(t.get('/bin/sh')!.meta.mode).toBe(0o4644);
  });

  it('chown: numbers, names from the image /etc/passwd and /etc/group, USER: and :GROUP', () => {
    const t = tree();
    t.writeFile('/a', '');
    t.writeFile('/b', '');
    t.writeFile('/c', '');
    t.writeFile('/d', '');
    applyEdits(t, [
      { op: 'chown', path: '/a', owner: '1000:50' },
      { op: 'chown', path: '/b', owner: 'www-data:staff' },
      { op: 'chown', path: '/c', owner: 'alice:' },
      { op: 'chown', path: '/d', owner: ':disk' },
      { op: 'chown', path: '/etc/shadow', uid: 5 },
    ]);
    expect(t.get('/a')!.meta).toMatchObject({ uid: 1000, gid: 50 });
    expect(t.get('/b')!.meta).toMatchObject({ uid: 33, gid: 50 });
    expect(t.get('/c')!.meta).toMatchObject({ uid: 1000, gid: 1000 });
    expect(t.get('/d')!.meta).toMatchObject({ uid: 0, gid: 6 });
    expect(t.get('/etc/shadow')!.meta).toMatchObject({ uid: 5, gid: 0 });
  });

  it('chown errors: unknown names, no /etc/passwd, missing path', () => {
    const t = tree();
    expect(error(() => applyEdits(t, [{ op: 'chown', path: '/bin/sh', owner: 'nobody' }])).message).toBe(
      "edits[0] (chown /bin/sh): user 'nobody' not found in the image's /etc/passwd",
    );
    expect(error(() => applyEdits(t, [{ op: 'chown', path: '/bin/sh', owner: ':wheel' }])).message).toBe(
      "edits[0] (chown /bin/sh): group 'wheel' not found in the image's /etc/group",
    );
    const bare = new Tree({ time: T0 });
    bare.writeFile('/f', '');
    expect(error(() => applyEdits(bare, [{ op: 'chown', path: '/f', owner: 'root' }])).message).toBe(
      "edits[0] (chown /f): user 'root' not found (the image has no /etc/passwd)",
    );
    const e = error(() => applyEdits(t, [{ op: 'chown', path: '/etc/nope', owner: '0:0' }], { where: 'recipe.json: edits' }));
    expect(e.code).toBe('ENOENT');
    expect(e.message).toBe('recipe.json: edits[0] (chown /etc/nope): no such file or directory');
  });

  it('names the position of a failing edit', () => {
    const t = tree();
    t.remove('/etc/shadow');
    const edits: Edit[] = [
      { op: 'mkdir', path: '/a' },
      { op: 'mkdir', path: '/b' },
      { op: 'write', path: '/c', content: '' },
      { op: 'chmod', path: '/etc/shadow', mode: '0600' },
    ];
    const e = error(() => applyEdits(t, edits, { where: 'recipe.json: edits' }));
    expect(e.message).toBe('recipe.json: edits[3] (chmod /etc/shadow): no such file or directory');
    expect(e.code).toBe('ENOENT');
  });

  it('remove: files, recursive directories, force', () => {
    const t = tree();
    applyEdits(t, [{ op: 'remove', path: '/bin/sh' }]);
    expect(t.get('/bin/sh')).toBeUndefined();
    const e = error(() => applyEdits(t, [{ op: 'remove', path: '/etc' }]));
    expect(e.code).toBe('ENOTEMPTY');
    expect(e.message).toBe('edits[0] (remove /etc): directory not empty');
    applyEdits(t, [{ op: 'remove', path: '/etc', recursive: true }, { op: 'remove', path: '/nothing', force: true }]);
    expect(t.get('/etc')).toBeUndefined();
    expect(error(() => applyEdits(t, [{ op: 'remove', path: '/nothing' }])).code).toBe('ENOENT');
  });

  it('rename and move: /etc and /bin into a subdirectory, parents created', () => {
    const t = tree();
    t.writeFile('/usr/bin/true', 't');
    t.symlink('/lib', 'usr/lib');
    applyEdits(t, [
      { op: 'move', from: '/etc', to: '/old/etc' },
      { op: 'rename', from: '/bin', to: '/old/bin' },
      { op: 'move', from: '/lib', to: '/old/lib' },
    ]);
    expect(t.get('/etc')).toBeUndefined();
    expect(text(t.get('/old/etc/shadow'))).toMatch(/^root:/);
    expect(text(t.get('/old/bin/sh'))).toBe('sh');
    expect(t.get('/old/lib')?.kind).toBe('symlink');
    // move into an existing directory, like mv; rename replaces exactly
    t.mkdir('/archive');
    applyEdits(t, [{ op: 'move', from: '/old/etc', to: '/archive' }]);
    expect(t.get('/archive/etc/passwd')?.kind).toBe('file');
    applyEdits(t, [{ op: 'move', from: '/usr/bin/true', to: '/archive/' }]);
    expect(t.get('/archive/true')?.kind).toBe('file');
    t.mkdir('/empty');
    applyEdits(t, [{ op: 'rename', from: '/archive/true', to: '/empty' }]);
    expect(t.get('/empty')?.kind).toBe('file');
    const e = error(() => applyEdits(t, [{ op: 'move', from: '/old', to: '/old/bin/inside' }]));
    expect(e.message).toMatch(/^edits\[0\] \(move \/old -> \/old\/bin\/inside\): cannot move a directory into itself/);
    expect(error(() => applyEdits(t, [{ op: 'rename', from: '/nope', to: '/x' }])).message).toBe(
      'edits[0] (rename /nope -> /x): no such file or directory',
    );
  });

  it('devices: a device table from the host, at a destination', () => {
    const t = tree();
    applyEdits(t, [{ op: 'devices', source: 'tbl', dest: '/chroot' }], {
      host: host({ tbl: '/dev d 755 0 0\n/dev/tty c 666 0 5 4 0 0 1 2\n' }),
    });
    expect(t.get('/chroot/dev/tty1')).toMatchObject({ kind: 'chr', major: 4, minor: 1, meta: { gid: 5, mode: 0o666 } });
    const e = error(() => applyEdits(t, [{ op: 'devices', source: 'bad' }], { host: host({ bad: '\n/dev/x q 600\n' }) }));
    expect(e.message).toBe("edits[0] (devices bad): bad:2: unknown type 'q' (f, d, c, b, p, s or l)");
  });

  it('host files need a host', () => {
    const e = error(() => applyEdits(tree(), [{ op: 'write', path: '/x', source: 'f' }]));
    expect(e.message).toBe("edits[0] (write /x): host files ('source') are not available here");
  });
});

describe('modes', () => {
  it.each<[string, number, boolean, number]>([
    ['0644', 0, false, 0o644],
    ['4755', 0, false, 0o4755],
    ['0o750', 0, false, 0o750],
    ['u+x', 0o644, false, 0o744],
    ['a+x', 0o644, false, 0o755],
    ['+x', 0o600, false, 0o711],
    ['go-rwx', 0o755, false, 0o700],
    ['u=rw,go=r', 0o777, false, 0o644],
    ['a+X', 0o644, false, 0o644],
    ['a+X', 0o744, false, 0o755],
    ['a+X', 0o600, true, 0o711],
    ['u+s', 0o755, false, 0o4755],
    ['g+s', 0o755, false, 0o2755],
    ['o+t', 0o777, false, 0o1777],
    ['+t', 0o777, false, 0o1777],
    ['g=u', 0o740, false, 0o770],
    ['o=g', 0o750, false, 0o755],
    ['u-s', 0o4755, false, 0o755],
    ['u=rwx', 0o4755, false, 0o755],
    ['g=rx', 0o2775, true, 0o2755],
    ['u+x,g+w', 0o644, false, 0o764],
  ])('%s on %o (dir %s) is %o', (spec, from, isDir, to) => {
    expect(parseModeSpec(spec, 'm')(from, isDir)).toBe(to);
  });
});

describe('symbolic modes against chmod(1) with umask 0', () => {
  const work = workDir('chmod');
  afterAll(() => work.cleanup());
  const specs = ['u+x', 'a+x', '+x', 'go-rwx', 'u=rw,go=r', 'a+X', 'a-X', 'u+s', 'g+s', 'o+t', '+t', 'g=u', 'o=g', 'u-s', 'u=rwx', 'g=rx', 'ug+w,o-r', 'a=', '=r', 'u+rwx-w', 'g=o', 'u=g', 'a+rwxst', 'o=', 'go=u-w'];
  const starts = [0o644, 0o755, 0o600, 0o4750, 0o2775, 0o1777, 0o000, 0o7777, 0o711];
  it('agrees on files and directories', () => {
    const chmod = spawnSync('chmod', ['--version'], { encoding: 'utf8' });
    if (!judgeAvailable(chmod.status === 0 ? undefined : 'chmod not found', 'symbolic modes vs chmod')) return;
    const file = path.join(work.dir, 'f');
    const dir = path.join(work.dir, 'd');
    fs.writeFileSync(file, '');
    fs.mkdirSync(dir);
    const mismatches: string[] = [];
    for (const spec of specs) {
      for (const start of starts) {
        for (const [p, isDir] of [[file, false], [dir, true]] as const) {
          fs.chmodSync(p, start);
          const r = spawnSync('sh', ['-c', 'umask 0 && chmod -- "$0" "$1"', spec, p], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`chmod ${spec}: ${r.stderr}`);
          const theirs = fs.statSync(p).mode & 0o7777;
          const ours = parseModeSpec(spec, 'm')(start, isDir);
          if (ours !== theirs) mismatches.push(`${spec} on ${isDir ? 'dir' : 'file'} 0${start.toString(8)}: chmod 0${theirs.toString(8)}, ours 0${ours.toString(8)}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});

describe('owners', () => {
  it('parses owner specs', () => {
    expect(parseOwnerSpec('0:0', 'o')).toMatchObject({ user: 0, group: 0 });
    expect(parseOwnerSpec('root', 'o')).toMatchObject({ user: 'root' });
    expect(parseOwnerSpec('root:', 'o')).toMatchObject({ user: 'root', loginGroup: true });
    expect(parseOwnerSpec(':6', 'o')).toMatchObject({ group: 6 });
    expect(() => parseOwnerSpec(':', 'o')).toThrow(/not an owner/);
  });
  it('parses passwd and group files', () => {
    const p = parseAccounts('root:x:0:0::/:/bin/sh\n+nis\nbad line\n#x:x:1:1\nroot:x:5:5::/:/bin/sh\n', 'passwd');
    expect([...p.values()]).toEqual([{ name: 'root', id: 0, gid: 0 }]);
    const g = parseAccounts('wheel:x:10:root,alice\n', 'group');
    expect(g.get('wheel')).toEqual({ name: 'wheel', id: 10 });
  });
});
