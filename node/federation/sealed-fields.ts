import type { Model, ModelStatic } from 'sequelize';
import type { SealedField } from '../../core/reseal.ts';
import { createSealer } from '../../core/seal.ts';
import type { FederationModels } from './models.ts';
import { NODE_KEY_SEAL } from './node-keys.ts';

/** Every value a node database holds sealed under NODE_SECRET_KEY (its signing keys), for `atrium secrets reseal --node`. */
export function nodeSealedFields(models: FederationModels, secretKey: string): SealedField[] {
  return [
    {
      kind: NODE_KEY_SEAL,
      sealer: createSealer(secretKey, NODE_KEY_SEAL),
      model: models.NodeKey as unknown as ModelStatic<Model>,
      key: 'kid',
      column: 'privateJwkSealed',
    },
  ];
}
