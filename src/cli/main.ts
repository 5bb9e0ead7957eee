#!/usr/bin/env node
import * as nodeModule from 'node:module';

// Node >= 22.1 keeps compiled code between runs: start-up is most of a small build's time.
// Enabled before the rest of the CLI is imported, so that it is cached too.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { CliContext } = await import('./context.js');
const { run } = await import('./run.js');

// `extimg build --json | head -c 10`: a closed pipe is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

// exitCode, not exit(): let piped stdout (the --json summary) drain first. run() reports every
// error itself and resolves to the status; it never rejects.
process.exitCode = await run(process.argv.slice(2), new CliContext(process.stdout, process.stderr, process.env, () => process.stdin));
