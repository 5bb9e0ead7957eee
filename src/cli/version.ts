import { readFileSync } from 'node:fs';

/** The version from package.json, read at run time: src/cli and dist/cli both sit two levels down. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
