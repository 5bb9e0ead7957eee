import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkHashSyntax, crypt, hashPassword, makeSetting, schemeForImage, yescryptSetting, type PasswordScheme } from '../src/edit/crypt.js';
import { isExtimgError } from '../src/errors.js';
import { IN_CI, requireJudge } from './helpers/env.js';

/**
 * crypt(3) is the judge (issue #16): this machine's libxcrypt through perl's crypt(), which hands
 * the password and setting to crypt(3) as they are. Every hash here must equal its output byte
 * for byte, failure tokens ("*0", "*1") included.
 */

const RUNS = Number(process.env.EXTIMG_CRYPT_RUNS) || (IN_CI ? 200 : 100);
const YESCRYPT_RUNS = Number(process.env.EXTIMG_CRYPT_YESCRYPT_RUNS) || (IN_CI ? 50 : 25);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** crypt(3) through perl, for many (password, setting) pairs in one process. Settings here hold no tab or newline. */
function perlCrypt(cases: { pw: Uint8Array; setting: string }[]): string[] {
  const script = 'while (<STDIN>) { chomp; my ($p, $s) = split /\\t/, $_, 2; my $r = crypt(pack("H*", $p), $s); print defined $r ? $r : "UNDEF", "\\n"; }';
  const input = cases.map((c) => `${hex(c.pw)}\t${c.setting}\n`).join('');
  const out = execFileSync('perl', ['-e', script], { input, encoding: 'latin1', maxBuffer: 64 << 20 });
  return out.split('\n').slice(0, cases.length);
}

/** One pair through perl's argv (for settings with control characters). */
function perlCryptArgv(pw: Uint8Array, setting: string): string {
  return execFileSync('perl', ['-e', 'my $r = crypt(pack("H*", $ARGV[0]), $ARGV[1]); print defined $r ? $r : "UNDEF"', hex(pw), setting], { encoding: 'latin1' });
}

/** Why the judge cannot run here, or undefined: perl with a libcrypt that computes $y$, $6$ and $5$. */
const judgeMissing = ((): string | undefined => {
  try {
    const [y, s6, s5] = perlCrypt([
      { pw: utf8('pw'), setting: '$y$j9T$abcdefgh' },
      { pw: utf8('pw'), setting: '$6$abc' },
      { pw: utf8('pw'), setting: '$5$abc' },
    ]);
    if (!y?.startsWith('$y$j9T$abcdefgh$')) return `perl's crypt() (libcrypt) does not compute yescrypt: returned ${JSON.stringify(y)}`;
    if (!s6?.startsWith('$6$abc$') || !s5?.startsWith('$5$abc$')) return "perl's crypt() (libcrypt) does not compute SHA-crypt";
    return undefined;
  } catch (e) {
    return `perl is not available: ${(e as Error).message.split('\n')[0]}`;
  }
})();

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const b64char = fc.constantFrom(...ITOA64);
/** Printable ASCII: the alphabet, plus characters libxcrypt refuses ('!', '*', ':', ';', '\\', ' ') or takes into a salt. */
const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));

/** Passwords as crypt(3) takes them: bytes without NUL (UTF-8 or not), empty, past 64 and 128 bytes, up to the limit. */
const password = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 200 }).map((b) => b.map((x) => x || 1)),
  fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => utf8(s.replace(/\0/g, 'x'))),
  fc.constantFrom(new Uint8Array(0), new Uint8Array(64).fill(0x61), new Uint8Array(65).fill(0x62), new Uint8Array(128).fill(0xff), new Uint8Array(511).fill(0x7a), new Uint8Array(512).fill(0x7a)),
);

const saltText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: b64char, minLength: 0, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: printable, minLength: 0, maxLength: 20 }) },
);

/** rounds=: none, in range, below the minimum, above the maximum, malformed. */
const roundsPart = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.integer({ min: 1000, max: 2500 }).map((n) => `rounds=${n}$`) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }).map((n) => `rounds=${n}$`) },
  { weight: 1, arbitrary: fc.constantFrom('rounds=1000000000$', 'rounds=999999999999999999999$', 'rounds=01000$', 'rounds=1000', 'rounds=$', 'rounds=x$', 'rounds=5000$', 'rounds=1000$rounds=1000$', 'rounds=-1000$', 'rounds= 1000$') },
);

