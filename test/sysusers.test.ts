import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySysusers, parseSysusers, prepareAccountFiles, type SysusersLine } from '../src/edit/sysusers.js';
import { ExtimgError } from '../src/errors.js';
import { readContent } from '../src/edit/owner.js';
import { Tree } from '../src/tree/tree.js';
import { hasTool } from './helpers/e2fsck.js';
import { requireJudge, type SkipContext } from './helpers/env.js';
import { materializeTree } from './helpers/host.js';

/**
 * The judges: `systemd-sysusers --root=DIR` (systemd 252 here) on the same starting tree
 * written out to a host directory must leave the same passwd, group, shadow and gshadow as
 * applySysusers; `pwconv`/`grpconv -R` judge the starting files; `pwck -r -R` and
 * `grpck -r -R` must be silent on the result.
 */

const EPOCH = 1_700_000_000;
const TODAY = Math.floor(EPOCH / 86_400);
const FILES = ['passwd', 'group', 'shadow', 'gshadow'] as const;
type Files = Partial<Record<(typeof FILES)[number], string>>;

const DEBS = join(import.meta.dirname, '..', 'fixtures', 'out', 'debs', 'required');
const isRoot = process.getuid?.() === 0;

let work: string;
let counter = 0;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'extimg-sysusers-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function judgeMissing(tools: readonly string[]): string | undefined {
  if (!isRoot) return 'not root (materializing trees with owners and pwck -R need root)';
  const missing = tools.filter((t) => !hasTool(t) && !existsSync(`/usr/sbin/${t}`) && !existsSync(`/usr/bin/${t}`));
  return missing.length ? `missing host tool(s): ${missing.join(', ')}` : undefined;
}

function tool(name: string): string {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  return name;
}

function treeFiles(tree: Tree): Files {
  const out: Files = {};
  for (const f of FILES) {
    const n = tree.get(`/etc/${f}`, true);
    if (n?.kind === 'file') out[f] = new TextDecoder().decode(readContent(n.content));
  }
  return out;
}

function dirFiles(dir: string): Files {
  const out: Files = {};
  for (const f of FILES) if (existsSync(join(dir, 'etc', f))) out[f] = readFileSync(join(dir, 'etc', f), 'utf8');
  return out;
}

interface SystemdRun {
  status: number | null;
  stderr: string;
  files: Files;
  dir: string;
}

/** The starting tree as applySysusers sees it (after prepareAccountFiles), through systemd-sysusers. */
function systemdSysusers(make: () => Tree, conf: string): SystemdRun {
  const tree = make();
  prepareAccountFiles(tree, { today: TODAY });
  const dir = join(work, `root-${counter++}`);
  mkdirSync(dir);
  materializeTree(tree, dir);
  const confPath = join(work, `conf-${counter++}.conf`);
  writeFileSync(confPath, conf);
  const r = spawnSync(tool('systemd-sysusers'), [`--root=${dir}`, confPath], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH), SYSTEMD_LOG_LEVEL: 'info' },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr, files: dirFiles(dir), dir };
}

function ours(make: () => Tree, conf: string, warnings: string[] = []): { tree: Tree; files: Files; result: ReturnType<typeof applySysusers> } {
  const tree = make();
  const result = applySysusers(tree, parseSysusers(conf, 'test.conf'), { today: TODAY, onWarning: (m) => warnings.push(m) });
  return { tree, files: treeFiles(tree), result };
}

/** Run both and compare the four files. */
function same(ctx: SkipContext, make: () => Tree, conf: string, systemdConf = conf): { tree: Tree; files: Files; dir: string } {
  requireJudge(ctx, judgeMissing(['systemd-sysusers']), 'systemd-sysusers');
  const theirs = systemdSysusers(make, systemdConf);
  expect(theirs.status, theirs.stderr).toBe(0);
  const mine = ours(make, conf);
  expect(mine.files).toEqual(theirs.files);
  return { tree: mine.tree, files: mine.files, dir: theirs.dir };
}

const T = { sec: EPOCH, nsec: 0 };
const empty = (): Tree => new Tree({ time: T });

function withFiles(files: Record<string, string>): () => Tree {
  return () => {
    const t = empty();
    for (const [p, c] of Object.entries(files)) t.writeFile(p, c, { mode: 0o644 });
    return t;
  };
}

