import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { PrivateKeyJwk, PublicKeyJwk } from '../protocol/signature.ts';

/** The proxy's signing key: from config, else created once in the data directory (mode 0600). */
export function loadProxyKey(options: {
  privateKey: string | undefined;
  dataDir: string;
  name: string;
}): PrivateKeyJwk {
  if (options.privateKey) return JSON.parse(options.privateKey) as PrivateKeyJwk;
  const file = join(options.dataDir, `proxy-${options.name}-key.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as PrivateKeyJwk;
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  const key: PrivateKeyJwk = {
    kty: 'OKP',
    crv: 'Ed25519',
    x: jwk.x,
    d: jwk.d,
    kid: `p-${randomBytes(4).toString('hex')}`,
  };
  mkdirSync(options.dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}

export function publicPart(key: PrivateKeyJwk): PublicKeyJwk {
  return { kty: key.kty, crv: key.crv, x: key.x, kid: key.kid };
}
