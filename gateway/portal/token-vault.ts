import { Op, UniqueConstraintError } from 'sequelize';
import { AppError } from '../../core/errors.ts';
import { startsWith } from '../../core/like.ts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import type { GatewayModels } from '../models/index.ts';
import type { PortalAuth } from './sign-in.ts';

type CachedToken = { token: string; issuedAt: number; expiresAt: number };
type Vault = { refreshToken: string; tokens: Record<string, CachedToken> };

export type NodeToken = { token: string; expiresAt: number };

/** Longer than a refresh takes (openid-client gives up after 30 s); a crashed holder frees it after this. */
const LEASE_MS = 35_000;
export const VAULT = 'portal-vault:';
const LEASE = 'portal-lease:';

/** Where the rows of the portal sessions whose ids start with `prefix` are: theirs, their tokens' and their leases'. */
export const rowPrefixesOf = (prefix: string) => [prefix, VAULT + prefix, LEASE + prefix];

/** The page answers it by signing in again (silently, while the gateway session lasts). */
export class SessionExpiredError extends AppError {
  constructor() {
    super('session_expired', 401, 'Your portal session has ended; sign in again');
  }
}

/** The portal's tokens for one portal session at a time, kept server-side; the page never sees a refresh token. */
export interface TokenVault {
  /** Keeps the refresh token of a new portal session, for as long as the session lives. */
  open(sid: string, refreshToken: string, expiresAt: Date): Promise<void>;
  /**
   * An access token for one domain node: the one minted before while more than half its lifetime is
   * left (so a socket never starts on a token about to expire), otherwise a new one from the refresh token.
   * Refreshes of one session take turns. Rejects with SessionExpiredError when the grant is gone or does
   * not cover the node (signing in again fixes both), and with a 503 AppError when no token can be had now.
   */
  accessToken(sid: string, domain: string, nodeUrl: string): Promise<NodeToken>;
  /** Forgets a session's tokens; returns its refresh token, for revocation. */
  close(sid: string): Promise<string | undefined>;
  /** Forgets the tokens of every session whose id starts with `prefix` (single logout); returns their refresh tokens. */
  closeAll(prefix: string): Promise<string[]>;
}

/**
 * The portal's tokens, server-side only: the refresh token and the access token last minted per domain
 * node, sealed, in a `web_sessions` row of their own beside the portal session (so a session save never
 * overwrites a rotated refresh token). Refresh tokens rotate and a reused one revokes the whole grant,
 * so refreshes of one session take turns: in this process through a promise chain, across processes
 * through a lease row in the same table.
 */
export function createTokenVault(deps: {
  models: GatewayModels;
  sealer: Sealer;
  auth: PortalAuth;
  logger: Logger;
}): TokenVault {
  const { WebSession } = deps.models;
  const turns = new Map<string, Promise<unknown>>();

  async function read(sid: string): Promise<Vault | null> {
    const row = await WebSession.findByPk(VAULT + sid);
    if (!row || row.expiresAt.getTime() <= Date.now()) return null;
    try {
      return JSON.parse(deps.sealer.open((JSON.parse(row.data) as { sealed: string }).sealed)) as Vault;
    } catch (err) {
      deps.logger.warn({ err }, 'a portal token vault could not be opened');
      return null;
    }
  }

  async function write(sid: string, vault: Vault, expiresAt?: Date): Promise<void> {
    const data = JSON.stringify({ sealed: deps.sealer.seal(JSON.stringify(vault)) });
    if (expiresAt) await WebSession.upsert({ sid: VAULT + sid, data, expiresAt });
    else await WebSession.update({ data }, { where: { sid: VAULT + sid } });
  }

  async function leased<T>(sid: string, work: () => Promise<T>): Promise<T> {
    const key = LEASE + sid;
    for (let attempt = 0; ; attempt++) {
      try {
        await WebSession.create({ sid: key, data: '{}', expiresAt: new Date(Date.now() + LEASE_MS) });
        break;
      } catch (error) {
        if (!(error instanceof UniqueConstraintError)) throw error;
        if (attempt > 400) throw new AppError('busy', 503, 'The portal is busy refreshing your tokens; try again');
        await WebSession.destroy({ where: { sid: key, expiresAt: { [Op.lte]: new Date() } } });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    try {
      return await work();
    } finally {
      await WebSession.destroy({ where: { sid: key } });
    }
  }

  function inTurn<T>(sid: string, work: () => Promise<T>): Promise<T> {
    const previous = turns.get(sid) ?? Promise.resolve();
    const next = previous.then(() => leased(sid, work));
    const settled = next.catch(() => undefined);
    turns.set(sid, settled);
    void settled.then(() => turns.get(sid) === settled && turns.delete(sid));
    return next;
  }

  return {
    async open(sid: string, refreshToken: string, expiresAt: Date): Promise<void> {
      await write(sid, { refreshToken, tokens: {} }, expiresAt);
    },

    accessToken(sid: string, domain: string, nodeUrl: string): Promise<NodeToken> {
      return inTurn(sid, async () => {
        const vault = await read(sid);
        if (!vault) throw new SessionExpiredError();
        const cached = vault.tokens[domain];
        const now = Date.now();
        if (cached && cached.expiresAt - now > (cached.expiresAt - cached.issuedAt) / 2)
          return { token: cached.token, expiresAt: cached.expiresAt };
        let minted;
        try {
          minted = await deps.auth.refresh(vault.refreshToken, nodeUrl);
        } catch (error) {
          const code = (error as { error?: string }).error;
          if (code === 'invalid_grant') {
            // The grant is gone (revoked, expired, or the account was disabled): the session is over.
            await WebSession.destroy({ where: { sid: VAULT + sid } });
            throw new SessionExpiredError();
          }
          // A domain registered after this sign-in is not in the grant; signing in again adds it.
          if (code === 'invalid_target') throw new SessionExpiredError();
          deps.logger.error({ err: error, domain }, 'portal token refresh failed');
          throw new AppError('token_unavailable', 503, 'A chat token could not be obtained now; try again');
        }
        vault.refreshToken = minted.refreshToken;
        vault.tokens[domain] = { token: minted.accessToken, issuedAt: now, expiresAt: minted.expiresAt };
        await write(sid, vault);
        return { token: minted.accessToken, expiresAt: minted.expiresAt };
      });
    },

    async close(sid: string): Promise<string | undefined> {
      const vault = await inTurn(sid, () => read(sid));
      await WebSession.destroy({ where: { sid: VAULT + sid } });
      return vault?.refreshToken;
    },

    async closeAll(prefix: string): Promise<string[]> {
      const rows = await WebSession.findAll({
        where: { sid: startsWith(WebSession.sequelize!, `${VAULT}${prefix}`) },
        attributes: ['sid'],
      });
      const sids = rows.map((r) => r.sid.slice(VAULT.length));
      const vaults = await Promise.all(sids.map((sid) => read(sid)));
      await WebSession.destroy({ where: { sid: { [Op.in]: rows.map((r) => r.sid) } } });
      return vaults.filter((v): v is Vault => v !== null).map((v) => v.refreshToken);
    },
  };
}
