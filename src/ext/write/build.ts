import { checkTarget, FileSink, withFileSink, type FileSinkOptions } from '../../io/file.js';
import { MemorySink } from '../../io/memory.js';
import { cores } from '../../io/threads.js';
import type { Tree } from '../../tree/tree.js';
import type { BuildOptions, BuildResult } from '../options.js';
import { buildImage, buildImageAsync } from './writer.js';

export interface BuildToFileOptions extends BuildOptions, FileSinkOptions {}

/** Write-behind pays where a second core can take the kernel's copying (and the image is large). */
function background(options: FileSinkOptions): boolean | 'auto' {
  if (options.background !== undefined) return options.background;
  return cores() > 1 ? 'auto' : false;
}

/**
 * Build the image of `tree` into the file `path`, atomically (temp file + rename): on any error
 * no partial image and no temp file remain, and an existing `path` is left as it was.
 */
export function buildToFile(tree: Tree, path: string, options: BuildToFileOptions = {}): BuildResult {
  const { fsync, background: _bg, ...buildOptions } = options;
  return withFileSink(path, (sink) => buildImage(tree, sink, buildOptions), { fsync: fsync ?? false, background: background(options) });
}

/**
 * buildToFile for long builds in an event loop: the writer pauses every few MiB, so signal
 * handlers run; aborting `signal` stops the build and removes the temp file. The CLI uses it
 * so that Ctrl-C leaves no output behind.
 */
export async function buildToFileAsync(tree: Tree, path: string, options: BuildToFileOptions = {}, signal?: AbortSignal): Promise<BuildResult> {
  const { fsync, background: _bg, ...buildOptions } = options;
  checkTarget(path);
  const sink = new FileSink(path, { fsync: fsync ?? false, background: background(options) });
  const onAbort = (): void => sink.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await buildImageAsync(tree, sink, buildOptions, signal);
    sink.commit();
    return result;
  } catch (e) {
    sink.abort();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Build the image in memory (small images, tests, browsers). */
export function buildToBuffer(tree: Tree, options: BuildOptions = {}): { bytes: Uint8Array; result: BuildResult } {
  const sink = new MemorySink();
  const result = buildImage(tree, sink, options);
  return { bytes: sink.bytes, result };
}
