import { registerApp } from '../../apps-registry/register-app.ts';
import type { CommandGroup } from './command.ts';
import { withSession } from './session.ts';

export const appCommands: CommandGroup = {
  add: {
    summary: 'Registers an app as an OIDC client of the gateway and prints its client id and secret (shown only this once).',
    options: {
      name: { type: 'string', value: 'NAME', required: true, help: 'name shown to users on the consent page' },
      'redirect-uri': { type: 'string', value: 'URI', multiple: true, required: true, help: 'where sign-in returns (https, or http on localhost)' },
      'client-id': { type: 'string', value: 'ID', help: 'choose the client id (default: app-XXXXXXXX)' },
      'first-party': { type: 'boolean', help: 'trusted campus app: users are not asked for consent' },
      'backchannel-logout-uri': { type: 'string', value: 'URI', help: 'receives a logout token when a user signs out at the gateway' },
      'post-logout-redirect-uri': { type: 'string', value: 'URI', multiple: true, help: 'where RP-initiated logout may return' },
    },
    async run(args, io) {
      const app = await withSession(io, ({ ctx }) =>
        registerApp(ctx, {
          name: args.string('name'),
          redirectUris: args.list('redirect-uri'),
          clientId: args.string('client-id'),
          firstParty: args.flag('first-party'),
          backchannelLogoutUri: args.string('backchannel-logout-uri'),
          postLogoutRedirectUris: args.list('post-logout-redirect-uri'),
        }),
      );
      return {
        json: app,
        text: [
          `Registered app "${app.name}".`,
          `  client id:     ${app.clientId}`,
          `  client secret: ${app.clientSecret}`,
          'The secret is shown only this once and cannot be displayed again; store it now.',
        ].join('\n'),
      };
    },
  },
};
