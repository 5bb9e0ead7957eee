/**
 * Archives read from files and streams with bounded memory: an uncompressed archive file is read
 * in place (the tree refers to its bytes, nothing is copied); a compressed one is decompressed as
 * a stream on the decode pool's worker threads into a spool file (an unlinked temporary file in
 * the spool folder) that the tree refers to until the image is written; .deb and .rpm payloads
 * the same way, straight from their range of the file. Standard input is spooled as it arrives
 * (decompressed on the way in when it is compressed); what is decoded in this thread may stay in
 * memory, up to a budget shared by all inputs.
 *
 * An ArchiveFiles holds the open files and spools of one build: close() it when the image is
 * written (or the build failed).
 */
import { DecodePool, MemoryBudget } from '../compress/decode-pool.js';
import { decodeToSpool, type RangeJob } from '../compress/decode-range.js';
import { Sha256 } from '../compress/sha256.js';
import { DETECT_BYTES, detectCodec } from '../compress/detect.js';
import { FileSource } from '../io/file-source.js';
import { closeQuietly, SpoolWriter, type Spooled } from '../io/spool.js';
import { checkDigests, prepareImage, prepareSource, type DecodeRange, type Prepared, type PrepareOptions } from './archive.js';
import type { ImageFiles } from './oci.js';
import { memorySource, RangeSource, type ByteSource } from './source.js';

export interface ArchiveFilesOptions {
  /** The folder spool files are made in (the output's: the same filesystem, cleaned up with it). */
  spoolDir: string;
  /**
   * Decompressed bytes archives decoded in this thread (standard input, no workers) may keep in
   * memory together (default 32 MiB); the rest, and everything decoded on workers, is spooled.
   */
  memoryBudget?: number;
  /** Decompressed bytes one archive may keep in memory (default 16 MiB). */
  memoryPerArchive?: number;
  /** Decode worker threads (default: cores, at most 4; 0 decodes in this thread). */
  workers?: number;
  /** Hears input bytes consumed (compressed bytes decoded, uncompressed bytes spooled) as they go. */
  onInput?: (bytes: number) => void;
}

const DEFAULT_BUDGET = 32 << 20;
const DEFAULT_PER_ARCHIVE = 16 << 20;

export class ArchiveFiles {
  private pool: DecodePool;
  private readonly budget: MemoryBudget;
  private readonly perArchive: number;
  private readonly sources: FileSource[] = [];
  /** Spool files (shared by the sources over them): closed by close(). */
  private readonly spoolFds = new Set<number>();

  constructor(private readonly options: ArchiveFilesOptions) {
    this.budget = new MemoryBudget(options.memoryBudget ?? DEFAULT_BUDGET);
    this.perArchive = options.memoryPerArchive ?? DEFAULT_PER_ARCHIVE;
    this.pool = new DecodePool({ budget: this.budget, ...(options.workers !== undefined ? { workers: options.workers } : {}) });
  }

  /** Decompressed bytes kept in memory now (for tests and the memory benchmark). */
  get memoryKept(): number {
    return this.budget.kept;
  }

  /** Open an archive file and prepare it (decompressed and unwrapped; the tree is not touched). */
  async prepareFile(path: string, origin: string = path, select: PrepareOptions = {}): Promise<Prepared> {
    const src = this.track(FileSource.openFile(path));
    // Progress: what decode and hash jobs read as they go; the rest (parts read in place) at the end.
    let counted = 0;
    const report = (n: number): void => {
      counted += n;
      this.options.onInput?.(n);
    };
    const p = await prepareSource(src, origin, this.decoder(report), undefined, select);
    if (counted < src.size) this.options.onInput?.(src.size - counted);
    const sources = p.image ? p.image.layers.map((l) => l.source) : [p.source!];
    // Decoded into spools: the input is not needed any more (a build of thousands of packages
    // must not hold a descriptor for each). Read in place: it stays open until close().
    if (!sources.some((s) => locate(s, 0).source === src)) src.close();
    return p;
  }

