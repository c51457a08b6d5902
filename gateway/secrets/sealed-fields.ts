import { Op, type Model, type ModelStatic } from 'sequelize';
import type { SealedField } from '../../core/reseal.ts';
import { createSealer } from '../../core/seal.ts';
import { callbackSecretSealer } from '../apps-registry/secrets.ts';
import { bindPasswordSealer } from '../directories/secrets.ts';
import type { GatewayModels } from '../models/index.ts';
import { VAULT } from '../portal/token-vault.ts';

const asStatic = (model: unknown) => model as ModelStatic<Model>;

/** A sealed value kept as one field of a JSON object in a column. */
const jsonField = (name: string): NonNullable<SealedField['inside']> => ({
  read(text) {
    const value = (JSON.parse(text) as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : null;
  },
  write(text, sealed) {
    return JSON.stringify({ ...(JSON.parse(text) as Record<string, unknown>), [name]: sealed });
  },
});

/**
 * Every value the gateway database holds sealed under ATRIUM_SECRET_KEY, for `atrium secrets reseal`. What
 * is sealed only for a moment (the secrets and recovery codes a page shows once, kept in the web session
 * until then; the known-device cookie, in the browser) is not listed: it opens while the previous secret
 * is configured, and is sealed afresh when next written.
 */
export function gatewaySealedFields(models: GatewayModels, secretKey: string): SealedField[] {
  return [
    {
      kind: 'signing-keys',
      sealer: createSealer(secretKey, 'signing-keys'),
      model: asStatic(models.SigningKey),
      key: 'kid',
      column: 'privateJwkSealed',
    },
    {
      kind: 'client-secrets',
      sealer: createSealer(secretKey, 'client-secrets'),
      model: asStatic(models.OidcPayload),
      key: 'id',
      column: 'payload',
      where: { model: 'Client' },
      inside: jsonField('client_secret_sealed'),
    },
    {
      // The secret a rotation replaced, working beside the new one until its grace ends.
      kind: 'client-secrets-previous',
      sealer: createSealer(secretKey, 'client-secrets'),
      model: asStatic(models.OidcPayload),
      key: 'id',
      column: 'payload',
      where: { model: 'Client' },
      inside: jsonField('client_secret_previous_sealed'),
    },
    {
      kind: 'app-callback-secrets',
      sealer: callbackSecretSealer(secretKey),
      model: asStatic(models.App),
      key: 'id',
      column: 'callbackSecretSealed',
    },
    {
      kind: 'app-callback-secrets-previous',
      sealer: callbackSecretSealer(secretKey),
      model: asStatic(models.App),
      key: 'id',
      column: 'callbackSecretPreviousSealed',
    },
    {
      kind: 'totp-secrets',
      sealer: createSealer(secretKey, 'totp-secrets'),
      model: asStatic(models.TotpFactor),
      key: 'userId',
      column: 'secret',
    },
    {
      // The new secret of a replacement under way (gateway/factors/replace-totp.ts).
      kind: 'totp-replacement-secrets',
      sealer: createSealer(secretKey, 'totp-secrets'),
      model: asStatic(models.TotpFactor),
      key: 'userId',
      column: 'replacementSecret',
    },
    {
      kind: 'directory-bind-passwords',
      sealer: bindPasswordSealer(secretKey),
      model: asStatic(models.Directory),
      key: 'id',
      column: 'bindPasswordSealed',
    },
    {
      kind: 'portal-tokens',
      sealer: createSealer(secretKey, 'portal-tokens'),
      model: asStatic(models.WebSession),
      key: 'sid',
      column: 'data',
      where: { sid: { [Op.startsWith]: VAULT } },
      inside: jsonField('sealed'),
    },
  ];
}
