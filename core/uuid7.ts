import { randomFillSync } from 'node:crypto';

// Random bits are drawn in blocks, as crypto.randomUUID does, rather than a system call per id.
const pool = Buffer.alloc(10 * 512);
let offset = pool.length;

/**
 * A UUID of version 7 (RFC 9562): its first 48 bits are the Unix time in milliseconds, the rest random.
 * Ids made later sort later, so an index over them grows at its end instead of at random places: on a
 * big messages table the inserts keep touching the same few pages rather than the whole index.
 */
export function uuidv7(now: number = Date.now()): string {
  if (offset + 10 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.allocUnsafe(16);
  bytes.writeUIntBE(now, 0, 6);
  pool.copy(bytes, 6, offset, offset + 10);
  offset += 10;
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
