import { createSealer, type Sealer } from '../../core/seal.ts';

/** Seals directories' service-account passwords at rest, under a key of their own derived from the gateway's secret. */
export function bindPasswordSealer(secretKey: string): Sealer {
  return createSealer(secretKey, 'directory-bind-passwords');
}