  /**
   * Prepare an archive that arrives as a stream (standard input): spooled as it comes, and
   * decompressed on the way in when it starts with a compression magic.
   */
  async prepareStream(chunks: AsyncIterable<Uint8Array>, origin: string, select: PrepareOptions = {}): Promise<Prepared> {
    const it = chunks[Symbol.asyncIterator]();
    // Enough of the start to see a compression magic.
    const head: Uint8Array[] = [];
    let headLen = 0;
    let ended = false;
    while (headLen < DETECT_BYTES) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      headLen += r.value.length;
    }
    const first = concat(head, headLen);
    const codec = detectCodec(first.subarray(0, DETECT_BYTES));
    const onInput = this.options.onInput;
    const rest = async function* (): AsyncGenerator<Uint8Array> {
      if (first.length > 0) {
        onInput?.(first.length);
        yield first;
      }
      if (ended) return;
      for (let r = await it.next(); !r.done; r = await it.next()) {
        onInput?.(r.value.length);
        yield r.value;
      }
    };
    const granted = this.budget.reserve(this.perArchive);
    let spooled: Spooled | undefined;
    try {
      spooled = codec ? await decodeToSpool(codec, rest(), origin, this.spoolOptions(granted)) : await spoolAll(rest(), origin, this.spoolOptions(granted));
    } finally {
      this.budget.settle(granted, spooled?.kind === 'memory' ? spooled.held : 0);
    }
    const stream = this.sourceOf(spooled, origin);
    return prepareSource(stream, origin, this.decode, codec, select);
  }

  /**
   * An OCI image layout directory (oci-layout, index.json, blobs/sha256/...): the image picked
   * by `select`, its blobs checked against their digests, its layers decompressed.
   */
  async prepareLayout(dir: string, origin: string = dir, select: PrepareOptions = {}): Promise<Prepared> {
    const opened = new Map<string, FileSource | undefined>();
    const files: ImageFiles = {
      open: (rel: string) => {
        if (!opened.has(rel)) opened.set(rel, FileSource.openIfExists(`${dir}/${rel}`, (s) => this.track(s)));
        return opened.get(rel);
      },
    };
    const image = await prepareImage(files, 'oci-layout', origin, this.decoder(this.options.onInput), select);
    return { kind: 'image', format: 'tar', image };
  }

  /**
   * Every archive is prepared: stop the decode workers now, so their memory (an isolate and a
   * dictionary each) is not held while the image is written. Later prepares decode in this thread.
   */
  async stopWorkers(): Promise<void> {
    await this.pool.close();
    for (const fd of this.pool.spoolFiles()) this.spoolFds.add(fd);
    this.pool = new DecodePool({ budget: this.budget, workers: 0 });
  }

  /** Close every file and spool this build opened and stop the decode workers. */
  async close(): Promise<void> {
    for (const s of this.sources.splice(0)) s.close();
    await this.pool.close();
    for (const fd of this.pool.spoolFiles()) this.spoolFds.add(fd);
    for (const fd of this.spoolFds) closeQuietly(fd);
    this.spoolFds.clear();
  }

  /** Decoding without progress (streams count their bytes as they arrive). */
  private readonly decode: DecodeRange = (codec, src, offset, size, origin, check) => this.decoder(undefined)(codec, src, offset, size, origin, check);

  /** How this build decodes a range: on the pool for files and spools, here for memory. `report` hears bytes read. */
  private decoder = (report: ((bytes: number) => void) | undefined): DecodeRange => async (codec, src, offset, size, origin, check) => {
    const digests = check ? { input: check.sha256 !== undefined, output: check.decodedSha256 !== undefined } : undefined;
    const at = locate(src, offset);
    if (at.source instanceof FileSource && (codec || digests)) {
      const job: RangeJob = { fd: at.source.fd, offset: at.offset, size, codec, origin, spool: this.spoolOptions(this.perArchive) };
      if (digests) job.digests = digests;
      const r = await this.pool.submit(job, report);
      const out = r.spooled ? this.sourceOf(r.spooled, origin) : new RangeSource(src, offset, size);
      try {
        // Without a codec the input is the decoded bytes too.
        checkDigests(check, { sha256: r.inputSha256, decodedSha256: codec ? r.outputSha256 : (r.outputSha256 ?? r.inputSha256) }, origin);
      } catch (e) {
        if (out instanceof FileSource) out.close();
        throw e;
      }
      return out;
    }
    if (!codec && !digests) return new RangeSource(src, offset, size);
    // A range in memory (a small spooled stream's .deb member, an image's layer): decoded here.
    const input = src.bytes(offset, size);
    if (!codec) {
      const sha = new Sha256().update(input).hex();
      checkDigests(check, { sha256: sha, decodedSha256: sha }, origin);
      return new RangeSource(src, offset, size);
    }
    const outHash = digests?.output ? new Sha256() : undefined;
    const granted = this.budget.reserve(this.perArchive);
    let spooled: Spooled | undefined;
    try {
      spooled = await decodeToSpool(codec, [input], origin, this.spoolOptions(granted), outHash ? (b) => outHash.update(b) : undefined);
    } finally {
      this.budget.settle(granted, spooled?.kind === 'memory' ? spooled.held : 0);
    }
    const out = this.sourceOf(spooled, origin);
    checkDigests(check, { sha256: digests?.input ? new Sha256().update(input).hex() : undefined, decodedSha256: outHash?.hex() }, origin);
    return out;
  };

  private spoolOptions(memoryLimit: number): { dir: string; memoryLimit: number } {
    return { dir: this.options.spoolDir, memoryLimit };
  }

  /**
   * Spooled bytes as a source. Spool files are shared (the decode pool fills one per worker,
   * job after job): the source is a range of the file, which this class closes at the end.
   */
  private sourceOf(s: Spooled, origin: string): ByteSource {
    if (s.kind === 'memory') return memorySource(s.chunks);
    this.spoolFds.add(s.fd);
    const file = this.track(new FileSource(s.fd, s.offset + s.size, `${origin} (spooled)`, false));
    return s.offset === 0 ? file : new RangeSource(file, s.offset, s.size);
  }

  private track(s: FileSource): FileSource {
    this.sources.push(s);
    return s;
  }
}

/** Where `offset` of a source really is: ranges unwrapped down to a file or memory. */
function locate(src: ByteSource, offset: number): { source: ByteSource; offset: number } {
  let s = src;
  let o = offset;
  while (s instanceof RangeSource) {
    o += s.offset;
    s = s.source;
  }
  return { source: s, offset: o };
}

async function spoolAll(chunks: AsyncIterable<Uint8Array>, origin: string, options: { dir: string; memoryLimit: number }): Promise<Spooled> {
  const spool = new SpoolWriter(options, origin);
  try {
    for await (const c of chunks) spool.write(c);
    return spool.finish();
  } catch (e) {
    spool.abort();
    throw e;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
