import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The helper thread runs only from the compiled package (dist/), so each case is a child
// process script against dist/io/write-behind.js, as the CLI uses it.
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m: string): string => JSON.stringify(path.join(ROOT, 'dist', ...m.split('/')));
let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'extimg-wb-'));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function runScript(body: string): Record<string, unknown> {
  const script = `
    const fs = await import('node:fs');
    const { pathToFileURL } = await import('node:url');
    const { WriteBehind } = await import(${dist('io/write-behind.js')});
    const { writeAll } = await import(${dist('io/write-ring.js')});
    const out = {};
    ${body}
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 60_000 });
  expect(r.signal).toBe(null);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

// A deterministic series of writes: overlapping rewrites, some longer than a slot, some tiny.
const WRITES = `
  let seed = 12345;
  const rnd = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  const writes = [];
  for (let i = 0; i < 300; i++) {
    const len = i % 37 === 0 ? 200000 + rnd(100000) : 1 + rnd(9000);
    const data = new Uint8Array(len);
    for (let j = 0; j < len; j += 97) data[j] = rnd(256);
    data[0] = i & 0xff;
    writes.push([rnd(3 << 20), data]);
  }
`;

describe('write-behind (compiled)', () => {
  /** WRITES through plain pwrites and through WriteBehind(options); both files, and `threaded`. */
  function sameAsPlain(name: string, options: string, settle: boolean): { threaded: unknown; same: boolean } {
    const a = path.join(work, `${name}-plain.img`);
    const b = path.join(work, `${name}-behind.img`);
    const out = runScript(`
      ${WRITES}
      const fa = fs.openSync(${JSON.stringify(a)}, 'w');
      for (const [o, d] of writes) writeAll(fa, d, o);
      fs.closeSync(fa);
      const fb = fs.openSync(${JSON.stringify(b)}, 'w');
      const wb = WriteBehind.start(fb, ${options});
      ${settle ? 'await new Promise((r) => setTimeout(r, 500)); // time to claim the ring' : ''}
      for (const [o, d] of writes) wb.write(o, d);
      out.threaded = wb.threaded;
      wb.close(true);
      fs.closeSync(fb);
    `);
    return { threaded: out['threaded'], same: fs.readFileSync(b).equals(fs.readFileSync(a)) };
  }

  it('writes in order on the helper thread: the same file as plain pwrites, rewrites included', () => {
    expect(sameAsPlain('claimed', '{ slots: 3, slotBytes: 65536 }', true)).toEqual({ threaded: true, same: true });
  });

  it('a helper that never claims the ring: this thread takes it back when it fills, same file', () => {
    const idle = path.join(work, 'idle-worker.mjs');
    fs.writeFileSync(idle, 'setTimeout(() => {}, 60000);');
    const options = `{ slots: 2, slotBytes: 65536, workerUrl: pathToFileURL(${JSON.stringify(idle)}) }`;
    expect(sameAsPlain('unclaimed', options, false)).toEqual({ threaded: false, same: true });
  });

  it('a failed write (ENOSPC on /dev/full) is thrown by a later call, and again after', () => {
    const out = runScript(`
      const fd = fs.openSync('/dev/full', 'w');
      const wb = WriteBehind.start(fd, { slots: 2, slotBytes: 4096 });
      await new Promise((r) => setTimeout(r, 500));
      out.threaded = wb.threaded;
      const errs = [];
      for (let i = 0; i < 4; i++) {
        try { wb.write(0, new Uint8Array(4096).fill(1)); } catch (e) { errs.push(e.code); }
      }
      try { wb.drain(); } catch (e) { errs.push(e.code); }
      out.first = errs[0];
      out.again = errs.length >= 2 && errs.every((c) => c === 'ENOSPC');
      wb.close(false);
    `);
    expect(out).toEqual({ threaded: true, first: 'ENOSPC', again: true });
  });

  it('close without flushing stops the thread before the caller closes its fd', () => {
    const out = runScript(`
      const file = ${JSON.stringify(path.join(work, 'e.img'))};
      const fd = fs.openSync(file, 'w');
      const wb = WriteBehind.start(fd, { slots: 4, slotBytes: 1 << 20 });
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 16; i++) wb.write(i << 20, new Uint8Array(1 << 20).fill(7));
      const t = performance.now();
      wb.close(false);
      fs.closeSync(fd);
      out.prompt = performance.now() - t < 5000;
      // Whatever was written is whole slots of 7s; nothing after the close.
      const size = fs.statSync(file).size;
      await new Promise((r) => setTimeout(r, 200));
      out.stable = fs.statSync(file).size === size && size % (1 << 20) === 0;
    `);
    expect(out).toEqual({ prompt: true, stable: true });
  });

  it('FileSink with background writes: commit gives the bytes, abort leaves nothing', () => {
    const target = path.join(work, 'sink.img');
    const out = runScript(`
      const { FileSink } = await import(${dist('io/file.js')});
      const s = new FileSink(${JSON.stringify(target)}, { background: true });
      s.setSize(4 << 20);
      for (let i = 0; i < 64; i++) s.write(i * 65536, new Uint8Array(65536).fill(i + 1));
      s.commit();
      const bytes = fs.readFileSync(${JSON.stringify(target)});
      out.ok = bytes.length === 4 << 20 && bytes[65536 * 5] === 6 && bytes[(4 << 20) - 1] === 64;
      const t = new FileSink(${JSON.stringify(path.join(work, 'gone.img'))}, { background: true });
      t.setSize(1 << 20);
      t.write(0, new Uint8Array(1 << 20).fill(1));
      t.abort();
      out.left = fs.readdirSync(${JSON.stringify(work)}).filter((n) => n.includes('gone'));
    `);
    expect(out).toEqual({ ok: true, left: [] });
  });
});
