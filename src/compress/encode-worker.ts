/**
 * Worker-thread entry for encode-parts.ts: compresses one part per message and sends it back
 * by transfer.
 */
import { parentPort } from 'node:worker_threads';
import { type PartRequest, type PartResult, type WarmRequest, encodePart } from './encode-parts.js';
import { describe } from './fail.js';

const port = parentPort;
if (port) {
  port.on('message', (msg: PartRequest | WarmRequest) => {
    if ('warm' in msg) {
      // Load the encoder now; a tiny part is enough to instantiate WebAssembly and import the
      // codec's modules. Failures surface (or not) with the first real part.
      encodePart(msg.warm, undefined, new Uint8Array(64)).catch(() => {});
      return;
    }
    encodePart(msg.codec, msg.level, msg.data).then(
      (part) => {
        const bytes = part.kind === 'stream' ? part.data : part.block.stream;
        const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
        const reply: PartResult = { id: msg.id, ok: true, part };
        port.postMessage(reply, owned ? [bytes.buffer as ArrayBuffer] : []);
      },
      (e: unknown) => port.postMessage({ id: msg.id, ok: false, message: describe(e) } satisfies PartResult),
    );
  });
}
