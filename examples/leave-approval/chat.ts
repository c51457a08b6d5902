import * as client from 'openid-client';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Card } from '../../sdk/types.ts';

const domainOf = (address: string) => address.slice(address.indexOf('@') + 1);

/** What the app says in chat: approval cards sent to people, and replaced once a request is decided. */
export interface Chat {
  /** Sends a card to a person; the client id makes a retry land once. Resolves with the card message's id. */
  sendCard(to: string, card: Card, clientMsgId: string): Promise<string>;
  /** Replaces a card this bot sent to a person. */
  updateCard(to: string, messageId: string, card: Card): Promise<void>;
}

/**
 * The app's bot: on each node where it has someone to tell, with a client-credentials token for that
 * node (resource = the node's URL, scope `im`), kept until shortly before it expires.
 */
export function createChat(options: {
  gatewayIssuer: string;
  clientId: string;
  clientSecret: string;
  nodes: Record<string, string>;
}): Chat {
  let configuration: Promise<client.Configuration> | undefined;
  const tokens = new Map<string, { value: string; until: number }>();
  const bots = new Map<string, AtriumBot>();

  const discover = () => {
    configuration ??= client
      .discovery(
        new URL(options.gatewayIssuer),
        options.clientId,
        options.clientSecret,
        client.ClientSecretBasic(options.clientSecret),
        {
          execute: options.gatewayIssuer.startsWith('http://') ? [client.allowInsecureRequests] : [],
        },
      )
      .catch((error: unknown) => {
        configuration = undefined;
        throw error;
      });
    return configuration;
  };

  async function tokenFor(nodeUrl: string): Promise<string> {
    const cached = tokens.get(nodeUrl);
    if (cached && cached.until > Date.now()) return cached.value;
    const result = await client.clientCredentialsGrant(await discover(), { resource: nodeUrl, scope: 'im' });
    tokens.set(nodeUrl, { value: result.access_token, until: Date.now() + ((result.expires_in ?? 300) - 30) * 1000 });
    return result.access_token;
  }

  function botFor(address: string): AtriumBot {
    const domain = domainOf(address);
    const nodeUrl = options.nodes[domain];
    if (!nodeUrl) throw new Error(`no chat node is configured for ${domain}`);
    let bot = bots.get(domain);
    if (!bot) {
      bot = new AtriumBot({ nodeUrl, token: () => tokenFor(nodeUrl) });
      bots.set(domain, bot);
    }
    return bot;
  }

  return {
    async sendCard(to: string, card: Card, clientMsgId: string): Promise<string> {
      return (await botFor(to).sendCard({ to }, card, clientMsgId)).messageId;
    },
    async updateCard(to: string, messageId: string, card: Card): Promise<void> {
      await botFor(to).updateCard(messageId, card);
    },
  };
}