/** A hash part after the salt sometimes (crypt(pw, hash) is how hashes are verified). */
const tail = fc.oneof(fc.constant(''), fc.string({ unit: b64char, maxLength: 90 }).map((s) => `$${s}`));

function shaProperty(prefix: '$6$' | '$5$') {
  return fc.property(password, roundsPart, saltText, tail, (pw, rounds, salt, rest) => {
    const setting = `${prefix}${rounds}${salt}${rest}`;
    const [expected] = perlCrypt([{ pw, setting }]);
    expect(crypt(pw, setting)).toBe(expected);
  });
}

describe('crypt(): SHA-crypt against libxcrypt', () => {
  it(`$6$ (sha512crypt): random passwords, salts, rounds= (${RUNS} runs)`, (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    fc.assert(shaProperty('$6$'), { numRuns: RUNS });
  });

  it(`$5$ (sha256crypt): random passwords, salts, rounds= (${RUNS} runs)`, (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    fc.assert(shaProperty('$5$'), { numRuns: RUNS });
  });
});

/** Costs libxcrypt computes (N, r, p, t and the flavor), small enough for a test run. */
const yescryptCost = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('j7T', 'j8T', 'j9T', 'jAT').map((c) => `$y$${c}$`) },
  {
    weight: 3,
    // N * r * p * (t + 1) up to 2^17 (j9T's N * r)
    arbitrary: fc
      .record({ nLog2: fc.integer({ min: 2, max: 12 }), p: fc.integer({ min: 1, max: 4 }), t: fc.integer({ min: 0, max: 3 }), flags: fc.constantFrom(0xb6, 0xb6, 0xb6, 0, 1) })
      .chain((c) => fc.integer({ min: 1, max: Math.max(1, Math.min(40, Math.floor(2 ** 17 / (2 ** c.nLog2 * c.p * (c.t + 1))))) }).map((r) => ({ ...c, r })))
      .map(({ nLog2, r, p, t, flags }) => yescryptSetting({ flags, N: 2 ** nLog2, r, p, t: flags === 0 ? 0 : t }, new Uint8Array(0))),
  },
  // Settings libxcrypt refuses: N of 2, p too large for N, classic scrypt with t, unknown flavors, truncated.
  { weight: 1, arbitrary: fc.constantFrom('$y$j.T$', '$y$j7T.0$', '$y$.7T/.$', '$y$k9T$', '$y$j9', '$y$$', '$y$j9T', '$y$j9T/.$', '$y$j9T3.$') },
);

const yescryptSalt = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 64 }).map((b) => encodeSalt(b)) },
  { weight: 1, arbitrary: fc.string({ unit: b64char, maxLength: 90 }) },
  { weight: 1, arbitrary: fc.string({ unit: printable, maxLength: 24 }) },
);

/** A salt as yescrypt encodes it (little-endian 6-bit groups): taken from a setting made for those bytes. */
function encodeSalt(bytes: Uint8Array): string {
  return yescryptSetting({ N: 4, r: 1 }, bytes).slice('$y$j/.$'.length);
}

describe('crypt(): yescrypt against libxcrypt', () => {
  it(`$y$: random passwords, salts and costs (${YESCRYPT_RUNS} runs)`, (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    fc.assert(
      fc.property(password, yescryptCost, yescryptSalt, tail, (pw, cost, salt, rest) => {
        const setting = cost + salt + rest;
        const [expected] = perlCrypt([{ pw, setting }]);
        expect(crypt(pw, setting)).toBe(expected);
      }),
      { numRuns: YESCRYPT_RUNS },
    );
  });

  it('Debian costs j7T..jAT, r and p variants, classic scrypt and WORM flavors', (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    const salt = '/6k.2IU/5UE08g.1Bsk1E.';
    const settings = ['$y$j7T$', '$y$j8T$', '$y$j9T$', '$y$jAT$', '$y$j75$', '$y$j85$', '$y$jD/$', '$y$j7mL$', '$y$j75..$', '$y$j9T.0$', '$y$j75/0$', '$y$.75$', '$y$/75/.$', '$y$./..1$'].map((s) => s + salt);
    const pws = settings.map((_, i) => utf8(`pässwörd ${i}`));
    const expected = perlCrypt(settings.map((setting, i) => ({ pw: pws[i]!, setting })));
    settings.forEach((setting, i) => {
      expect(expected[i]).toMatch(/^\$y\$/);
      expect(crypt(pws[i]!, setting)).toBe(expected[i]);
    });
  });
});

