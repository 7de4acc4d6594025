/** The part of hpack.js (no published types) that h2-frames.ts uses: the header-block decompressor. */
declare module 'hpack.js' {
  interface HeaderField {
    name: string;
    value: string;
  }
  interface Decompressor {
    write(block: Buffer): boolean;
    /** Decodes what was written; a malformed block emits 'error'. */
    execute(): void;
    read(): HeaderField | null;
    on(event: 'error', listener: (err: unknown) => void): this;
  }
  const hpack: { decompressor: { create(options: { table: { maxSize: number } }): Decompressor } };
  export default hpack;
}
