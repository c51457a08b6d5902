import type { Sequelize, Transaction } from 'sequelize';
import type { AppCallPolicy } from '../core/app-call-policy.ts';
import type { GatewayModels, Role } from './models/index.ts';
import type { RequestMemo } from './request-memo.ts';
import type { SecurityNotices } from './recovery/security-notices.ts';

/** Who is acting: a signed-in person (admin console, login) or the operator at the CLI. */
export type Actor =
  | { kind: 'user'; id: string; name: string; roles: Role[]; unitPaths: string[] }
  | { kind: 'operator'; name: string }
  | { kind: 'anonymous' };

/**
 * Where the people served are: the gateway's public URL (its issuer) and the institution's name
 * (CAMPUS_NAME), for what they read (mails, the weak-password check's guessable words). Set by whoever makes
 * contexts from the gateway's configuration, as `placeOf(config, issuer)` (place.ts) gives it.
 */
export type Place = { issuer: string; campusName?: string };

/** What every use-case receives, whichever transport called it. */
export interface GatewayContext {
  sequelize: Sequelize;
  models: GatewayModels;
  actor: Actor;
  ip: string | null;
  /** The browser's User-Agent, for what a person is told of a change they made (security notices). */
  userAgent?: string | null;
  tx?: Transaction;
  /** Set for one OIDC provider request: lookups read once in it (request-memo.ts). */
  memo?: RequestMemo;
  /**
   * The operator's policy for calling the URLs apps register (APP_CALLBACKS_LOOPBACK), set by the gateway
   * and the CLI: the registry refuses a URL at a literal address it would not call. Left out, loopback
   * addresses are taken; each call is checked under the calling process's own policy all the same.
   */
  appCalls?: AppCallPolicy;
  /** Mails people of changes to their account's security (audit.ts hands it each line); absent without mail. */
  notices?: SecurityNotices;
  /** The gateway's URL and the campus's name; left out, mails say "Atrium" and passwords are not checked against the host. */
  place?: Place;
}

export const operator = (name = 'cli'): Actor => ({ kind: 'operator', name });
