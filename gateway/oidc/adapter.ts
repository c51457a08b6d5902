import { Op, type Sequelize } from 'sequelize';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { GatewayModels } from '../models/index.ts';
import { moveReadVersion } from '../shared-reads.ts';
import { clientSecretSealerOf, openClientSecret, sealClientSecret } from './client-secrets.ts';
import { createReadAhead, READ_WITH_GRANT } from './read-ahead.ts';
import { sweepPreviousSecrets } from '../apps-registry/sweep-previous-secrets.ts';
import { sweepSessionDevices } from './session-devices.ts';
import { oidcStatementsFor, type OidcStatements } from './statements.ts';
import { decodeRow, type StoredRow } from './stored-row.ts';

const SPEND = 'UPDATE oidc_payloads SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL';
const DELETE_ONE = 'DELETE FROM oidc_payloads WHERE model = ? AND id = ?';
const COLUMNS = 'model, id, payload, grant_id, user_code, uid, account_id, expires_at';
const CHANGED = ['payload', 'grant_id', 'user_code', 'uid', 'account_id', 'expires_at'];

/** Insert or replace one row; a consumed mark stays (the provider never un-consumes). */
function upsertStatement(sequelize: Sequelize): string {
  const values = `INSERT INTO oidc_payloads (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
  return sequelize.getDialect() === 'sqlite'
    ? `${values} ON CONFLICT (model, id) DO UPDATE SET ${CHANGED.map((c) => `${c} = excluded.${c}`).join(', ')}`
    : `${values} ON DUPLICATE KEY UPDATE ${CHANGED.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
}

/**
 * oidc-provider's persistence contract over one table: every model it stores (sessions, grants, codes,
 * tokens, clients, interactions...) is a row keyed by (model, id) with its JSON payload.
 * Nothing lives in memory, so any number of gateway processes can share the database.
 *
 * Every token request runs several of these, so they are plain SQL (the same on SQLite and MariaDB but
 * the upsert) rather than model queries, which cost twice the CPU per read in Sequelize, and are sent
 * the way each database takes them best (statements.ts). Dates go in as Date values and are stored as
 * the models store them, in UTC: on MariaDB bound in the connection's zone (UTC, as Sequelize sets it),
 * on SQLite written as Sequelize's UTC text. Sequelize's replacements (sequelizeStatements, now only
 * for a database in memory) write a Date in the process's own zone instead.
 */
export function createAdapterClass(
  models: GatewayModels,
  currentRequest: () => object | undefined = () => undefined,
  statements: OidcStatements = oidcStatementsFor(models.OidcPayload.sequelize!),
) {
  const sequelize = models.OidcPayload.sequelize!;
  const upsert = upsertStatement(sequelize);
  const readAhead = createReadAhead(sequelize, statements, currentRequest);
  // The refresh token a request has consumed, spent only once its successor is stored (rotate below).
  const rotating = new WeakMap<object, string>();
  // The session a request read, as stored but for its expiry (unchangedSession below).
  const sessionsRead = new WeakMap<object, { id: string; stored: string; exp: number | undefined }>();

  /**
   * A refresh token is spent only once its successor is stored: were it spent first, a failure in between
   * would leave the app with a spent token, whose retry counts as reuse and ends the grant. The other
   * order needs no transaction (which on SQLite takes a connection of its own, and under load every
   * worker thread waiting for the write lock): a failure after the successor is stored leaves the
   * presented token usable, and a successor that was never handed out, unknown to anyone, expires. Of
   * two requests presenting the same token at once only one spends it; the other drops its successor and
   * is refused as a used token would be.
   */
  async function rotate(spentId: string, values: unknown[]): Promise<void> {
    const [, spent] = await statements.write([
      { sql: upsert, values },
      { sql: SPEND, values: [new Date(), 'RefreshToken', spentId] },
    ]);
    if (spent === 1) return;
    await statements.write([{ sql: DELETE_ONE, values: ['RefreshToken', values[1]] }]);
    throw new errors.InvalidGrant('refresh token already used');
  }

  /**
   * oidc-provider saves the session at the end of every request that used it, mostly to push its expiry
   * on (the session lasts its TTL from its last use). A session the request read and did not change is
   * written only when that push is worth it, once a hundredth of the TTL has passed since it was written:
   * it may then end up to that much earlier than it would have. (The provider's own "touched" mark cannot
   * tell: it misses changes made inside the session's nested objects.) Nor does the stale copy of a
   * request that changed nothing overwrite what a concurrent request of the same browser wrote meanwhile.
   */
  function unchangedSession(id: string, payload: AdapterPayload, expiresIn: number): boolean {
    const request = currentRequest();
    const read = request && sessionsRead.get(request);
    if (!read || read.id !== id || read.exp === undefined || payload.exp === undefined) return false;
    return payload.exp - read.exp < expiresIn / 100 && withoutExpiry(payload) === read.stored;
  }

  async function findWhere(model: string, column: 'id' | 'uid' | 'user_code', value: string) {
    const rows = await statements.select<StoredRow>({
      sql: `SELECT payload, consumed_at FROM oidc_payloads
       WHERE model = ? AND ${column} = ? AND (expires_at IS NULL OR expires_at > ?)`,
      values: [model, value, new Date()],
    });
    return decodeRow(rows[0]);
  }

  return class SequelizeAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const values = [
        this.model,
        id,
        // A client's secret is sealed at rest, and opened only by find (client-secrets.ts).
        JSON.stringify(this.model === 'Client' ? sealClientSecret(payload, clientSecretSealerOf(sequelize)) : payload),
        payload.grantId ?? null,
        payload.userCode ?? null,
        payload.uid ?? null,
        typeof payload.accountId === 'string' ? payload.accountId : null,
        expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      ];
      if (this.model === 'Session' && unchangedSession(id, payload, expiresIn)) return;
      readAhead.drop();
      const request = this.model === 'RefreshToken' ? currentRequest() : undefined;
      const spentId = request && rotating.get(request);
      if (request && spentId) {
        rotating.delete(request);
        return rotate(spentId, values);
      }
      await statements.write([{ sql: upsert, values }]);
      // Every gateway process keeps the clients it read (shared-reads.ts).
      if (this.model === 'Client') await moveReadVersion(sequelize);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const stored = await findWhere('Client', 'id', id);
        return stored && (openClientSecret(stored, clientSecretSealerOf(sequelize)) as AdapterPayload);
      }
      const request = currentRequest();
      if (request && READ_WITH_GRANT.has(this.model)) return readAhead.read(this.model, id, request);
      const ahead = readAhead.take(`${this.model}:${id}`);
      if (ahead) return ahead.found;
      const withGrant = request && this.model === 'Session' ? await readAhead.readSession(id, request) : undefined;
      const found = withGrant ? withGrant.found : await findWhere(this.model, 'id', id);
      if (request && found && this.model === 'Session') {
        sessionsRead.set(request, { id, stored: withoutExpiry(found), exp: found.exp });
      }
      return found;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const ahead = readAhead.take(`${this.model}/uid:${uid}`);
      if (ahead) return ahead.found;
      return findWhere(this.model, 'uid', uid);
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return findWhere(this.model, 'user_code', userCode);
    }

    async consume(id: string): Promise<void> {
      readAhead.drop();
      // The provider consumes a refresh token only to rotate it: spent when its successor is stored.
      const request = currentRequest();
      if (request && this.model === 'RefreshToken') {
        rotating.set(request, id);
        return;
      }
      const [spent] = await statements.write([{ sql: SPEND, values: [new Date(), this.model, id] }]);
      if (request && spent !== 1) await refuseSecondUse(statements, this.model, id, request);
    }

    async destroy(id: string): Promise<void> {
      readAhead.drop();
      await statements.write([{ sql: DELETE_ONE, values: [this.model, id] }]);
      if (this.model === 'Client') await moveReadVersion(sequelize);
    }

    // Revoking a grant removes every artefact issued under it, whichever model it is.
    async revokeByGrantId(grantId: string): Promise<void> {
      readAhead.drop();
      await statements.write([{ sql: 'DELETE FROM oidc_payloads WHERE grant_id = ?', values: [grantId] }]);
    }
  };
}

