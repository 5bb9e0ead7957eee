/**
 * JSON Schemas (draft 2020-12) of `extimg initrd rewrite --recipe` and `initrd create --recipe`
 * files: the build recipe's keys that apply to an initrd (RECIPE_SCHEMA's, unchanged) plus
 * `compress` and `level`. parseInitrdRecipe() is the authority; test/initrd-recipe.test.ts
 * checks that both accept the same keys.
 */
import { ENCODE_CODECS, levelRanges } from '../compress/encode.js';
import { RECIPE_SCHEMA } from '../edit/recipe-schema.js';

const p = RECIPE_SCHEMA.properties;
const level = { type: 'integer', minimum: 0, maximum: 19, description: levelRanges() } as const;

export const INITRD_REWRITE_RECIPE_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'extimg initrd rewrite recipe',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: p.$schema,
    output: { ...p.output, description: 'the new initrd, relative to the recipe' },
    compress: { enum: ['same', ...ENCODE_CODECS], description: "codec of the rewritten segment; 'same' (default) keeps the main segment's" },
    level,
    appendSegment: { type: 'boolean', description: 'keep the input byte for byte and append one segment with the added or replaced files (--append-segment)' },
    timestamp: { ...p.timestamp, description: 'clamp mtimes to this (seconds since the epoch)' },
    devices: p.devices,
    edits: p.edits,
  },
} as const;

export const INITRD_CREATE_RECIPE_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'extimg initrd create recipe',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: p.$schema,
    output: { ...p.output, description: 'the initrd, relative to the recipe' },
    compress: { enum: [...ENCODE_CODECS], description: 'codec of the archive (default gzip)' },
    level,
    owner: { ...p.owner, description: 'UID:GID of every input entry' },
    timestamp: { ...p.timestamp, description: 'clamp mtimes to this and date new entries (seconds since the epoch)' },
    exclude: p.exclude,
    oneFileSystem: p.oneFileSystem,
    inputs: p.inputs,
    devices: p.devices,
    edits: p.edits,
  },
} as const;
