import type { BuildOptions, BuildResult } from '../ext/options.js';
import { buildImage } from '../ext/writer.js';
import type { Tree } from '../tree/tree.js';
import { withFileSink, type FileSinkOptions } from './file.js';
import { MemorySink } from './memory.js';

export interface BuildToFileOptions extends BuildOptions, FileSinkOptions {}

/**
 * Build the image of `tree` into the file `path`, atomically (temp file + rename): on any error
 * no partial image and no temp file remain, and an existing `path` is left as it was.
 */
export function buildToFile(tree: Tree, path: string, options: BuildToFileOptions = {}): BuildResult {
  const { fsync, ...buildOptions } = options;
  return withFileSink(path, (sink) => buildImage(tree, sink, buildOptions), { fsync: fsync ?? false });
}

/** Build the image in memory (small images, tests, browsers). */
export function buildToBuffer(tree: Tree, options: BuildOptions = {}): { bytes: Uint8Array; result: BuildResult } {
  const sink = new MemorySink();
  const result = buildImage(tree, sink, options);
  return { bytes: sink.bytes, result };
}