describe('crypt(): what libxcrypt refuses', () => {
  it('settings and passwords it fails on give the same failure token', (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    const settings = [
      '$6$rounds=999$abc', '$6$rounds=0$abc', '$6$rounds=01000$abc', '$6$rounds=1000000000$abc', '$6$rounds=abc', '$6$rounds=1000',
      '$5$rounds=10$x', '$6$a:b', '$6$a b', '$6$a;b', '$6$a*b', '$6$a!b', '$6$a\\b', '$6$a\nb', '$6$a\tb', '$6$\x7f', '$6$é',
      '$y$j9T$a', '$y$j7T$abc', '$y$j9T$ab$c', '$y$j9$abc', '$y$j99T$abc', '$y$j9T$' + 'a'.repeat(87), '$y$j9T$' + '.'.repeat(400),
      '*0', '*0$6$abc', '*1', '*',
    ];
    for (const setting of settings) {
      const expected = perlCryptArgv(utf8('pw'), setting);
      expect([setting, crypt('pw', setting)]).toEqual([setting, expected]);
    }
    // 511 bytes is the longest password crypt(3) takes.
    for (const n of [511, 512, 600]) expect(crypt(new Uint8Array(n).fill(0x41), '$6$abc')).toBe(perlCryptArgv(new Uint8Array(n).fill(0x41), '$6$abc'));
    expect(crypt(new Uint8Array(512).fill(0x41), '$6$abc')).toBe('*0');
  });

  it('throws for a scheme it does not compute, a NUL in the password, a yescrypt cost past the memory bound', () => {
    for (const setting of ['$1$abc', '$2b$10$abcdefghijklmnopqrstuv', 'ab', '$7$C6..../....SodiumChloride', '$gy$j9T$abc', '']) {
      expect(() => crypt('pw', setting), setting).toThrow(/unsupported hash scheme/);
    }
    expect(() => crypt(new Uint8Array([0x61, 0, 0x62]), '$6$abc')).toThrow(/NUL/);
    expect(() => crypt('a\0b', '$6$abc')).toThrow(/NUL/);
    try {
      crypt('pw', yescryptSetting({ N: 2 ** 16, r: 2 ** 20 }, new Uint8Array(16))); // 2^43 bytes
      expect.unreachable();
    } catch (e) {
      expect(isExtimgError(e) && e.code).toBe('EINVAL');
    }
  });
});

