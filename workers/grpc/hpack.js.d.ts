/** The part of hpack.js 2.1.6 (no published types) that h2-frames.ts uses: the header-block decompressor. */
declare module 'hpack.js' {
  interface HeaderField {
    name: string;
    value: string;
  }
  interface Decompressor {
    /** Internal: the bit reader the stream's write() feeds. */
    _decoder: { push(block: Buffer): void; isEmpty(): boolean };
    /** Internal: decodes one field (or table size update) and hands a field to push(); throws on bad input. */
    _execute(): void;
    /** Readable side: receives each decoded field. */
    push(field: HeaderField | null): boolean;
  }
  const hpack: { decompressor: { create(options: { table: { maxSize: number } }): Decompressor } };
  export default hpack;
}
