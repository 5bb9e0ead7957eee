import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BytesContent } from '../../src/tree/content.js';
import { Tree } from '../../src/tree/tree.js';
import { e2fsck } from '../helpers/e2fsck.js';
import { missingTools, mountAvailable, requireJudge } from '../helpers/env.js';
import { buildImageFile, workDir } from '../helpers/image.js';
import { withMount } from '../helpers/mount.js';
import { xattrsFromDebugfs, xattrsFromKernel, type Xattrs } from '../helpers/xattr.js';

/**
 * Extended attributes set in the tree (DESIGN.md, judge 2: "... symlink target, device numbers,
 * hard links, xattrs") must be in the image: user.*, trusted.*, security.capability (as
 * setcap leaves it), on files, directories and the root, in-inode sized and block sized.
 */

const work = workDir('xattr');
afterAll(() => work.cleanup());

const CAP = Uint8Array.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // cap_net_bind_service=ep

function xattrTree(): { tree: Tree; expected: Map<string, Xattrs> } {
  const t = new Tree({ time: { sec: 1_600_000_000, nsec: 0 } });
  const expected = new Map<string, Xattrs>();
  const set = (path: string, name: string, value: Uint8Array): void => {
    t.setXattr(path === '/' ? '' : path, name, value, false);
    const x = expected.get(path) ?? new Map<string, string>();
    x.set(name, Buffer.from(value).toString('hex'));
    expected.set(path, x);
  };
  t.writeFile('bin/ping', new BytesContent(new Uint8Array(100).fill(7)), { mode: 0o755 });
  set('/bin/ping', 'security.capability', CAP);
  t.writeFile('etc/small', 'x');
  set('/etc/small', 'user.comment', new TextEncoder().encode('hello'));
  set('/etc/small', 'user.empty', new Uint8Array(0));
  set('/etc/small', 'trusted.overlay.opaque', new TextEncoder().encode('y'));
  t.writeFile('etc/big', 'x');
  set('/etc/big', 'user.big', new Uint8Array(700).map((_, i) => (i * 7) & 0xff));
  t.mkdir('var/dir');
  set('/var/dir', 'user.dir', Uint8Array.from([0, 1, 2, 255]));
  set('/', 'user.root', new TextEncoder().encode('root'));
  return { tree: t, expected };
}

describe('oracle: extended attributes', () => {
  for (const inodeSize of [128, 256] as const) {
    it(`are written and read back (${inodeSize}-byte inodes)`, async (ctx) => {
      requireJudge(ctx, missingTools(), 'oracle xattr');
      const { tree, expected } = xattrTree();
      const image = join(work.dir, `xattr-${inodeSize}.img`);
      buildImageFile(tree, image, { type: 'ext3', blockSize: 1024, inodeSize }, true);
      const fsck = e2fsck(image);
      expect(fsck.code, fsck.output).toBe(0);
      const paths = [...expected.keys()];
      const got = xattrsFromDebugfs(image, paths);
      const problems: string[] = [];
      for (const p of paths) {
        const want = expected.get(p)!;
        const have = got.get(p) ?? new Map();
        for (const [name, value] of want) {
          if (!have.has(name)) problems.push(`${p}: debugfs: ${name} missing`);
          else if (have.get(name) !== value) problems.push(`${p}: debugfs: ${name} = ${have.get(name)}, expected ${value}`);
        }
      }
      if (mountAvailable('oracle xattr (kernel mount)')) {
        withMount(image, (mnt) => {
          const k = xattrsFromKernel(paths.map((p) => join(mnt, p)));
          if (!k) {
            console.log('SKIP kernel xattr read-back: python3 is not available');
            return;
          }
          for (const p of paths) {
            const have = k.get(join(mnt, p)) ?? new Map();
            for (const [name, value] of expected.get(p)!) {
              if (name.startsWith('security.') || name.startsWith('trusted.') || name.startsWith('user.')) {
                if (!have.has(name)) problems.push(`${p}: kernel: ${name} missing`);
                else if (have.get(name) !== value) problems.push(`${p}: kernel: ${name} = ${have.get(name)}, expected ${value}`);
              }
            }
          }
        });
      }
      expect(problems, problems.join('\n')).toEqual([]);
    });
  }
});

/** A POSIX ACL in the Linux xattr form: user::rwx user:1000:r-x group::r-x mask::r-x other::r-- */
function acl(undefinedId = 0xffffffff): Uint8Array {
  const entries: Array<[number, number, number]> = [
    [0x01, 7, undefinedId],
    [0x02, 5, 1000],
    [0x04, 5, undefinedId],
    [0x10, 5, undefinedId],
    [0x20, 4, undefinedId],
  ];
  const b = new Uint8Array(4 + entries.length * 8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 2, true);
  entries.forEach(([tag, perm, id], i) => {
    dv.setUint16(4 + i * 8, tag, true);
    dv.setUint16(6 + i * 8, perm, true);
    dv.setUint32(8 + i * 8, id, true);
  });
  return b;
}

