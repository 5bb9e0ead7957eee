export * from './sink.js';
export * from './memory.js';
export * from './file.js';
export { FileSource } from './file-source.js';
