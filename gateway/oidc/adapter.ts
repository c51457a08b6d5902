import { Op } from 'sequelize';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { GatewayModels } from '../models/index.ts';

/**
 * oidc-provider's persistence contract over one table: every model it stores (sessions, grants, codes,
 * tokens, clients, interactions, replay records...) is a row keyed by (model, id) with its JSON payload.
 * Nothing lives in memory, so any number of gateway processes can share the database.
 */
export function createAdapterClass(models: GatewayModels) {
  const { OidcPayload } = models;

  const live = () => ({ [Op.or]: [{ expiresAt: null }, { expiresAt: { [Op.gt]: new Date() } }] });

  function decode(row: InstanceType<typeof OidcPayload> | null): AdapterPayload | undefined {
    if (!row) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
  }

  return class SequelizeAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await OidcPayload.upsert({
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grantId: payload.grantId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        accountId: typeof payload.accountId === 'string' ? payload.accountId : null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return decode(await OidcPayload.findOne({ where: { model: this.model, id, ...live() } }));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return decode(await OidcPayload.findOne({ where: { model: this.model, uid, ...live() } }));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return decode(await OidcPayload.findOne({ where: { model: this.model, userCode, ...live() } }));
    }

    async consume(id: string): Promise<void> {
      await OidcPayload.update({ consumedAt: new Date() }, { where: { model: this.model, id } });
    }

    async destroy(id: string): Promise<void> {
      await OidcPayload.destroy({ where: { model: this.model, id } });
    }

    // Revoking a grant removes every artefact issued under it, whichever model it is.
    async revokeByGrantId(grantId: string): Promise<void> {
      await OidcPayload.destroy({ where: { grantId } });
    }
  };
}

/** Deletes expired rows; run periodically so the table does not grow without bound. */
export async function sweepExpiredPayloads(models: GatewayModels): Promise<number> {
  return models.OidcPayload.destroy({ where: { expiresAt: { [Op.lt]: new Date() } } });
}
