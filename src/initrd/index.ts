export { type Segment, type SegmentCompression, decompressPrefix, scanSegments } from './segments.js';
export { type ListedEntry, escapeName, formatEntry, listEntry, listSegments, typeLetter } from './list.js';
export { type ExtractOptions, type ExtractResult, type ManifestRecord, extractSegments, manifestPathFor } from './extract.js';
export { type CreateOptions, type CreateResult, createInitrd } from './create.js';
export { type RewriteOptions, type RewriteResult, rewriteInitrd, treeToNewc } from './rewrite.js';
export {
  type InitrdRecipe,
  type InitrdRecipeCommand,
  type ParseInitrdRecipeOptions,
  INITRD_ONLY_RECIPE_KEYS,
  INITRD_RECIPE_KEYS,
  initrdRecipeFromJson,
  parseInitrdRecipe,
  refusedRecipeKey,
} from './recipe.js';
export type { EncodeCodec } from '../compress/encode.js';
export { INITRD_CREATE_RECIPE_SCHEMA, INITRD_REWRITE_RECIPE_SCHEMA } from './recipe-schema.js';
