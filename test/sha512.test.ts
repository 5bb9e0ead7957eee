import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sha512, sha512 } from '../src/edit/sha512.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nodeSha512 = (b: Uint8Array): string => createHash('sha512').update(b).digest('hex');

describe('SHA-512 (edit/sha512.ts)', () => {
  it('FIPS 180-4 examples', () => {
    const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(hex(sha512(utf8('abc')))).toBe('ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
    expect(hex(sha512(new Uint8Array(0)))).toBe('cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e');
    expect(hex(sha512(utf8('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu')))).toBe(
      '8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909',
    );
  });

  it('every padding boundary (0..300 bytes) equals node:crypto', () => {
    for (let n = 0; n <= 300; n++) {
      const d = new Uint8Array(n).map((_, i) => (i * 131 + n * 7) & 255);
      expect([n, hex(sha512(d))]).toEqual([n, nodeSha512(d)]);
    }
  });

  it('random data in random pieces, and reset(), equal node:crypto', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 8 }), (data, cuts) => {
        const h = new Sha512();
        h.update(new Uint8Array([1, 2, 3])).digest();
        h.reset();
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        let at = 0;
        for (const p of [...points, data.length]) {
          h.update(data.subarray(at, p));
          at = p;
        }
        expect(hex(h.digest())).toBe(nodeSha512(data));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses an update after digest', () => {
    const h = new Sha512();
    h.digest();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digest/);
  });
});
