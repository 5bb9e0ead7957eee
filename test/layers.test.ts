import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layers of DESIGN.md ("Architecture"), checked on every import in src/ (issue #12): data
 * flows sources -> tree -> plan -> write -> sink, nothing imports cli/, io/ is sinks and sources
 * only, and `node:*` appears only in adapters. Imports are read with TypeScript's own scanner
 * (static, `export ... from`, `import type`, `typeof import()`, dynamic `import()`), so strings
 * and comments that look like imports do not count.
 */

const LAYERS = ['index', 'errors', 'cli', 'tree', 'edit', 'formats', 'ingest', 'compress', 'ext', 'ext/write', 'disk', 'initrd', 'io'] as const;
type Layer = (typeof LAYERS)[number];

/** Files directly in src/ and what they are. */
const TOP_LEVEL: Record<string, Layer> = {
  'src/index.ts': 'index', // the public API: re-exports only
  'src/errors.ts': 'errors', // the one error class: every layer throws it
};

const BELOW_CLI = LAYERS.filter((l) => l !== 'cli' && l !== 'index');

/** ALLOWED[from][to] = why `from` may import `to`. A layer may always import itself. */
const ALLOWED: Record<Layer, Partial<Record<Layer, string>>> = {
  index: Object.fromEntries(BELOW_CLI.map((l) => [l, 'the public API re-exports the library'])),
  cli: Object.fromEntries(BELOW_CLI.map((l) => [l, 'commands parse arguments and call the library'])),
  errors: {},
  tree: { errors: 'ExtimgError' },
  io: { errors: 'ExtimgError' },
  compress: {
    errors: 'ExtimgError',
    io: 'the worker pools start threads through io/threads.ts',
  },
  formats: {
    errors: 'ExtimgError',
    tree: 'codecs read and write entries with the tree\'s node types and mode bits',
  },
  ext: {
    errors: 'ExtimgError',
    tree: 'read/ builds a tree; inode fields take the tree\'s timestamps and mode bits',
  },
  'ext/write': {
    errors: 'ExtimgError',
    tree: 'the writer plans and writes a tree',
    ext: 'the writer encodes the on-disk format',
    io: 'the writer writes into sinks',
  },
  disk: {
    errors: 'ExtimgError',
    tree: 'disk output builds a tree into a partition',
    'ext/write': 'disk output: the writer builds each filesystem into its partition',
    io: 'disks are written into and read from sinks and sources',
    compress: 'qcow2 clusters may be compressed',
    ext: 'a disk holds ext filesystems at partition offsets',
  },
  edit: {
    errors: 'ExtimgError',
    tree: 'edits are pure functions on a tree',
    ext: 'a recipe carries build options (ext/options.ts types, feature names)',
    compress: 'password hashes (edit/crypt.ts, edit/yescrypt.ts) use the SHA-256 of compress/sha256.ts',
  },
  ingest: {
    errors: 'ExtimgError',
    tree: 'sources become a tree',
    formats: 'archives are read with the shared codecs',
    compress: 'archives come compressed',
    io: 'sources (and fs errors of the host-directory adapter)',
    ext: 'existing images are read through ext/read',
    disk: 'disk images are recognized (and read) as inputs',
    initrd: 'an initrd with several segments is an input, read with the segment scanner',
  },
  initrd: {
    errors: 'ExtimgError',
    tree: 'rewrite and create go through a tree',
    formats: 'cpio through the shared codec',
    compress: 'segments are compressed',
    edit: 'rewrite applies edits',
    io: 'extract writes through the host-directory sink (io/host-dir-writer.ts)',
  },
};

/**
 * Imports the table above refuses but today's code still has, each pinned to one target file.
 * An exception that no import uses any more fails the test: delete it then.
 */
const EXCEPTIONS: { from: Layer | string; to: string; why: string }[] = [
  {
    from: 'initrd',
    to: 'src/ingest/cpio.ts',
    why: 'the cpio codec still lives in ingest/ (DESIGN.md: formats/, moved when touched)',
  },
  {
    from: 'src/io/initrd-extract.ts',
    to: 'src/initrd/extract.ts',
    why: 'a re-export kept while test/initrd-extract.test.ts imports the old path',
  },
];

/** Files that may import `node:*` modules: adapters (DESIGN.md), with the modules each may use. */
const NODE_ADAPTERS: { file: string | RegExp; modules: '*' | string[]; why: string }[] = [
  { file: /^src\/cli\//, modules: '*', why: 'the CLI is Node' },
  { file: /^src\/io\//, modules: '*', why: 'files, host directories, threads' },
  { file: 'src/ingest/hostdir.ts', modules: ['node:fs'], why: 'reads host directories' },
  { file: 'src/compress/pool.ts', modules: ['node:worker_threads'], why: 'the decode worker pool' },
  { file: 'src/compress/worker.ts', modules: ['node:worker_threads'], why: 'the decode worker' },
  { file: 'src/compress/decode-pool.ts', modules: ['node:worker_threads'], why: 'the streaming decode pool (file ranges into spools)' },
  { file: 'src/compress/decode-range.ts', modules: ['node:fs', 'node:crypto'], why: 'reads a file range to decode it as a stream; SHA-256 of image blobs with the CPU\'s SHA instructions' },
  { file: 'src/compress/encode-parts.ts', modules: ['node:worker_threads'], why: 'the encode worker pool' },
  { file: 'src/compress/encode-worker.ts', modules: ['node:worker_threads'], why: 'the encode worker' },
  { file: 'src/compress/gzip.ts', modules: ['node:zlib'], why: 'gzip through node:zlib (DESIGN.md dependency decisions)' },
  { file: 'src/compress/cluster.ts', modules: ['node:zlib'], why: "qcow2's compressed clusters: raw deflate and zstd through node:zlib, one cluster at a time" },
  { file: 'src/compress/zstd.ts', modules: ['node:zlib'], why: 'zstd through node:zlib where Node has it (DESIGN.md)' },
  { file: 'src/compress/encode.ts', modules: ['node:zlib', 'node:os'], why: 'gzip and zstd encoders through node:zlib; zstd worker count' },
  { file: 'src/compress/crc.ts', modules: ['node:zlib'], why: "node:zlib's crc32 when present; a table fallback otherwise" },
  { file: 'src/compress/stream.ts', modules: ['node:stream', 'node:zlib'], why: "streaming gzip and zstd through node:zlib's stream decoders (DESIGN.md)" },
];

// ---------------------------------------------------------------------------------------------

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface SourceFile {
  /** 'src/io/file.ts' */
  file: string;
  text: string;
}

function sourceFiles(): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out.push({ file: rel, text: fs.readFileSync(path.join(ROOT, rel), 'utf8') });
    }
  };
  walk('src');
  return out.sort((a, b) => (a.file < b.file ? -1 : 1));
}

