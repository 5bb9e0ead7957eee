import { RECIPE_SCHEMA } from '../edit/recipe-schema.js';
import type { CliContext } from './context.js';
import { SCHEMA_HELP } from './help.js';
import { usageError } from './usage.js';

/** `extimg schema`: print the recipe's JSON Schema (for editors: "$schema" in a recipe). */
export function schemaCommand(args: string[], ctx: CliContext): number {
  if (args.includes('-h') || args.includes('--help')) {
    ctx.stdout.write(SCHEMA_HELP);
    return 0;
  }
  if (args.length > 0) throw usageError(`unexpected argument '${args[0]}'`, 'schema');
  ctx.stdout.write(`${JSON.stringify(RECIPE_SCHEMA, null, 2)}\n`);
  return 0;
}