describe('makeSetting and hashPassword', () => {
  const schemes: PasswordScheme[] = ['yescrypt', 'sha512crypt', 'sha256crypt'];

  it('settings in the form mkpasswd and crypt_gensalt write', () => {
    const salt = new Uint8Array(16).map((_, i) => i * 17);
    expect(makeSetting('yescrypt', salt)).toMatch(/^\$y\$j9T\$[./0-9A-Za-z]{22}$/);
    expect(makeSetting('yescrypt', salt, 5)).toBe(makeSetting('yescrypt', salt));
    expect(makeSetting('yescrypt', salt, 1)).toMatch(/^\$y\$j75\$/);
    expect(makeSetting('yescrypt', salt, 3)).toMatch(/^\$y\$j7T\$/);
    expect(makeSetting('yescrypt', salt, 6)).toMatch(/^\$y\$jAT\$/);
    expect(makeSetting('yescrypt', salt, 11)).toMatch(/^\$y\$jFT\$/);
    expect(() => makeSetting('yescrypt', salt, 12)).toThrow(/cost/);
    expect(() => makeSetting('yescrypt', new Uint8Array(0))).toThrow(/salt/);
    expect(() => makeSetting('yescrypt', new Uint8Array(65))).toThrow(/salt/);
    expect(makeSetting('sha512crypt', salt)).toMatch(/^\$6\$[./0-9A-Za-z]{16}$/);
    expect(makeSetting('sha256crypt', salt.subarray(0, 3))).toMatch(/^\$5\$[./0-9A-Za-z]{4}$/);
    expect(makeSetting('sha512crypt', salt, 5000)).toBe(makeSetting('sha512crypt', salt));
    expect(makeSetting('sha512crypt', salt, 65536)).toMatch(/^\$6\$rounds=65536\$/);
    // Clamped as crypt_gensalt clamps.
    expect(makeSetting('sha512crypt', salt, 10)).toMatch(/^\$6\$rounds=1000\$/);
    expect(makeSetting('sha256crypt', salt, 5e9)).toMatch(/^\$5\$rounds=999999999\$/);
    expect(() => makeSetting('sha512crypt', new Uint8Array(0))).toThrow(/salt/);
  });

  it('settings made here are computed by crypt(3) to the same hashes, and verify', (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    const cases: { pw: Uint8Array; setting: string }[] = [];
    const salt = (n: number, k: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 37 + k * 101) & 255);
    for (const cost of [1, 2, 3, 4, 5, 6]) cases.push({ pw: utf8(`cost ${cost}`), setting: makeSetting('yescrypt', salt(16, cost), cost) });
    for (const n of [1, 2, 3, 16, 33, 64]) cases.push({ pw: utf8(`salt ${n}`), setting: makeSetting('yescrypt', salt(n, n)) });
    for (const scheme of ['sha512crypt', 'sha256crypt'] as const) {
      for (const rounds of [undefined, 10, 1000, 5000, 7777]) cases.push({ pw: utf8(`${scheme} ${rounds}`), setting: makeSetting(scheme, salt(12, rounds ?? 0), rounds) });
      for (const n of [1, 2, 3, 4, 12, 20]) cases.push({ pw: utf8(`${scheme} salt ${n}`), setting: makeSetting(scheme, salt(n, n)) });
    }
    const expected = perlCrypt(cases);
    const hashes = cases.map((c) => crypt(c.pw, c.setting));
    expect(hashes).toEqual(expected);
    // Verification: crypt(password, hash) === hash, by libxcrypt.
    expect(perlCrypt(cases.map((c, i) => ({ pw: c.pw, setting: hashes[i]! })))).toEqual(hashes);
    for (const h of hashes) expect(checkHashSyntax(h)).toEqual({ ok: true, scheme: h.startsWith('$y$') ? 'yescrypt' : h.startsWith('$6$') ? 'sha512crypt' : 'sha256crypt' });
  });

  it('hashPassword: crypt(3) verifies it; a wrong password does not', (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    for (const scheme of schemes) {
      for (const pw of ['correct horse', '', 'ünïcødé 🔑', 'x'.repeat(300)]) {
        const hash = hashPassword(pw, scheme);
        expect(checkHashSyntax(hash)).toEqual({ ok: true, scheme });
        const [same, other] = perlCrypt([
          { pw: utf8(pw), setting: hash },
          { pw: utf8(pw + '!'), setting: hash },
        ]);
        expect(same).toBe(hash);
        expect(other).not.toBe(hash);
      }
    }
    expect(hashPassword('pw', 'yescrypt')).toMatch(/^\$y\$j9T\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}$/);
    expect(hashPassword('pw', 'sha512crypt')).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(hashPassword('pw', 'sha256crypt')).toMatch(/^\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
    expect(() => hashPassword('x'.repeat(512), 'sha512crypt')).toThrow(/at most 511 bytes/);
  });

  it('reproducible: the same seed and user give the same hash; another user or seed another salt; no seed a random one', () => {
    const seed = utf8('SOURCE_DATE_EPOCH=1700000000');
    for (const scheme of schemes) {
      const a = hashPassword('secret', scheme, { seed, user: 'alice' });
      expect(hashPassword('secret', scheme, { seed, user: 'alice' })).toBe(a);
      const saltOf = (h: string): string => h.slice(0, h.lastIndexOf('$'));
      expect(saltOf(hashPassword('secret', scheme, { seed, user: 'bob' }))).not.toBe(saltOf(a));
      expect(saltOf(hashPassword('secret', scheme, { seed: utf8('another seed'), user: 'alice' }))).not.toBe(saltOf(a));
      expect(saltOf(hashPassword('other', scheme, { seed, user: 'alice' }))).toBe(saltOf(a));
      expect(hashPassword('secret', scheme)).not.toBe(hashPassword('secret', scheme));
    }
  });
});