let masters: { passwd: string; group: string } | undefined;
function baseMasters(): { passwd: string; group: string } | undefined {
  if (masters) return masters;
  const deb = existsSync(DEBS) ? readdirSync(DEBS).find((f) => /^base-passwd_.*\.deb$/.test(f)) : undefined;
  if (!deb || !hasTool('dpkg-deb')) return undefined;
  const dir = join(work, 'base-passwd');
  const r = spawnSync('dpkg-deb', ['-x', join(DEBS, deb), dir]);
  if (r.status !== 0) return undefined;
  masters = {
    passwd: readFileSync(join(dir, 'usr/share/base-passwd/passwd.master'), 'utf8'),
    group: readFileSync(join(dir, 'usr/share/base-passwd/group.master'), 'utf8'),
  };
  return masters;
}

/** A tree with base-passwd's masters (and Debian 12's login.defs aging values), no /etc/passwd. */
function debianStart(extra: (t: Tree) => void = () => {}): () => Tree {
  const m = baseMasters()!;
  return () => {
    const t = empty();
    t.writeFile('/usr/share/base-passwd/passwd.master', m.passwd, { mode: 0o644 });
    t.writeFile('/usr/share/base-passwd/group.master', m.group, { mode: 0o644 });
    t.writeFile('/etc/login.defs', 'UMASK\t\t022\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t7\n', { mode: 0o644 });
    extra(t);
    return t;
  };
}

function needMasters(ctx: SkipContext): void {
  requireJudge(ctx, baseMasters() ? undefined : `no base-passwd .deb under ${DEBS} (or no dpkg-deb)`, 'base-passwd masters');
}

// ---- parsing ----------------------------------------------------------------------------------

