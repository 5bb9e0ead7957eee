import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sha256, sha256Hex } from '../../src/compress/sha256.js';

/** The pure TypeScript SHA-256 (xz checks, OCI digests of blobs in memory) against OpenSSL's. */
describe('Sha256', () => {
  it('matches node:crypto at every padding boundary', () => {
    for (let n = 0; n <= 200; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      expect(sha256Hex(data), `${n} bytes`).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });

  it('the FIPS 180-2 test vectors', () => {
    const enc = new TextEncoder();
    expect(sha256Hex(enc.encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    expect(sha256Hex(new Uint8Array(1_000_000).fill(0x61))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('gives the same digest however the input is split (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.array(fc.nat({ max: 5000 }), { maxLength: 8 }), (data, cuts) => {
        const h = new Sha256();
        let at = 0;
        for (const c of [...cuts].sort((a, b) => a - b)) {
          const to = Math.min(c, data.length);
          if (to < at) continue;
          h.update(data.subarray(at, to));
          at = to;
        }
        h.update(data.subarray(at));
        expect(h.hex()).toBe(createHash('sha256').update(data).digest('hex'));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses updates after the digest', () => {
    const h = new Sha256().update(new Uint8Array(3));
    h.digest();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digest/);
    // digest() again gives the same bytes.
    expect(h.hex()).toBe(createHash('sha256').update(new Uint8Array(3)).digest('hex'));
  });
});
