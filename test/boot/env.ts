import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What .ci/setup-boot.sh set up: Debian's cloud kernel, its stock initramfs-tools initrd and
 * qemu-system-x86_64 (recorded in fixtures/out/boot/env), and fixtures/fetch-debs.sh's .debs.
 */

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ENV_FILE = join(ROOT, 'fixtures', 'out', 'boot', 'env');
export const DEBS_DIR = join(ROOT, 'fixtures', 'out', 'debs');

const SETUP_HINT = 'run .ci/setup-boot.sh (as root; needs the Debian registry)';

export interface BootEnv {
  /** Kernel release, e.g. 6.1.0-56-cloud-amd64. */
  kver: string;
  vmlinuz: string;
  initrd: string;
  qemu: string;
}

/** The recorded boot environment, or why there is none. */
export function bootEnv(): { env: BootEnv; reason?: undefined } | { env?: undefined; reason: string } {
  if (!existsSync(ENV_FILE)) return { reason: `no ${rel(ENV_FILE)}: ${SETUP_HINT}` };
  const vars = new Map<string, string>();
  for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) vars.set(m[1]!, m[2]!);
  }
  // Paths are absolute as written; a relative one is taken from the repository root.
  const path = (key: string): string => (vars.get(key) ? resolve(ROOT, vars.get(key)!) : '');
  const env = { kver: vars.get('KVER') ?? '', vmlinuz: path('VMLINUZ'), initrd: path('INITRD'), qemu: path('QEMU') };
  for (const [key, path] of [['VMLINUZ', env.vmlinuz], ['INITRD', env.initrd], ['QEMU', env.qemu]] as const) {
    if (!path) return { reason: `${rel(ENV_FILE)} has no ${key}: ${SETUP_HINT}` };
    try {
      accessSync(path, key === 'QEMU' ? constants.X_OK : constants.R_OK);
    } catch {
      return { reason: `${key}=${path} from ${rel(ENV_FILE)} is not ${key === 'QEMU' ? 'executable' : 'readable'}: ${SETUP_HINT}` };
    }
  }
  return { env };
}

/** The one .deb of PACKAGE in fixtures/out/debs/SET/, or why there is none. */
export function fetchedDeb(set: string, pkg: string): { path: string; reason?: undefined } | { path?: undefined; reason: string } {
  const dir = join(DEBS_DIR, set);
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')) : [];
  if (found.length === 0) return { reason: `no ${pkg}_*.deb in ${rel(dir)}: run fixtures/fetch-debs.sh ${set}` };
  return { path: join(dir, found.sort().at(-1)!) };
}

/**
 * The accelerator: TCG (software emulation, DESIGN.md's judge) unless EXTIMG_BOOT_ACCEL=kvm.
 * Not KVM just because /dev/kvm opens: under nested virtualisation it can fail mid-boot
 * ("KVM internal error. Suberror: 1", emulation failure on a locked cmpxchg16b, seen here) and
 * qemu then stops the guest instead of exiting.
 */
export function pickAccel(): 'kvm' | 'tcg' {
  return process.env.EXTIMG_BOOT_ACCEL === 'kvm' ? 'kvm' : 'tcg';
}

function rel(p: string): string {
  return p.startsWith(`${ROOT}/`) ? p.slice(ROOT.length + 1) : p;
}
