/**
 * The one @bokuweb/zstd-wasm instance of this thread, the zstd encoder on Node < 22.15 (decoding
 * is zstd-decode-wasm.ts). Its init() instantiates the module anew each time it is called, while
 * the exported functions stay bound to the instance that was current at their first call and
 * the heap views follow the newest: a second init() leaves compress() writing into one memory
 * and reading from another (all-zero output). So every user goes through this loader, which
 * inits once.
 */
export interface ZstdWasm {
  init(): Promise<void>;
  compress(buf: Uint8Array, level?: number): Uint8Array;
}

let loaded: Promise<ZstdWasm> | undefined;

export function zstdWasm(): Promise<ZstdWasm> {
  loaded ??= (async () => {
    const mod = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasm & { default?: ZstdWasm };
    const api: ZstdWasm = typeof mod.compress === 'function' ? mod : (mod.default as ZstdWasm);
    await api.init();
    return api;
  })();
  return loaded.catch((e: unknown) => {
    loaded = undefined;
    throw e;
  });
}
