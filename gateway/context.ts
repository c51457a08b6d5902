import type { Sequelize, Transaction } from 'sequelize';
import type { GatewayModels, Role } from './models/index.ts';
import type { RequestMemo } from './request-memo.ts';

/** Who is acting: a signed-in person (admin console, login) or the operator at the CLI. */
export type Actor =
  | { kind: 'user'; id: string; name: string; roles: Role[]; unitPaths: string[] }
  | { kind: 'operator'; name: string }
  | { kind: 'anonymous' };

/** What every use-case receives, whichever transport called it. */
export interface GatewayContext {
  sequelize: Sequelize;
  models: GatewayModels;
  actor: Actor;
  ip: string | null;
  tx?: Transaction;
  /** Set for one OIDC provider request: lookups read once in it (request-memo.ts). */
  memo?: RequestMemo;
}

export const operator = (name = 'cli'): Actor => ({ kind: 'operator', name });