/**
 * A code is exchanged once. The provider checks the mark it read, then consumes: two requests
 * presenting the same code at once could both pass that check, so only the one whose statement sets
 * the mark goes on. The other is refused as a code used twice is, and, as then, what was issued under
 * its grant is revoked (RFC 6749 4.1.2).
 */
async function refuseSecondUse(statements: OidcStatements, model: string, id: string, request: object): Promise<never> {
  const [row] = await statements.select<{ grant_id: string | null }>({
    sql: 'SELECT grant_id FROM oidc_payloads WHERE model = ? AND id = ?',
    values: [model, id],
  });
  const grantId = row?.grant_id;
  if (grantId) {
    const sql = "DELETE FROM oidc_payloads WHERE grant_id = ? OR (model = 'Grant' AND id = ?)";
    await statements.write([{ sql, values: [grantId, grantId] }]);
    const ctx = request as { oidc?: { provider?: { emit(event: string, ...args: unknown[]): unknown } } };
    ctx.oidc?.provider?.emit('grant.revoked', request, grantId);
  }
  throw new errors.InvalidGrant(`${model === 'AuthorizationCode' ? 'authorization code' : model} already consumed`);
}

const withoutExpiry = (payload: AdapterPayload) => JSON.stringify({ ...payload, exp: undefined });

/**
 * Deletes expired rows, then what was noted of the sessions gone (session-devices.ts), and the rotated
 * secrets whose grace is over (sweep-previous-secrets.ts); run periodically so nothing grows without bound,
 * nor is a replaced secret kept longer than it works. Returns how many OIDC rows went.
 */
export async function sweepExpiredPayloads(models: GatewayModels): Promise<number> {
  const swept = await models.OidcPayload.destroy({ where: { expiresAt: { [Op.lt]: new Date() } } });
  await sweepSessionDevices(models);
  await sweepPreviousSecrets(models);
  return swept;
}