/** The module specifiers of every import and re-export, static or dynamic, type-only or not. */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** A file's layer, or a message saying why it has none. */
function layerOf(file: string): Layer | string {
  const parts = file.split('/');
  if (parts.length === 2) return TOP_LEVEL[file] ?? `${file}: a file directly in src/ must be listed in TOP_LEVEL (test/layers.test.ts)`;
  const layer = parts[1] === 'ext' && parts[2] === 'write' && parts.length > 3 ? 'ext/write' : parts[1]!;
  return (LAYERS as readonly string[]).includes(layer) ? (layer as Layer) : `${file}: src/${parts[1]}/ is no layer of DESIGN.md (add it to LAYERS and ALLOWED in test/layers.test.ts)`;
}

const isLayer = (l: string): l is Layer => (LAYERS as readonly string[]).includes(l);

/** Every import that goes the wrong way, one line each, plus exceptions nothing uses any more. */
function checkLayers(files: SourceFile[]): string[] {
  const problems: string[] = [];
  const usedExceptions = new Set<number>();
  for (const { file, text } of files) {
    const from = layerOf(file);
    if (!isLayer(from)) {
      problems.push(from);
      continue;
    }
    for (const spec of importsOf(text)) {
      if (spec.startsWith('node:')) {
        const adapter = NODE_ADAPTERS.find((a) => (typeof a.file === 'string' ? a.file === file : a.file.test(file)));
        if (adapter === undefined) problems.push(`${file} -> ${spec}: node: modules only in adapters (NODE_ADAPTERS)`);
        else if (adapter.modules !== '*' && !adapter.modules.includes(spec)) problems.push(`${file} -> ${spec}: this adapter may use ${adapter.modules.join(', ')} only`);
        continue;
      }
      if (!spec.startsWith('.')) continue; // npm packages (zstddec, @bokuweb/zstd-wasm)
      const target = path.posix.join(path.posix.dirname(file), spec).replace(/\.js$/, '.ts');
      if (!target.startsWith('src/')) {
        problems.push(`${file} -> ${target}: outside src/`);
        continue;
      }
      const to = layerOf(target);
      if (!isLayer(to)) {
        problems.push(to);
        continue;
      }
      if (to === from || ALLOWED[from][to] !== undefined) continue;
      const exception = EXCEPTIONS.findIndex((x) => x.to === target && (x.from === from || x.from === file));
      if (exception >= 0) {
        usedExceptions.add(exception);
        continue;
      }
      problems.push(`${file} -> ${target}: ${from} may not import ${to}`);
    }
  }
  EXCEPTIONS.forEach((x, i) => {
    if (!usedExceptions.has(i)) problems.push(`exception ${x.from} -> ${x.to} is not needed any more: remove it from EXCEPTIONS`);
  });
  return problems;
}

