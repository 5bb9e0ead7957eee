/**
 * Worker-thread entry for encode-parts.ts: compresses one part per message and sends it back
 * by transfer.
 */
import { parentPort } from 'node:worker_threads';
import { type PartRequest, type PartResult, encodePart } from './encode-parts.js';
import { describe } from './fail.js';

const port = parentPort;
if (port) {
  port.on('message', (msg: PartRequest) => {
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
