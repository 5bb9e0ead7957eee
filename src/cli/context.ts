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
    /** Standard input, for `-` as an INPUT, opened when one is read (tests give chunks). */
    readonly stdin: () => AsyncIterable<Uint8Array> = emptyInput,
  ) {}

  runCleanup(): void {
    for (const f of this.cleanup.splice(0)) f();
  }
}

async function* emptyInput(): AsyncGenerator<Uint8Array> {
  // No standard input given: `-` reads an empty stream.
}
