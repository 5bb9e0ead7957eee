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

// run() reports every error itself and resolves to the status; it never rejects.
const status = await run(process.argv.slice(2), new CliContext(process.stdout, process.stderr, process.env, () => process.stdin));
process.exitCode = status;
// Everything is written (the image is renamed into place before run() resolves). With nothing
// left to flush on stdout or stderr, exit now rather than wait for Node's teardown (worker
// threads, a reading stdin: ~2% of a small build); with piped output still pending (the --json
// summary into a slow reader), let Node drain it first.
if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(status);
