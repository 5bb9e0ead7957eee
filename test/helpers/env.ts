import { hasTool } from './e2fsck.js';
import { canLoopMount } from './mount.js';

/**
 * Locally a missing judge (tool, root, loop device) skips with a printed reason; in CI
 * (process.env.CI set) it is a failure, so a broken runner never passes by skipping.
 */
export const IN_CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

const reported = new Set<string>();

/** Tools every oracle test needs. Returns undefined when present, else the reason. */
export function missingTools(tools: readonly string[] = ['e2fsck', 'debugfs', 'dumpe2fs']): string | undefined {
  const missing = tools.filter((t) => !hasTool(t));
  return missing.length ? `missing host tool(s): ${missing.join(', ')} (install e2fsprogs)` : undefined;
}

/**
 * Call at the top of a test: returns true to go on; false after logging why it skips. In CI it
 * throws instead of skipping.
 */
export function judgeAvailable(reason: string | undefined, what: string): boolean {
  if (reason === undefined) return true;
  if (IN_CI) throw new Error(`${what}: ${reason} (CI is set, so this is a failure, not a skip)`);
  const line = `SKIP ${what}: ${reason}`;
  if (!reported.has(line)) {
    reported.add(line);
    console.log(line);
  }
  return false;
}

/** Whether to compare through a kernel loop mount; logs (or in CI, throws) when it cannot. */
export function mountAvailable(what = 'kernel loop-mount read-back'): boolean {
  const m = canLoopMount();
  return judgeAvailable(m.ok ? undefined : m.reason, what);
}

/** The part of vitest's test context used here. */
export interface SkipContext {
  skip(note?: string): void;
}

/** Skip the running test (logging why), or in CI fail it, unless `reason` is undefined. */
export function requireJudge(ctx: SkipContext, reason: string | undefined, what: string): void {
  if (!judgeAvailable(reason, what)) ctx.skip(reason);
}
