import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { addArchive } from '../src/ingest/archive.js';
import { Tree } from '../src/tree/tree.js';
import { buildAndRead, expectImageMatchesDir, readBytes, run } from './helpers/archives.js';
import { missingTools, requireJudge } from './helpers/env.js';
import { breathe, workDir } from './helpers/image.js';

/**
 * Real Debian packages (fixtures/fetch-debs.sh required: ~100 packages, what debootstrap's first
 * stage unpacks) applied in order into one tree must read back from the image like `dpkg-deb -x`
 * of the same packages into one directory. Skipped (with a line saying so) when not fetched.
 */

const DIR = fileURLToPath(new URL('../fixtures/out/debs/required', import.meta.url));
const work = workDir('ingest-realdebs');
afterAll(() => work.cleanup());

describe('real Debian packages', () => {
  it('fixtures/out/debs/required: image vs dpkg-deb -x', async (ctx) => {
    requireJudge(ctx, missingTools(['e2fsck', 'debugfs', 'dpkg-deb']), 'real .deb oracle');
    const debs = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((n) => n.endsWith('.deb')).sort() : [];
    if (debs.length === 0) {
      console.log(`SKIP real .deb oracle: no packages in ${DIR} (run fixtures/fetch-debs.sh required)`);
      ctx.skip();
    }
    const tree = new Tree({ time: { sec: 1_000_000_000, nsec: 0 } });
    const ref = join(work.dir, 'ref');
    fs.mkdirSync(ref);
    const kinds = new Map<string, number>();
    for (const name of debs) {
      const path = join(DIR, name);
      // The data as dpkg-deb -x unpacks it; the package database is test/package-db.test.ts's.
      const r = await addArchive(tree, readBytes(path), { origin: path, packageDb: false });
      kinds.set(`${r.kind}/${r.codec ?? 'none'}`, (kinds.get(`${r.kind}/${r.codec ?? 'none'}`) ?? 0) + 1);
      run('dpkg-deb', ['-x', path, ref]);
      await breathe();
    }
    console.log(`real .deb oracle: ${debs.length} packages (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`);
    const { image } = buildAndRead(tree, work.dir, 'debs');
    // dpkg-deb -x sets directory times as tar leaves each directory; later packages change them.
    expectImageMatchesDir(image, ref, 'real debs', { dirTimes: false });
    expect(debs.length).toBeGreaterThan(0);
  }, 600_000);
});