describe('oracle: shared xattr blocks and ACLs', () => {
  it('shares one block per identical set (refcount up to 1024) and converts POSIX ACLs', async (ctx) => {
    requireJudge(ctx, missingTools(), 'oracle xattr sharing');
    const t = new Tree({ time: { sec: 1_600_000_000, nsec: 0 } });
    const big = new Uint8Array(600).map((_, i) => (i * 13) & 0xff);
    // 1030 files with one 600-byte set: more than one block's refcount limit of 1024.
    for (let i = 0; i < 1030; i++) {
      t.writeFile(`shared/f${i}`, 'x');
      t.setXattr(`shared/f${i}`, 'user.big', big);
    }
    t.mkdir('acl');
    t.setXattr('acl', 'system.posix_acl_access', acl());
    t.setXattr('acl', 'system.posix_acl_default', acl());
    const image = join(work.dir, 'xattr-shared.img');
    const { result } = buildImageFile(t, image, { type: "ext2", blockSize: 1024, inodeSize: 256 }, true);
    const fsck = e2fsck(image);
    expect(fsck.code, fsck.output).toBe(0);
    const got = xattrsFromDebugfs(image, ['/shared/f0', '/shared/f1029', '/acl']);
    expect(got.get('/shared/f0')!.get('user.big')).toBe(Buffer.from(big).toString('hex'));
    expect(got.get('/shared/f1029')!.get('user.big')).toBe(Buffer.from(big).toString('hex'));
    // libext2fs hands ACLs back in the Linux xattr form, with 0 where the kernel says
    // ACL_UNDEFINED_ID for the entries that carry no id on disk.
    expect(got.get('/acl')!.get('system.posix_acl_access')).toBe(Buffer.from(acl(0)).toString('hex'));
    expect(got.get('/acl')!.get('system.posix_acl_default')).toBe(Buffer.from(acl(0)).toString('hex'));
    // Two shared blocks, not 1030: the image stays small.
    expect(result.usedBlocks).toBeLessThan(1500);
    if (mountAvailable('oracle xattr sharing (kernel mount)')) {
      withMount(image, (mnt) => {
        const k = xattrsFromKernel([join(mnt, 'acl'), join(mnt, 'shared/f1029')]);
        if (!k) return console.log('SKIP kernel xattr read-back: python3 is not available');
        expect(k.get(join(mnt, 'acl'))!.get('system.posix_acl_access')).toBe(Buffer.from(acl()).toString('hex'));
        expect(k.get(join(mnt, 'shared/f1029'))!.get('user.big')).toBe(Buffer.from(big).toString('hex'));
      });
    }
  });

  it('refuses a set that fits neither the inode nor one block', () => {
    const t = new Tree({ time: { sec: 0, nsec: 0 } });
    t.writeFile('f', 'x');
    t.setXattr('f', 'user.huge', new Uint8Array(2000));
    expect(() => buildImageFile(t, join(work.dir, 'never.img'), { type: 'ext2', blockSize: 1024 }, true)).toThrow(/more than one 1024-byte block/);
  });
});

describe('oracle: xattr blocks on inodes without data blocks', () => {
  it('counts the xattr block in i_blocks of fast symlinks, devices and FIFOs', async (ctx) => {
    requireJudge(ctx, missingTools(), 'oracle xattr i_blocks');
    const t = new Tree({ time: { sec: 1_600_000_000, nsec: 0 } });
    t.symlink('s', 'target');
    t.mknod('dev/c', 'chr', 1, 3);
    t.mknod('p', 'fifo');
    for (const p of ['s', 'dev/c', 'p']) t.setXattr(p, 'security.selinux', new TextEncoder().encode('system_u:object_r:etc_t:s0\0'), false);
    for (const inodeSize of [128, 256] as const) {
      const image = join(work.dir, `xattr-noblocks-${inodeSize}.img`);
      buildImageFile(t, image, { type: 'ext2', blockSize: 1024, inodeSize }, true);
      const fsck = e2fsck(image);
      expect(fsck.code, fsck.output).toBe(0);
      if (mountAvailable('oracle xattr i_blocks (kernel mount)')) {
        withMount(image, (mnt) => {
          expect(readlinkSync(join(mnt, 's'), 'utf8')).toBe('target');
        });
      }
    }
  });
});
