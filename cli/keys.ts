import { createSealer } from '../core/seal.ts';
import { listSigningKeys, retireSigningKey, rotateSigningKeys } from '../gateway/oidc/keys.ts';
import type { CommandGroup } from './command.ts';
import { numberOption } from './number-option.ts';
import { audit } from '../gateway/audit.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

export const keyCommands: CommandGroup = {
  rotate: {
    summary: 'Creates a new signing key, which signs from now on; keys superseded long enough ago are retired.',
    options: {
      'retire-after': {
        type: 'string',
        value: 'HOURS',
        help: 'retire keys superseded more than HOURS ago (default 24)',
      },
    },
    notes:
      'Running gateways pick the new key up within KEYS_RELOAD_SECONDS; older keys stay published so issued tokens keep verifying.',
    async run(args, io) {
      const hours = numberOption(args, 'retire-after', { default: 24, expects: 'a number of hours' });
      const result = await withSession(io, async ({ config, models, ctx }) => {
        const { created, retired } = await rotateSigningKeys(
          models,
          createSealer(config.secretKey, 'signing-keys'),
          hours,
        );
        await audit(ctx, { action: 'keys.rotate', target: created.kid, details: { retired } });
        return { kid: created.kid, retired, reloadWithinSeconds: config.keysReloadSeconds };
      });
      return {
        json: result,
        text: [
          `New signing key ${result.kid}; running gateways start signing with it within ${result.reloadWithinSeconds} s.`,
          result.retired.length > 0 ? `Retired: ${result.retired.join(', ')}.` : 'No key retired.',
        ].join('\n'),
      };
    },
  },
  list: {
    summary: 'Lists the signing keys, newest first; the one marked * signs new tokens.',
    async run(_args, io) {
      const keys = await withSession(io, ({ models }) => listSigningKeys(models));
      const text =
        keys.length === 0
          ? 'No signing keys yet; the gateway creates one when it first starts (or run: atrium keys rotate).'
          : table(
              ['KID', 'ALG', 'STATE', 'CREATED', 'RETIRED'],
              keys.map((k) => [`${k.kid}${k.signing ? ' *' : ''}`, k.alg, k.state, k.createdAt, k.retiredAt ?? '']),
            );
      return { json: { keys }, text };
    },
  },
  retire: {
    summary: 'Retires an older signing key now: it is no longer published, so tokens it signed stop verifying.',
    args: ['KID'],
    async run(args, io) {
      const kid = args.positionals[0]!;
      await withSession(io, async ({ models, ctx }) => {
        await retireSigningKey(models, kid);
        await audit(ctx, { action: 'keys.retire', target: kid });
      });
      return { json: { retired: kid }, text: `Retired signing key ${kid}.` };
    },
  },
};
