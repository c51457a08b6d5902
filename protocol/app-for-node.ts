/**
 * What the gateway tells a domain node of one app (its bot's slug), over the signed
 * `GET /federation/v1/apps/:slug`: enough to run the app's bot and deliver its card clicks.
 */
export type AppForNode = {
  slug: string;
  name: string;
  clientId: string;
  botEnabled: boolean;
  disabled: boolean;
  interactionCallbackUrl: string | null;
  callbackSecret: string | null;
};
