export * from './content.js';
export * from './node.js';
export * from './names.js';
export * from './tree.js';