describe('checkHashSyntax', () => {
  const y = '$y$j9T$/6k.2IU/5UE08g.1Bsk1E.$KEIGHjxwdVZ305aBy9R4pO2XOYqc1GNQpb4SDpa3M6.';
  const s6 = '$6$rounds=1000$abc$yxe0KSjmoHd8rpohJgwvF5lnIQ/9t.klcz24a1cca3nWm.PLUmhXgcGgKWCoRFHRHYxXj4SVEtjCnCAwaFY0V0';
  const s6d = '$6$abc$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/YYzDV0xt3fEIwYt580.5.';
  const s5 = '$5$abc$/LKlXd6vuvdFX3oWbf2vGk3DgflzzsvOtMZsiOxqqY5';

  it('accepts hashes of the schemes computed here, locked forms and other crypt(3) schemes', () => {
    expect(checkHashSyntax(y)).toEqual({ ok: true, scheme: 'yescrypt' });
    expect(checkHashSyntax(s6)).toEqual({ ok: true, scheme: 'sha512crypt' });
    expect(checkHashSyntax(s6d)).toEqual({ ok: true, scheme: 'sha512crypt' });
    expect(checkHashSyntax(s5)).toEqual({ ok: true, scheme: 'sha256crypt' });
    expect(checkHashSyntax('$6$$Z7WSO9A8tKGD2oGB9t2ViKdYTIHgnjMZIbdOJElGnO.QoZE5zDsfnF1WHM.IL2KPxhNG4/v/zU9LBcGhxg5Uy.')).toEqual({ ok: true, scheme: 'sha512crypt' });
    for (const locked of ['!', '*', '!!', '!*', '**']) expect(checkHashSyntax(locked)).toEqual({ ok: true });
    expect(checkHashSyntax('!' + y)).toEqual({ ok: true, scheme: 'yescrypt' });
    expect(checkHashSyntax('!' + s6)).toEqual({ ok: true, scheme: 'sha512crypt' });
    expect(checkHashSyntax('$1$saltsalt$qjXMvbEw8oaL.CzflDugX/')).toEqual({ ok: true, scheme: 'other' });
    expect(checkHashSyntax('$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy')).toEqual({ ok: true, scheme: 'other' });
    expect(checkHashSyntax('abJnggxhB/yWI')).toEqual({ ok: true, scheme: 'other' });
  });

  it('refuses what crypt(3) could never have written, with a reason', () => {
    const bad = [
      '', // no password at all
      'secret', // clear text
      y.slice(0, -1), // hash part too short
      y.slice(0, -1) + 'z', // unused bits set
      y.replace('j9T', 'j.T'), // N = 2
      y.replace('$/6k', '$/6k$'), // '$' in the salt
      '$y$j9T$a$KEIGHjxwdVZ305aBy9R4pO2XOYqc1GNQpb4SDpa3M6.', // a salt of 6 bits
      s6.replace('rounds=1000', 'rounds=999'),
      s6.replace('rounds=1000', 'rounds=01000'),
      s6.slice(0, -1),
      s6.slice(0, -1) + 'z', // the last character of SHA-512 holds 2 bits
      s5.slice(0, -1) + 'z', // ... of SHA-256, 4
      '$6$abcdefghijklmnopq$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/YYzDV0xt3fEIwYt580.5.', // a 17-character salt
      '$6$a:b$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/YYzDV0xt3fEIwYt580.5.',
      s5 + '\n',
      ' ' + s5,
      '$9$abc$def',
      '!!' + s6,
    ];
    for (const h of bad) {
      const r = checkHashSyntax(h);
      expect([h, r.ok]).toEqual([h, false]);
      if (!r.ok) expect(r.why.length).toBeGreaterThan(5);
    }
  });

  it('whatever crypt(3) writes passes; checkHashSyntax agrees with crypt(3) verifying a hash as itself', (ctx) => {
    requireJudge(ctx, judgeMissing, 'crypt(3) through perl');
    fc.assert(
      fc.property(fc.constantFrom('$6$', '$5$'), roundsPart, fc.string({ unit: b64char, maxLength: 16 }), fc.uint8Array({ maxLength: 20 }), (prefix, rounds, salt, pw) => {
        const setting = prefix + rounds + salt;
        const [hash] = perlCrypt([{ pw: pw.map((x) => x || 1), setting }]);
        if (hash!.startsWith('*')) return;
        expect(checkHashSyntax(hash!)).toEqual({ ok: true, scheme: prefix === '$6$' ? 'sha512crypt' : 'sha256crypt' });
      }),
      { numRuns: 50 },
    );
  });
});

