import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * vitest strips types without checking them, so a renamed struct field used by a test would only
 * show up at run time (as an undefined offset). tsconfig.test.json checks src/ and test/ together;
 * this runs it once (`npm run typecheck:test`) and fails with tsc's diagnostics.
 */
describe('typecheck', () => {
  it('src/ and test/ pass tsc -p tsconfig.test.json', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.test.json'), '--pretty', 'false'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.error) throw new Error(`tsc could not run: ${r.error.message}`);
    const output = `${r.stdout}${r.stderr}`.trim();
    expect(r.status, `tsc -p tsconfig.test.json reported:\n${output}`).toBe(0);
  }, 180_000);
});
