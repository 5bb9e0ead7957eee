/**
 * Moved: the extract logic is src/initrd/extract.ts, its host calls src/io/host-dir-writer.ts.
 * This re-export (io -> initrd, the wrong way) stays only while test/initrd-extract.test.ts
 * imports this path; test/layers.test.ts names it as the one exception and fails once unused.
 */
export { type ExtractOptions, type ExtractResult, type ManifestRecord, extractSegments, manifestPathFor } from '../initrd/extract.js';