describe('schemeForImage', () => {
  const osRelease = (id: string, version?: string, extra = ''): string => `PRETTY_NAME="${id} ${version ?? ''}"\nNAME="${id}"\nID=${id}\n${version !== undefined ? `VERSION_ID="${version}"\n` : ''}${extra}`;

  it('Debian >= 11 and Ubuntu >= 22.04 hash with yescrypt, older ones and others with SHA-512', () => {
    expect(schemeForImage(osRelease('debian', '10', 'VERSION_CODENAME=buster\n'), undefined)).toBe('sha512crypt');
    expect(schemeForImage(osRelease('debian', '11'), undefined)).toBe('yescrypt');
    expect(schemeForImage(osRelease('debian', '12', 'VERSION_CODENAME=bookworm\n'), undefined)).toBe('yescrypt');
    expect(schemeForImage(osRelease('debian', undefined, 'VERSION_CODENAME=trixie\n'), undefined)).toBe('yescrypt'); // testing
    expect(schemeForImage(osRelease('debian', undefined, 'VERSION_CODENAME=buster\n'), undefined)).toBe('sha512crypt');
    expect(schemeForImage(osRelease('ubuntu', '20.04'), undefined)).toBe('sha512crypt');
    expect(schemeForImage(osRelease('ubuntu', '21.10'), undefined)).toBe('sha512crypt');
    expect(schemeForImage(osRelease('ubuntu', '22.04'), undefined)).toBe('yescrypt');
    expect(schemeForImage(osRelease('ubuntu', '24.04'), undefined)).toBe('yescrypt');
    expect(schemeForImage(osRelease('fedora', '39'), undefined)).toBe('sha512crypt');
    expect(schemeForImage(osRelease('alpine', '3.19.1'), undefined)).toBe('sha512crypt');
    expect(schemeForImage("ID='debian'\nVERSION_ID='12'\n", undefined)).toBe('yescrypt');
    expect(schemeForImage(undefined, undefined)).toBe('sha512crypt');
    expect(schemeForImage('', '')).toBe('sha512crypt');
  });

  it("login.defs' ENCRYPT_METHOD wins (the last one set); methods not computed here are passed over", () => {
    const defs = (m: string): string => `# /etc/login.defs\nMAIL_DIR /var/mail\n#ENCRYPT_METHOD DES\n${m}\nUMASK 022\n`;
    expect(schemeForImage(osRelease('debian', '12'), defs('ENCRYPT_METHOD SHA512'))).toBe('sha512crypt');
    expect(schemeForImage(osRelease('debian', '10'), defs('ENCRYPT_METHOD YESCRYPT'))).toBe('yescrypt');
    expect(schemeForImage(osRelease('fedora', '39'), defs('ENCRYPT_METHOD YESCRYPT'))).toBe('yescrypt');
    expect(schemeForImage(undefined, defs('ENCRYPT_METHOD SHA256'))).toBe('sha256crypt');
    expect(schemeForImage(undefined, defs('  ENCRYPT_METHOD\tyescrypt  # comment'))).toBe('yescrypt');
    expect(schemeForImage(undefined, defs('ENCRYPT_METHOD SHA512\nENCRYPT_METHOD YESCRYPT'))).toBe('yescrypt');
    expect(schemeForImage(osRelease('debian', '12'), defs('ENCRYPT_METHOD MD5'))).toBe('yescrypt');
    expect(schemeForImage(osRelease('debian', '12'), defs('# ENCRYPT_METHOD SHA512'))).toBe('yescrypt');
    expect(schemeForImage(osRelease('ubuntu', '20.04'), defs(''))).toBe('sha512crypt');
  });
});
