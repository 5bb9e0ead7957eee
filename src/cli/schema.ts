import { RECIPE_SCHEMA } from '../edit/recipe-schema.js';
import { INITRD_CREATE_RECIPE_SCHEMA, INITRD_REWRITE_RECIPE_SCHEMA } from '../initrd/recipe-schema.js';
import type { CliContext } from './context.js';
import { SCHEMA_HELP } from './help.js';
import { usageError } from './usage.js';

const SCHEMAS: Record<string, unknown> = {
  build: RECIPE_SCHEMA,
  'initrd-rewrite': INITRD_REWRITE_RECIPE_SCHEMA,
  'initrd-create': INITRD_CREATE_RECIPE_SCHEMA,
};

/** `extimg schema [COMMAND]`: print a recipe JSON Schema (for editors: "$schema" in a recipe). */
export function schemaCommand(args: string[], ctx: CliContext): number {
  if (args.includes('-h') || args.includes('--help')) {
    ctx.stdout.write(SCHEMA_HELP);
    return 0;
  }
  if (args.length > 1) throw usageError(`unexpected argument '${args[1]}'`, 'schema');
  const which = args[0] ?? 'build';
  const schema = SCHEMAS[which];
  if (schema === undefined) throw usageError(`unknown recipe kind '${which}' (${Object.keys(SCHEMAS).join(', ')})`, 'schema');
  ctx.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  return 0;
}
