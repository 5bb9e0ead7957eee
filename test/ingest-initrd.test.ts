import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addArchive } from '../src/ingest/archive.js';
import type { FileNode } from '../src/tree/node.js';
import { Tree } from '../src/tree/tree.js';
import { missingTools, requireJudge } from './helpers/env.js';

// `extimg build -o root.img initrd.img`: an initrd with an uncompressed early (microcode)
// segment in front of its compressed main archive becomes one tree, not just its first segment.
const work = mkdtempSync(join(tmpdir(), 'extimg-initrd-in-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function read(n: unknown): string {
  const f = n as FileNode;
  const r = f.content.open();
  const b = new Uint8Array(f.content.size);
  r.read(0, b);
  return new TextDecoder().decode(b);
}

describe('an initrd as a build input', () => {
  it('takes every segment, in the kernel order', async (ctx) => {
    requireJudge(ctx, missingTools(['cpio', 'gzip']), 'initrd input');
    const early = join(work, 'early/kernel/x86/microcode');
    mkdirSync(early, { recursive: true });
    writeFileSync(join(early, 'GenuineIntel.bin'), 'ucode');
    mkdirSync(join(work, 'main/etc'), { recursive: true });
    writeFileSync(join(work, 'main/etc/hello'), 'hi');
    writeFileSync(join(work, 'main/init'), '#!/bin/sh\n');
    const cpio = (dir: string): Buffer => execFileSync('sh', ['-c', 'find . | LC_ALL=C sort | cpio -o -H newc 2>/dev/null'], { cwd: join(work, dir) });
    const earlyCpio = cpio('early');
    const mainGz = execFileSync('gzip', ['-c'], { input: cpio('main') });
    const image = Buffer.concat([earlyCpio, Buffer.alloc(512), mainGz]);
    const t = new Tree({ time: { sec: 0, nsec: 0 } });
    const r = await addArchive(t, new Uint8Array(image), { origin: 'initrd.img' });
    expect(r.kind).toBe('cpio');
    expect(read(t.get('/kernel/x86/microcode/GenuineIntel.bin'))).toBe('ucode');
    expect(read(t.get('/etc/hello'))).toBe('hi');
    expect(read(t.get('/init'))).toBe('#!/bin/sh\n');
  });
});
