import type { Sequelize } from 'sequelize';
import type { AdapterPayload } from 'oidc-provider';
import type { OidcStatements } from './statements.ts';
import { decodeRow, type StoredRow } from './stored-row.ts';

/** A token or code, with its grant and (for one that ends with its session) the session, read together. */
type JoinedRow = StoredRow & {
  grant_payload: string | null;
  grant_consumed_at: Date | string | null;
  session_payload: string | null;
  session_consumed_at: Date | string | null;
};

/**
 * What the provider reads right after a refresh token or an authorization code: their grant (always),
 * and the session that a token ending with its session is bound to (oidc-provider's
 * checkSessionBinding, for the codes of sign-ins without offline access).
 */
export const READ_WITH_GRANT = new Set(['RefreshToken', 'AuthorizationCode']);

export type ReadAhead = {
  /** The token or code `id` of `model`; its grant and session are kept for `request`. */
  read(model: string, id: string, request: object): Promise<AdapterPayload | undefined>;
  /**
   * The session `id`; when the request names a client (an authorization), the grant the session holds
   * for that client is kept for `request` too. Undefined (not `{ found }`) when the request names none.
   */
  readSession(id: string, request: object): Promise<{ found: AdapterPayload | undefined } | undefined>;
  /** What the current request read ahead under `Grant:<id>` or `Session/uid:<uid>`, handed out once. */
  take(key: string): { found: AdapterPayload | undefined } | undefined;
  /** Forgets what the current request read ahead (it is writing to the store). */
  drop(): void;
};

/**
 * A refresh token or an authorization code is read with its grant and its session in one statement:
 * one round trip where the provider's lookups one after another make three. The two come from the
 * same statement that found the token, a moment before the provider asks for them, and are handed out
 * once, to the request that read them; a write the request makes to the store drops them, so a later
 * read in it goes to the database.
 */
export function createReadAhead(
  sequelize: Sequelize,
  statements: OidcStatements,
  currentRequest: () => object | undefined,
): ReadAhead {
  const statement = joinedStatement(sequelize);
  const sessionStatement = sessionWithGrantStatement(sequelize);
  const kept = new WeakMap<object, Map<string, AdapterPayload | undefined>>();
  return {
    async readSession(id, request) {
      const clientId = (request as { query?: Record<string, unknown> }).query?.client_id;
      if (typeof clientId !== 'string' || !PLAIN_CLIENT_ID.test(clientId)) return undefined;
      const now = new Date();
      const [row] = await statements.select<JoinedRow>({
        sql: sessionStatement,
        values: [`$.authorizations."${clientId}".grantId`, now, 'Session', id, now],
      });
      const found = decodeRow(row);
      if (!row || !found) return { found };
      const authorizations = found.authorizations as Record<string, { grantId?: unknown }> | undefined;
      const grantId = authorizations?.[clientId]?.grantId;
      if (typeof grantId === 'string') {
        kept.set(request, new Map([[`Grant:${grantId}`, joined(row.grant_payload, row.grant_consumed_at)]]));
      }
      return { found };
    },
    async read(model, id, request) {
      const now = new Date();
      const [row] = await statements.select<JoinedRow>({ sql: statement, values: [now, now, model, id, now] });
      const found = decodeRow(row);
      if (!row || !found) return found;
      const ahead = new Map<string, AdapterPayload | undefined>();
      if (typeof found.grantId === 'string') {
        ahead.set(`Grant:${found.grantId}`, joined(row.grant_payload, row.grant_consumed_at));
      }
      if (typeof found.sessionUid === 'string') {
        ahead.set(`Session/uid:${found.sessionUid}`, joined(row.session_payload, row.session_consumed_at));
      }
      kept.set(request, ahead);
      return found;
    },
    take(key) {
      const request = currentRequest();
      const ahead = request && kept.get(request);
      if (!ahead?.has(key)) return undefined;
      const found = ahead.get(key);
      ahead.delete(key);
      return { found };
    },
    drop() {
      const request = currentRequest();
      if (request) kept.delete(request);
    },
  };
}

// Client ids as the registry makes them; another is named in a JSON path only after quoting rules
// this module does not need, so its session is read alone.
const PLAIN_CLIENT_ID = /^[A-Za-z0-9_.~-]{1,200}$/;

const joined = (payload: string | null, consumedAt: Date | string | null) =>
  payload === null ? undefined : decodeRow({ payload, consumed_at: consumedAt });

/** The token or code with its grant and its session (by the uid its payload names), each unless expired. */
function joinedStatement(sequelize: Sequelize): string {
  const sessionUid =
    sequelize.getDialect() === 'sqlite'
      ? "json_extract(t.payload, '$.sessionUid')"
      : "JSON_VALUE(t.payload, '$.sessionUid')";
  return `SELECT t.payload, t.consumed_at,
      g.payload AS grant_payload, g.consumed_at AS grant_consumed_at,
      s.payload AS session_payload, s.consumed_at AS session_consumed_at
    FROM oidc_payloads t
    LEFT JOIN oidc_payloads g
      ON g.model = 'Grant' AND g.id = t.grant_id AND (g.expires_at IS NULL OR g.expires_at > ?)
    LEFT JOIN oidc_payloads s
      ON s.model = 'Session' AND s.uid = ${sessionUid} AND (s.expires_at IS NULL OR s.expires_at > ?)
    WHERE t.model = ? AND t.id = ? AND (t.expires_at IS NULL OR t.expires_at > ?)`;
}

/** A session with the grant its authorization of one client names (the JSON path is the first value). */
function sessionWithGrantStatement(sequelize: Sequelize): string {
  const grantId = sequelize.getDialect() === 'sqlite' ? 'json_extract(s.payload, ?)' : 'JSON_VALUE(s.payload, ?)';
  return `SELECT s.payload, s.consumed_at,
      g.payload AS grant_payload, g.consumed_at AS grant_consumed_at,
      NULL AS session_payload, NULL AS session_consumed_at
    FROM oidc_payloads s
    LEFT JOIN oidc_payloads g
      ON g.model = 'Grant' AND g.id = ${grantId} AND (g.expires_at IS NULL OR g.expires_at > ?)
    WHERE s.model = ? AND s.id = ? AND (s.expires_at IS NULL OR s.expires_at > ?)`;
}
