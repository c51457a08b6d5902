/**
 * A body (a request's, another server's answer) read no further than `maxBytes`: one longer is refused
 * with `tooMuch()`, and leaving the loop early ends the stream, so whoever sends it cannot make this
 * process hold more than the limit.
 */
export async function readCapped(
  body: AsyncIterable<Uint8Array> | null | undefined,
  maxBytes: number,
  tooMuch: () => Error,
): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) throw tooMuch();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
