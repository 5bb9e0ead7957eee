import { spawn } from 'node:child_process';
import type { BootEnv } from './env.js';

/**
 * Boot Debian's kernel + initrd under qemu-system-x86_64 with IMAGE (a filesystem image, or a
 * raw or qcow2 disk with the root in a partition) as the virtio disk and capture the serial
 * console. The guest's init powers the machine off; `panic=-1` with
 * `-no-reboot` turns a kernel panic into a prompt qemu exit, so only a hang runs into the timeout
 * (then qemu is killed).
 */

export interface BootOptions {
  env: BootEnv;
  image: string;
  /** rootfstype= (the kernel's ext4 driver serves ext2 and ext3 too: CONFIG_EXT4_USE_FOR_EXT2). */
  fsType: 'ext2' | 'ext3' | 'ext4';
  accel: 'kvm' | 'tcg';
  timeoutMs: number;
  /** root= on the kernel command line: the disk itself, or a partition of it (/dev/vda1). */
  root?: string;
  /** How qemu reads IMAGE (-drive format=). */
  format?: 'raw' | 'qcow2';
  /** Console output is kept up to this many bytes (the tail is what matters on failure). */
  maxConsole?: number;
}

export interface BootResult {
  console: string;
  /** qemu's exit code; null when it was killed. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  seconds: number;
  command: string[];
}

export function qemuArgs(o: Pick<BootOptions, 'env' | 'image' | 'fsType' | 'accel' | 'root' | 'format'>): string[] {
  const append = [
    `root=${o.root ?? '/dev/vda'}`,
    'rw',
    `rootfstype=${o.fsType}`,
    'init=/sbin/init',
    'console=ttyS0',
    // Reboot on panic at once; -no-reboot turns that reboot into qemu's exit.
    'panic=-1',
    // The initramfs's udev: no persistent network names or the like to wait for.
    'net.ifnames=0',
  ].join(' ');
  return [
    '-nodefaults',
    '-no-user-config',
    '-machine', 'pc',
    '-accel', o.accel,
    ...(o.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', '512',
    '-smp', '1',
    '-display', 'none',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-no-reboot',
    '-kernel', o.env.vmlinuz,
    '-initrd', o.env.initrd,
    '-append', append,
    '-drive', `file=${o.image},format=${o.format ?? 'raw'},if=virtio,cache=unsafe`,
  ];
}

export function boot(o: BootOptions): Promise<BootResult> {
  const args = qemuArgs(o);
  const max = o.maxConsole ?? 4 << 20;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(o.env.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stuck = false;
    const add = (d: Buffer): void => {
      out += d.toString('latin1');
      if (out.length > max) out = out.slice(out.length - max);
      // qemu stops a guest that KVM cannot run and waits: nothing more will come.
      if (!stuck && out.includes('KVM internal error')) {
        stuck = true;
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        // Serial lines end in \r\n; the guest's bytes are UTF-8.
        console: Buffer.from(out, 'latin1').toString('utf8').replace(/\r/g, ''),
        code,
        signal,
        timedOut,
        seconds: Number(process.hrtime.bigint() - t0) / 1e9,
        command: [o.env.qemu, ...args],
      });
    });
  });
}

/** The last N lines of a console capture, for failure messages. */
export function tail(console: string, lines = 60): string {
  return console.trimEnd().split('\n').slice(-lines).join('\n');
}
