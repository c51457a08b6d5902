import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { createSealer } from '../../core/seal.ts';
import type { KnownDevices } from '../accounts/known-devices.ts';
import { hostCookieName, hostCookiePath } from './host-cookies.ts';

/** How long a browser stays known after its last finished sign-in. */
export const KNOWN_DEVICE_DAYS = 180;
/** The accounts one browser is known for, the latest sign-ins first (a shared computer in a lab). */
const MAX_ACCOUNTS = 10;
const DAY_MS = 86_400_000;

/** Host-only over https (host-cookies.ts), like the gateway's other cookies. */
export const knownDeviceCookieName = (secure: boolean) => hostCookieName('atrium.device', secure);

/** What the cookie holds, sealed: [account id, this browser's id for it, when it last finished a sign-in (ms)]. */
const entries = z.array(z.tuple([z.string().max(64), z.string().regex(/^[A-Za-z0-9_-]{22}$/), z.number().int()]));

export type KnownDeviceCookie = {
  /** The accounts this browser is known for: none without the cookie, or with one that is forged or old. */
  read(req: Request): KnownDevices;
  /** After a finished sign-in: this browser is known for the account from now on (its id kept, if it had one). */
  remember(req: Request, res: Response, accountId: string): void;
};

/**
 * The known-device cookie (OWASP's "device cookie"): set at every finished sign-in, password and second
 * step or passkey alike, sealed (AES-GCM) under the gateway's secret so that nobody can read or make one,
 * HttpOnly, sent only with the gateway's own form posts (SameSite=Strict), and kept for KNOWN_DEVICE_DAYS
 * after the last sign-in. It holds no secret of the person's: it only lets their right password through
 * a lockout at this browser (gateway/accounts/known-devices.ts).
 */
export function knownDeviceCookie(secret: string, secure: boolean): KnownDeviceCookie {
  const sealer = createSealer(secret, 'known-device-cookie');
  const name = knownDeviceCookieName(secure);

  function stored(req: Request): z.infer<typeof entries> {
    const sealed = (req.cookies as Record<string, string> | undefined)?.[name];
    if (!sealed) return [];
    try {
      const parsed = entries.safeParse(JSON.parse(sealer.open(sealed)));
      const oldest = Date.now() - KNOWN_DEVICE_DAYS * DAY_MS;
      return parsed.success ? parsed.data.filter(([, , since]) => since > oldest) : [];
    } catch {
      return [];
    }
  }

  return {
    read(req) {
      return new Map(stored(req).map(([account, id, since]) => [account, { id, since: new Date(since) }]));
    },
    remember(req, res, accountId) {
      const others = stored(req).filter(([account]) => account !== accountId);
      const id = stored(req).find(([account]) => account === accountId)?.[1] ?? randomBytes(16).toString('base64url');
      const kept = [[accountId, id, Date.now()] as const, ...others].slice(0, MAX_ACCOUNTS);
      res.cookie(name, sealer.seal(JSON.stringify(kept)), {
        httpOnly: true,
        sameSite: 'strict',
        secure,
        path: hostCookiePath('/interaction', secure),
        maxAge: KNOWN_DEVICE_DAYS * DAY_MS,
      });
    },
  };
}
