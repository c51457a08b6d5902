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

/** Where the gateway lists the chat nodes this app's bot may be given tokens for. */
const NODES_PATH = '/api/v1/nodes';
// A domain missing from the list is asked again after this long, not on every card: nodes change seldom.
const NODES_FRESH_MS = 60_000;

/**
 * Each chat domain's node URL, as the gateway tells the app (`GET /api/v1/nodes` with its client
 * credentials): the very URL to name as `resource` for a token there and to give the SDK. `fixed`
 * (LEAVE_NODES) comes first when given: the nodes as the app's own network reaches them.
 */
function nodeDirectory(options: { gatewayIssuer: string; clientId: string; clientSecret: string }) {
  let listed: Promise<Map<string, string>> | undefined;
  let listedAt = 0;
  const credentials = Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64');

  async function list(): Promise<Map<string, string>> {
    const response = await fetch(`${options.gatewayIssuer}${NODES_PATH}`, {
      headers: { accept: 'application/json', authorization: `Basic ${credentials}` },
    });
    const body = (await response.json().catch(() => ({}))) as {
      nodes?: { domain: string; url: string }[];
      error?: { message?: string };
    };
    if (!response.ok || !Array.isArray(body.nodes))
      throw new Error(
        `the gateway did not list the chat nodes (HTTP ${response.status}: ${body.error?.message ?? '?'})`,
      );
    return new Map(body.nodes.map((n) => [n.domain, n.url]));
  }

  return async function nodeUrlOf(domain: string): Promise<string | undefined> {
    const known = listed && (await listed.catch(() => undefined));
    if (known?.has(domain)) return known.get(domain);
    if (known && Date.now() - listedAt < NODES_FRESH_MS) return undefined;
    listedAt = Date.now();
    listed = list();
    return (await listed).get(domain);
  };
}

/**
 * The app's bot: on each node where it has someone to tell, with a client-credentials token for that
 * node (resource = the node's URL, scope `im`), kept until shortly before it expires. The nodes' URLs
 * come from the gateway, or from `nodes` (LEAVE_NODES) where given.
 */
export function createChat(options: {
  gatewayIssuer: string;
  clientId: string;
  clientSecret: string;
  nodes?: Record<string, string>;
}): Chat {
  let configuration: Promise<client.Configuration> | undefined;
  const tokens = new Map<string, { value: string; until: number }>();
  const bots = new Map<string, AtriumBot>();
  const listedUrlOf = nodeDirectory(options);

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

  async function botFor(address: string): Promise<AtriumBot> {
    const domain = domainOf(address);
    const nodeUrl = options.nodes?.[domain] ?? (await listedUrlOf(domain));
    if (!nodeUrl)
      throw new Error(
        `the gateway lists no chat node of ${domain} for this app's bot${options.nodes ? ', nor does LEAVE_NODES' : ''}`,
      );
    let bot = bots.get(nodeUrl);
    if (!bot) {
      bot = new AtriumBot({ nodeUrl, token: () => tokenFor(nodeUrl) });
      bots.set(nodeUrl, bot);
    }
    return bot;
  }

  return {
    async sendCard(to: string, card: Card, clientMsgId: string): Promise<string> {
      return (await (await botFor(to)).sendCard({ to }, card, clientMsgId)).messageId;
    },
    async updateCard(to: string, messageId: string, card: Card): Promise<void> {
      await (await botFor(to)).updateCard(messageId, card);
    },
  };
}
