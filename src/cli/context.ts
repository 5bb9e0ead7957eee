import type { ProgressStream } from './progress.js';

export interface OutStream {
  write(s: string): boolean;
}

/** What a command may touch: streams and environment are injectable for tests. */
export class CliContext {
  debug = false;
  /** Run before an error or the summary is printed (e.g. erase the progress line). */
  readonly cleanup: Array<() => void> = [];

  constructor(
    readonly stdout: OutStream,
    readonly stderr: ProgressStream,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  runCleanup(): void {
    for (const f of this.cleanup.splice(0)) f();
  }
}
