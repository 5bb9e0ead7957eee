/**
 * One self-overwriting line of progress on a terminal. The build is synchronous, and writes to a
 * TTY are synchronous in Node, so the line appears while the build runs.
 */
export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): boolean;
}

const INTERVAL_MS = 100;

export class Progress {
  private last = 0;
  private shown = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** `total` undefined: not known ahead (standard input); the bytes so far are shown. */
  update(done: number, total: number | undefined): void {
    const t = this.now();
    if ((total === undefined || done < total) && t - this.last < INTERVAL_MS) return;
    this.last = t;
    if (total === undefined) {
      this.stream.write(`\r\x1b[K${this.label} ${formatBytes(done)}`);
    } else {
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      this.stream.write(`\r\x1b[K${this.label} ${pct}% (${formatBytes(done)} of ${formatBytes(total)})`);
    }
    this.shown = true;
  }

  /** Erase the line so the summary or an error starts at column 0. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