describe('layers (DESIGN.md, Architecture)', () => {
  it('every import in src/ goes the allowed way; node: only in adapters', () => {
    const problems = checkLayers(sourceFiles());
    expect(problems, `wrong-direction imports:\n  ${problems.join('\n  ')}\n`).toEqual([]);
  });

  it('nothing imports cli/, and io/ imports no pipeline layer', () => {
    for (const l of LAYERS) expect([l, ALLOWED[l].cli]).toEqual([l, undefined]);
    for (const l of ['ext', 'ext/write', 'ingest', 'initrd', 'edit', 'cli'] as const) expect([l, ALLOWED.io[l]]).toEqual([l, undefined]);
  });

  it('the layer table has no cycles', () => {
    const seen = new Map<Layer, 'open' | 'done'>();
    const visit = (l: Layer, trail: Layer[]): void => {
      if (seen.get(l) === 'done') return;
      if (seen.get(l) === 'open') throw new Error(`cycle: ${[...trail, l].join(' -> ')}`);
      seen.set(l, 'open');
      for (const to of Object.keys(ALLOWED[l]) as Layer[]) visit(to, [...trail, l]);
      seen.set(l, 'done');
    };
    for (const l of LAYERS) visit(l, []);
  });

  it('catches a wrong-way import, a stray node: import and an unknown layer (the check can fail)', () => {
    const problems = checkLayers([
      { file: 'src/io/x.ts', text: "import { y } from '../ext/y.js';\nconst z = await import('../cli/z.js');" },
      { file: 'src/tree/t.ts', text: "import type { Seg } from '../initrd/segments.js';\nimport * as fs from 'node:fs';" },
      { file: 'src/ingest/hostdir.ts', text: "import * as os from 'node:os';" },
      { file: 'src/initrd/list.ts', text: "import type { E } from '../ingest/cpio.js';\nimport { t } from '../ingest/tar.js';" },
      { file: 'src/io/initrd-extract.ts', text: "export * from '../initrd/extract.js';" },
      { file: 'src/stuff/a.ts', text: '' },
      { file: 'src/util.ts', text: '' },
      { file: 'src/edit/e.ts', text: "const s = `import('../cli/values.js')`; // import x from '../cli/x.js'" },
    ]);
    expect(problems).toEqual([
      'src/io/x.ts -> src/ext/y.ts: io may not import ext',
      'src/io/x.ts -> src/cli/z.ts: io may not import cli',
      'src/tree/t.ts -> src/initrd/segments.ts: tree may not import initrd',
      'src/tree/t.ts -> node:fs: node: modules only in adapters (NODE_ADAPTERS)',
      'src/ingest/hostdir.ts -> node:os: this adapter may use node:fs only',
      'src/initrd/list.ts -> src/ingest/tar.ts: initrd may not import ingest',
      'src/stuff/a.ts: src/stuff/ is no layer of DESIGN.md (add it to LAYERS and ALLOWED in test/layers.test.ts)',
      'src/util.ts: a file directly in src/ must be listed in TOP_LEVEL (test/layers.test.ts)',
    ]);
    expect(checkLayers([{ file: 'src/tree/t.ts', text: '' }])).toEqual(EXCEPTIONS.map((x) => `exception ${x.from} -> ${x.to} is not needed any more: remove it from EXCEPTIONS`));
  });
});
