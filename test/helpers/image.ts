import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../../src/ext/write/writer.js';
import type { BuildOptions, BuildResult } from '../../src/ext/options.js';
import { MemorySink } from '../../src/io/memory.js';
import type { ImageSink } from '../../src/io/sink.js';
import type { Tree } from '../../src/tree/tree.js';

/**
 * A plain positional-write sink on a file descriptor, independent of src/io/file.ts: the image
 * under test comes from buildImage alone. Never-written regions stay holes.
 */
export class FdSink implements ImageSink {
  constructor(private readonly fd: number) {}
  setSize(bytes: number): void {
    ftruncateSync(this.fd, bytes);
  }
  write(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }
}

export interface BuiltImage {
  path: string;
  result: BuildResult;
}

/**
 * Build `tree` into `path`: in memory (MemorySink, then one write) when `memory`, else straight
 * to the file through FdSink (for sized multi-group images of hundreds of MiB).
 */
export function buildImageFile(tree: Tree, path: string, options: BuildOptions, memory: boolean): BuiltImage {
  if (memory) {
    const sink = new MemorySink();
    const result = buildImage(tree, sink, options);
    writeFileSync(path, sink.bytes);
    return { path, result };
  }
  const fd = openSync(path, 'w');
  try {
    const result = buildImage(tree, new FdSink(fd), options);
    return { path, result };
  } finally {
    closeSync(fd);
  }
}

/** A temp directory for one test file; `keep()` moves a failing image somewhere it survives. */
export function workDir(prefix: string): { dir: string; cleanup(): void; keep(path: string, name: string): string } {
  const dir = mkdtempSync(join(tmpdir(), `extimg-${prefix}-`));
  return {
    dir,
    cleanup(): void {
      if (process.env.EXTIMG_KEEP) {
        console.log(`EXTIMG_KEEP: leaving ${dir}`);
        return;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    keep(path: string, name: string): string {
      const kept = join(tmpdir(), 'extimg-failed');
      mkdirSync(kept, { recursive: true });
      const to = join(kept, name);
      rmSync(to, { force: true });
      renameSync(path, to);
      return to;
    },
  };
}

/**
 * Yield to the event loop. Oracle steps are long synchronous calls; vitest's worker talks to the
 * main process over RPC with a timeout, and its replies only arrive when the loop gets a turn.
 */
export function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
