import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// What users get: `npm pack`, installed into an empty folder, gives a working `npx extimg`
// and `import { ... } from 'extimg'`. Its runtime dependencies are in npm's cache after the
// project's own install, so this runs offline.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'extimg-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

describe('npm package', () => {
  it('installs from the tarball and works as CLI and library', () => {
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: root, env, stdio: 'pipe' });
    const tgz = readdirSync(work).find((f) => /^extimg-.*\.tgz$/.test(f));
    expect(tgz).toBeDefined();
    const listing = execFileSync('tar', ['-tzf', join(work, tgz!)]).toString();
    expect(listing).toContain('package/dist/cli/main.js');
    expect(listing).toContain('package/dist/index.d.ts');
    expect(listing).not.toContain('package/src/');
    expect(listing).not.toContain('package/test/');

    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }));
    const install = spawnSync('npm', ['install', '--offline', join(work, tgz!)], { cwd: app, env, encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    // Nothing about extimg in npm's output: no install or prepare script that the installing
    // project would be asked to approve (npm 11 warns about every unapproved script).
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/extimg|prepare|install-scripts/);

    const version = execFileSync('npx', ['--no-install', 'extimg', '--version'], { cwd: app, env }).toString().trim();
    expect(version).toMatch(/\d+\.\d+\.\d+/);

    writeFileSync(
      join(app, 'use.mjs'),
      `import { Tree, buildToBuffer } from 'extimg';
       const t = new Tree({ time: { sec: 0, nsec: 0 } });
       t.writeFile('/hello', 'hi');
       const { bytes, result } = buildToBuffer(t, { type: 'ext2', timestamp: 0 });
       console.log(bytes.length === result.bytes && bytes[1080] === 0x53 && bytes[1081] === 0xef ? 'ok' : 'bad');`,
    );
    expect(execFileSync('node', ['use.mjs'], { cwd: app, env }).toString().trim()).toBe('ok');
  });
});
