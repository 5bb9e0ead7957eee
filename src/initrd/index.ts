export { type Segment, type SegmentCompression, decompressPrefix, scanSegments } from './segments.js';
export { type ListedEntry, escapeName, formatEntry, listEntry, listSegments, typeLetter } from './list.js';
export { type ExtractOptions, type ExtractResult, type ManifestRecord, extractSegments, manifestPathFor } from './extract.js';
export { type CreateOptions, type CreateResult, createInitrd } from './create.js';
