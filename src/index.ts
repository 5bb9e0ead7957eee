// The public API: re-exports only.
export * from './tree/index.js';
export * from './errors.js';
export * from './ext/options.js';
export { buildImage } from './ext/writer.js';
export * from './io/index.js';
export { addHostDirectory, HostFileContent, decodeDev, type HostDirectoryOptions } from './ingest/hostdir.js';
export * from './edit/index.js';
