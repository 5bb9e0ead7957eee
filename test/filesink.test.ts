import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExtimgError } from '../src/errors.js';
import { FileSink, withFileSink } from '../src/io/file.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'extimg-filesink-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileSink', () => {
  it('writes a temp beside the target and renames it on commit', () => {
    const target = path.join(dir, 'out.img');
    const sink = new FileSink(target);
    expect(path.dirname(sink.tempPath)).toBe(dir);
    expect(path.basename(sink.tempPath)).toMatch(new RegExp(`^\\.out\\.img\\.${process.pid}\\.[0-9a-f]+\\.tmp$`));
    sink.setSize(8192);
    sink.write(1024, new Uint8Array([1, 2, 3]));
    sink.write(8190, new Uint8Array([9, 9]));
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([path.basename(sink.tempPath)]);
    sink.commit();
    expect(fs.readdirSync(dir)).toEqual(['out.img']);
    const bytes = fs.readFileSync(target);
    expect(bytes.length).toBe(8192);
    expect([...bytes.subarray(1024, 1027)]).toEqual([1, 2, 3]);
    expect([...bytes.subarray(8190)]).toEqual([9, 9]);
    expect(bytes.subarray(0, 1024).every((b) => b === 0)).toBe(true);
  });

  it('makes the file exactly setSize long and sparse', () => {
    const target = path.join(dir, 'big.img');
    const sink = new FileSink(target);
    const size = 64 * 1024 * 1024 + 1024;
    sink.setSize(size);
    sink.write(0, new Uint8Array(4096).fill(0xaa));
    sink.commit();
    const st = fs.statSync(target);
    expect(st.size).toBe(size);
    // Never-written regions are holes: far fewer blocks than the length.
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('abort leaves nothing and is idempotent', () => {
    const sink = new FileSink(path.join(dir, 'x.img'));
    sink.setSize(4096);
    sink.write(0, new Uint8Array([1]));
    sink.abort();
    sink.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(() => sink.write(0, new Uint8Array([1]))).toThrow(/aborted/);
  });

  it('replaces an existing target atomically', () => {
    const target = path.join(dir, 'out.img');
    fs.writeFileSync(target, 'old contents that are longer than the new image');
    const sink = new FileSink(target);
    sink.setSize(3);
    sink.write(0, new TextEncoder().encode('new'));
    sink.commit();
    expect(fs.readFileSync(target, 'utf8')).toBe('new');
  });

  it('reports a missing output directory as one ExtimgError line', () => {
    const target = path.join(dir, 'no', 'such', 'out.img');
    expect(() => new FileSink(target)).toThrow(ExtimgError);
    expect(() => new FileSink(target)).toThrow(`${target}: cannot create the output: no such file or directory`);
  });
});

describe('withFileSink', () => {
  it('commits on success', () => {
    const target = path.join(dir, 'ok.img');
    const r = withFileSink(target, (sink) => {
      sink.setSize(10);
      sink.write(0, new Uint8Array([7]));
      return 42;
    });
    expect(r).toBe(42);
    expect(fs.readdirSync(dir)).toEqual(['ok.img']);
    expect(fs.statSync(target).size).toBe(10);
  });

  it('leaves neither output nor temp when the build throws, before or after setSize', () => {
    const target = path.join(dir, 'fail.img');
    expect(() =>
      withFileSink(target, () => {
        throw new ExtimgError('ENOSPC', 'does not fit');
      }),
    ).toThrow('does not fit');
    expect(() =>
      withFileSink(target, (sink) => {
        sink.setSize(1 << 20);
        sink.write(4096, new Uint8Array(100).fill(1));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('keeps an existing target untouched when the build fails', () => {
    const target = path.join(dir, 'keep.img');
    fs.writeFileSync(target, 'previous');
    expect(() =>
      withFileSink(target, (sink) => {
        sink.setSize(5);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(fs.readdirSync(dir)).toEqual(['keep.img']);
    expect(fs.readFileSync(target, 'utf8')).toBe('previous');
  });

  it('refuses a directory as the target before building', () => {
    let called = false;
    expect(() =>
      withFileSink(dir, () => {
        called = true;
      }),
    ).toThrow(`${dir}: is a directory`);
    expect(called).toBe(false);
  });
});
