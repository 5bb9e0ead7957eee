import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** tsc's diagnostics when src/ did not compile cleanly, '' when it did. */
    tscErrors: string;
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Run tsc once before all tests so CLI tests exercise dist/ exactly as installed. A type error
 * does not stop the other suites (tsc still emits); test/cli.test.ts reports it as a failure.
 */
export default function setup(project: TestProject): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
  const errors = r.status === 0 ? '' : `${r.stdout}${r.stderr}`.trim() || `tsc exited with ${r.status ?? r.signal}`;
  if (errors) console.warn(`test/setup/build.ts: tsc reported errors:\n${errors}`);
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error(`tsc produced no dist/cli/main.js:\n${errors}`);
  project.provide('tscErrors', errors);
}
