/**
 * Where image bytes go. The writer calls setSize() once, then write() at increasing or arbitrary
 * offsets; regions never written must read as zero (a sparse file, a zeroed buffer).
 */
export interface ImageSink {
  setSize(bytes: number): void;
  write(offset: number, data: Uint8Array): void;
}