describe('parseSysusers', () => {
  it('reads the fields, quoting, escapes, specifiers and the - defaults', () => {
    const lines = parseSysusers(
      [
        '# comment',
        '',
        'u foo - "Foo Bar" /var/lib/foo /bin/sh',
        "u  bar  500:600 'A \"quoted\" name'",
        'u baz 501:staff - /home//baz/ -',
        'u q /var/lib/q',
        'g grp 700',
        'g gp /srv/x',
        'm foo grp',
        'r - 800-899',
        'r - 42',
        'u pct - "100%% sure in %T" %V/x',
        'u esc - a\\ b',
        '  u  ws  -  ""  ',
      ].join('\n'),
      'x.conf',
    );
    const pick = (l: SysusersLine): Partial<SysusersLine> => {
      const { origin: _o, ...rest } = l;
      return rest;
    };
    expect(lines.map(pick)).toEqual([
      { type: 'u', name: 'foo', gecos: 'Foo Bar', home: '/var/lib/foo', shell: '/bin/sh', line: 3 },
      { type: 'u', name: 'bar', id: '500:600', uid: 500, gid: 600, gecos: 'A "quoted" name', line: 4 },
      { type: 'u', name: 'baz', id: '501:staff', uid: 501, groupName: 'staff', home: '/home/baz', line: 5 },
      { type: 'u', name: 'q', id: '/var/lib/q', idPath: '/var/lib/q', line: 6 },
      { type: 'g', name: 'grp', id: '700', gid: 700, line: 7 },
      { type: 'g', name: 'gp', id: '/srv/x', idPath: '/srv/x', line: 8 },
      { type: 'm', name: 'foo', id: 'grp', group: 'grp', line: 9 },
      { type: 'r', id: '800-899', range: { first: 800, last: 899 }, line: 10 },
      { type: 'r', id: '42', range: { first: 42, last: 42 }, line: 11 },
      { type: 'u', name: 'pct', gecos: '100% sure in /tmp', home: '/var/tmp/x', line: 12 },
      { type: 'u', name: 'esc', gecos: 'a b', line: 13 },
      { type: 'u', name: 'ws', line: 14 },
    ]);
  });

  const bad: Array<[string, RegExp]> = [
    ['x foo', /unknown line type 'x'/],
    ['u', /missing the type and name/],
    ['u -', /need a user name/],
    ['u 1foo', /not a valid user or group name/],
    ['u abcdefghijabcdefghijabcdefghij12', /not a valid user or group name/],
    ['u foo 65535', /65535 is reserved/],
    ['u foo 4294967295', /out of range/],
    ['u foo 010', /not a valid UID/],
    ['u foo +5', /not a valid UID/],
    ['u foo 5:bad:x', /neither a GID nor a group name/],
    ['u foo - "a:b"', /not a valid GECOS/],
    ['u foo - - relative', /not a valid home directory/],
    ['u foo - - /a/../b', /not a valid home directory/],
    ['u foo - - / bin/sh', /not a valid login shell/],
    ['u foo - - / /bin/sh extra', /trailing garbage/],
    ['u foo - "unterminated', /unterminated " quote/],
    ['u foo - trailing\\', /backslash at the end/],
    ['u foo - "%m"', /specifier '%m'/],
    ['g foo 5 gecos', /take no GECOS/],
    ['m foo', /need a group name/],
    ['m foo - x', /need a group name/],
    ['m foo bar x', /take no GECOS/],
    ['r foo 1-2', /take no name/],
    ['r -', /need an ID range/],
    ['r - 9-3', /invalid UID range/],
  ];
  for (const [text, re] of bad) {
    it(`refuses '${text}' naming the line`, () => {
      const e = (() => {
        try {
          parseSysusers(`# first\n\n${text}\n`, 'my.conf');
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e).toBeInstanceOf(ExtimgError);
      expect((e as ExtimgError).code).toBe('EINVAL');
      expect((e as ExtimgError).message).toMatch(/^my\.conf:3: /);
      expect((e as ExtimgError).message).toMatch(re);
    });
  }

  it('rejects what systemd-sysusers rejects (each bad line makes it fail)', (ctx) => {
    requireJudge(ctx, judgeMissing(['systemd-sysusers']), 'systemd-sysusers');
    for (const [text] of bad) {
      if (/%m/.test(text)) continue; // systemd expands %m from the host: refused here on purpose
      const r = systemdSysusers(empty, `${text}\n`);
      expect(r.status, text).not.toBe(0);
    }
  });
});

// ---- against systemd-sysusers -----------------------------------------------------------------

describe('applySysusers against systemd-sysusers --root', () => {
  it('explicit and allocated ids, UID:GID, UID:GROUP, members, a root-only start', (ctx) => {
    const conf = [
      'u foo - "Foo user" /var/lib/foo',
      'g bar 555',
      'u alice 1000 "Alice" /home/alice /bin/bash',
      'm alice bar',
      'u baz 700:bar',
      'u qux 701:555',
      'u quux -:555',
      'g lone',
      'm ghost newgroup',
      'u root 0',
      'u same 990',
      'g same 990',
      'u uni - "Zoë Ürban, Straße 1"',
    ].join('\n');
    const { tree, files } = same(ctx, empty, conf);
    expect(files.passwd).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh\n/);
    const r = ours(empty, conf).result;
    expect(r.users.find((u) => u.name === 'alice')).toEqual({ name: 'alice', uid: 1000, gid: 1000 });
    expect(r.groups.find((g) => g.name === 'bar')).toEqual({ name: 'bar', gid: 555 });
    const mode = (p: string): [number, number, number] => {
      const n = tree.get(p)!;
      return [n.meta.mode, n.meta.uid, n.meta.gid];
    };
    expect(mode('/etc/passwd')).toEqual([0o644, 0, 0]);
    expect(mode('/etc/group')).toEqual([0o644, 0, 0]);
    expect(mode('/etc/shadow')).toEqual([0o640, 0, 0]); // no group 'shadow' in this image
    expect(mode('/etc/gshadow')).toEqual([0o640, 0, 0]);
  });

  it('r lines restrict allocation; ids from paths in the image', (ctx) => {
    const make = (): Tree => {
      const t = empty();
      t.mkdir('/var/lib/owned', { uid: 850, gid: 851 });
      t.mkdir('/var/lib/outside', { uid: 5000, gid: 5000 });
      return t;
    };
    const conf = ['r - 800-810', 'r - 850-852', 'u a', 'g b', 'u c /var/lib/owned', 'g d /var/lib/owned', 'u e /var/lib/outside', 'u f', 'u g'].join('\n');
    same(ctx, make, conf);
  });

  it('existing users and groups are kept, clashing suggestions are reallocated, NIS lines stay last', (ctx) => {
    const make = withFiles({
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nold:x:999:999:Old:/home/old:/bin/sh\nid500:x:500:500::/:/bin/sh\n+@nis::::::\nlate:x:1500:1500::/:/bin/sh\n',
      '/etc/group': 'root:x:0:\nold:x:999:\nid500:x:500:\nwheel:x:10:old\n+\n',
    });
    const conf = ['u old - "Changed?"', 'u new 500', 'g new2 999', 'g wheel 11', 'm new wheel', 'm root wheel', 'u fresh'].join('\n');
    const { files } = same(ctx, make, conf);
    expect(files.passwd).toMatch(/old:x:999:999:Old:\/home\/old:\/bin\/sh\n/);
    expect(files.passwd).toMatch(/\n\+@nis::::::\nlate:x:1500/);
    expect(files.group).toMatch(/wheel:x:10:new,old,root\n/);
  });

  it("honours the image's login.defs SYS_UID_MIN/SYS_UID_MAX/SYS_GID_MAX (as upstream's r range)", (ctx) => {
    // Debian's systemd 252 is built without compat-mutable-uid-boundaries and ignores
    // login.defs; upstream's rule is begin = SYS_UID_MIN, end = min(999, SYS_UID_MAX,
    // SYS_GID_MAX), the same as an r line: judge with one.
    const make = withFiles({ '/etc/login.defs': '# defs\nSYS_UID_MIN\t200\nSYS_UID_MAX  400\nSYS_GID_MIN 100\nSYS_GID_MAX 300\n' });
    const conf = 'u a\ng b\nu c\n';
    const { files } = same(ctx, make, conf, `r - 200-300\n${conf}`);
    // Groups are processed first, from the top: b gets 300.
    expect(files.group).toContain('b:x:300:');
    expect(files.passwd).toContain('a:x:299:299:');
  });

  it("Debian's base-passwd masters as the start (preinst's cp -p, then pwconv/grpconv)", (ctx) => {
    needMasters(ctx);
    const conf = 'u alice 1000 "Alice" /home/alice /bin/bash\nu svc - "Service" /var/lib/svc\nm alice sudo\nm alice audio\n';
    const { files, tree } = same(ctx, debianStart(), conf);
    expect(files.passwd).toMatch(/^root:x:0:0:root:\/root:\/bin\/bash\n/);
    expect(files.passwd).toContain('alice:x:1000:1000:Alice:/home/alice:/bin/bash\n');
    expect(files.shadow).toContain(`root:*:${TODAY}:0:99999:7:::\n`);
    expect(files.shadow).toContain(`alice:!*:${TODAY}::::::\n`);
    expect(files.group).toContain('sudo:x:27:alice\n');
    expect(files.gshadow).toContain('sudo:*::alice\n');
    const shadow = tree.get('/etc/shadow')!;
    expect([shadow.meta.mode, shadow.meta.uid, shadow.meta.gid]).toEqual([0o640, 0, 42]);
  });
});

describe('applySysusers failures', () => {
  it('an item systemd would skip with an error is refused, and the tree keeps its files', () => {
    const t = withFiles({ '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', '/etc/group': 'root:x:0:\n' })();
    const before = t.get('/etc/passwd');
    expect(() => applySysusers(t, parseSysusers('u a - \nu b 5:nogroup\n', 'f.conf'), { today: TODAY })).toThrow(
      /^f\.conf:2: user 'b': group 'nogroup' does not exist/,
    );
    expect(t.get('/etc/passwd')).toBe(before);
    expect(t.get('/etc/shadow')).toBeUndefined();
    const bare = empty();
    expect(() => applySysusers(bare, parseSysusers('u b 5:7\n', 'f.conf'), { today: TODAY })).toThrow(/GID 7 does not exist/);
    expect(bare.get('/etc')).toBeUndefined();
  });

  it('no free id is an error naming the line', () => {
    expect(() => applySysusers(empty(), parseSysusers('r - 500\nu a\nu b\n', 'f.conf'), { today: TODAY })).toThrow(
      /^f\.conf:3: no free group ID available for b/,
    );
  });
});

// ---- the starting files -----------------------------------------------------------------------

describe('prepareAccountFiles', () => {
  it('copies the masters with their metadata, else writes a root-only minimum', () => {
    const t = empty();
    prepareAccountFiles(t, { today: TODAY });
    expect(treeFiles(t)).toEqual({
      passwd: 'root:x:0:0:root:/root:/bin/sh\n',
      group: 'root:x:0:\n',
      shadow: `root:*:${TODAY}::::::\n`,
      gshadow: 'root:*::\n',
    });
  });

  it('gives what pwconv -R and grpconv -R give on the copied masters', (ctx) => {
    requireJudge(ctx, judgeMissing(['pwconv', 'grpconv']), 'pwconv/grpconv');
    needMasters(ctx);
    const make = debianStart((t) => {
      t.writeFile('/etc/shadow', 'root:!:19000:0:99999:7:::\norphan:*:1::::::\n', { mode: 0o640 });
    });
    const before = make();
    const dir = join(work, `pwconv-${counter++}`);
    mkdirSync(dir);
    materializeTree(before, dir);
    for (const f of ['passwd', 'group']) {
      spawnSync('cp', ['-p', join(dir, `usr/share/base-passwd/${f}.master`), join(dir, 'etc', f)]);
    }
    for (const cmd of ['pwconv', 'grpconv']) {
      const r = spawnSync(tool(cmd), ['-R', dir], { env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    const t = make();
    prepareAccountFiles(t, { today: TODAY });
    expect(treeFiles(t)).toEqual(dirFiles(dir));
    // cp -p: the masters' metadata.
    const p = t.get('/etc/passwd')!;
    expect(p.meta.mtime).toEqual(T);
  });

  it('writes nothing when the files are already consistent', () => {
    const t = withFiles({
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
      '/etc/group': 'root:x:0:\n',
      '/etc/shadow': 'root:*:1::::::\n',
      '/etc/gshadow': 'root:*::\n',
    })();
    const nodes = ['passwd', 'group', 'shadow', 'gshadow'].map((f) => t.get(`/etc/${f}`));
    prepareAccountFiles(t, { today: TODAY });
    expect(['passwd', 'group', 'shadow', 'gshadow'].map((f) => t.get(`/etc/${f}`))).toEqual(nodes);
    for (let i = 0; i < 4; i++) expect(t.get(`/etc/${FILES[i]}`)).toBe(nodes[i]);
  });
});

// ---- homes ------------------------------------------------------------------------------------

describe('homes from /etc/skel', () => {
  const skelTree = (homeMode?: string) => (): Tree => {
    const t = empty();
    t.writeFile('/etc/login.defs', `UMASK 027\n${homeMode ? `HOME_MODE ${homeMode}\n` : ''}`, { mode: 0o644 });
    t.mkdir('/etc/skel', { mode: 0o755 });
    t.writeFile('/etc/skel/.bashrc', 'echo hi\n', { mode: 0o644, mtime: { sec: 1_000, nsec: 0 } });
    t.writeFile('/etc/skel/.profile', 'x\n', { mode: 0o600 });
    t.mkdir('/etc/skel/.config/app', { mode: 0o700 });
    t.symlink('/etc/skel/.config/link', '../.bashrc');
    t.link('/etc/skel/.profile', '/etc/skel/.profile2');
    t.mkdir('/home/existing', { mode: 0o755 });
    return t;
  };

  it('creates the home with the user as owner, HOME_MODE or 0777 & ~UMASK', () => {
    const warnings: string[] = [];
    const { tree } = ours(skelTree(), 'u alice 1000 "Alice" /home/alice /bin/bash\nu svc - - /var/lib/svc\nu bob 1001 - /home/existing\n', warnings);
    const home = tree.get('/home/alice')!;
    expect([home.kind, home.meta.mode, home.meta.uid, home.meta.gid]).toEqual(['dir', 0o750, 1000, 1000]);
    for (const p of ['.bashrc', '.profile', '.profile2', '.config', '.config/app', '.config/link']) {
      const n = tree.get(`/home/alice/${p}`)!;
      expect([p, n.meta.uid, n.meta.gid]).toEqual([p, 1000, 1000]);
    }
    expect(tree.get('/home/alice/.profile')!.meta.mode).toBe(0o600);
    expect(tree.get('/home/alice/.config/app')!.meta.mode).toBe(0o700);
    expect(tree.get('/home/alice/.bashrc')!.meta.mtime).toEqual({ sec: 1_000, nsec: 0 });
    expect(tree.get('/home/alice/.profile')).toBe(tree.get('/home/alice/.profile2'));
    // The skeleton itself is untouched.
    expect(tree.get('/etc/skel/.bashrc')!.meta.uid).toBe(0);
    expect(tree.get('/var/lib/svc')).toBeUndefined();
    expect(tree.get('/home/existing')!.meta.uid).toBe(0);
    expect(warnings.join('\n')).toMatch(/\/home\/existing of 'bob' already exists/);
  });

  it('HOME_MODE wins over UMASK', () => {
    const { tree } = ours(skelTree('0700'), 'u alice 1000 - /home/alice\n');
    expect(tree.get('/home/alice')!.meta.mode).toBe(0o700);
  });

  it('a Debian start plus a regular user passes pwck -r -R and grpck -r -R', (ctx) => {
    requireJudge(ctx, judgeMissing(['pwck', 'grpck']), 'pwck/grpck');
    needMasters(ctx);
    const make = debianStart((t) => {
      // The homes and shells base-passwd's users name, as a full system has them.
      for (const d of ['/root', '/usr/sbin', '/bin', '/dev', '/usr/games', '/var/cache/man', '/var/spool/lpd', '/var/mail', '/var/spool/news', '/var/spool/uucp', '/var/www', '/var/backups', '/var/list', '/run/ircd', '/nonexistent', '/var/lib/svc']) {
        t.mkdir(d);
      }
      for (const s of ['/bin/bash', '/usr/sbin/nologin', '/bin/sync', '/bin/sh']) t.writeFile(s, '', { mode: 0o755 });
      t.mkdir('/etc/skel');
      t.writeFile('/etc/skel/.bashrc', '# bashrc\n', { mode: 0o644 });
    });
    const { tree } = ours(make, 'u alice 1000 "Alice" /home/alice /bin/bash\nu svc - "Service" /var/lib/svc\nm alice sudo\ng extra\nm svc extra\n');
    const dir = join(work, `pwck-${counter++}`);
    mkdirSync(dir);
    materializeTree(tree, dir);
    for (const cmd of ['pwck', 'grpck']) {
      const r = spawnSync(tool(cmd), ['-r', '-R', dir], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`, cmd).toBe('');
      expect(r.status, cmd).toBe(0);
    }
    const st = statSync(join(dir, 'home/alice/.bashrc'));
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
  });
});

// ---- random configurations ---------------------------------------------------------------------

describe('random u/g/m lines', () => {
  it('give an ExtimgError or the same files as systemd-sysusers (>= 100 runs)', (ctx) => {
    requireJudge(ctx, judgeMissing(['systemd-sysusers']), 'systemd-sysusers');
    const names = ['a', 'b', 'c', 'daemon', 'root', 'svc', 'web', 'old'];
    const ids = [0, 1, 2, 500, 990, 997, 998, 999, 1000, 1001];
    const name = fc.constantFrom(...names);
    const idText = fc.oneof(
      fc.constant('-'),
      fc.constantFrom(...ids).map(String),
      fc.tuple(fc.constantFrom(...ids), fc.constantFrom(...ids)).map(([u, g]) => `${u}:${g}`),
      fc.tuple(fc.constantFrom(...ids), name).map(([u, g]) => `${u}:${g}`),
    );
    const line = fc.oneof(
      fc.tuple(name, idText, fc.constantFrom('-', '"Some One"'), fc.constantFrom('-', '/var/lib/x', '/home/h')).map(([n, id, ge, h]) => `u ${n} ${id} ${ge} ${h}`),
      fc.tuple(name, fc.oneof(fc.constant('-'), fc.constantFrom(...ids).map(String))).map(([n, id]) => `g ${n} ${id}`),
      fc.tuple(name, name).map(([u, g]) => `m ${u} ${g}`),
      fc.constantFrom('r - 990-999', 'r - 500-501'),
    );
    const start = fc.constantFrom(
      empty,
      withFiles({
        '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nold:x:998:998:Old:/:/bin/sh\ndaemon:x:1:1::/:/bin/sh\n',
        '/etc/group': 'root:x:0:\nold:x:998:\nsvc:x:997:\nweb:x:1000:old\n',
      }),
    );
    let compared = 0;
    let refused = 0;
    fc.assert(
      fc.property(start, fc.array(line, { minLength: 1, maxLength: 8 }), (make, ls) => {
        const conf = `${ls.join('\n')}\n`;
        const theirs = systemdSysusers(make, conf);
        let mine: Files;
        try {
          mine = ours(make, conf).files;
        } catch (e) {
          if (!(e instanceof ExtimgError)) throw e;
          // Refused where systemd logged an error for the item (and went on) or failed.
          refused++;
          expect(theirs.status !== 0 || /not found|please create|No free|already exists|collision/i.test(theirs.stderr), `${e.message}\n${theirs.stderr}`).toBe(true);
          return;
        }
        expect(theirs.status, theirs.stderr).toBe(0);
        expect(mine, `${conf}\n${theirs.stderr}`).toEqual(theirs.files);
        compared++;
        rmSync(theirs.dir, { recursive: true, force: true });
      }),
      // A fixed seed keeps CI stable; SYSUSERS_SEED=N explores others (1-12 passed when written).
      { numRuns: 200, seed: Number(process.env.SYSUSERS_SEED ?? 16) },
    );
    expect(compared).toBeGreaterThan(100);
    console.log(`sysusers property: ${compared} compared, ${refused} refused`);
  });
});
