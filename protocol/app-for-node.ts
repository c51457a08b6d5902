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
  /**
   * The callback secret a rotation replaced, while its grace lasts, and when that ends (ISO 8601): until
   * then the node signs each click with both (protocol/callback-signature.ts). Absent from a gateway of
   * before graces, null outside one.
   */
  previousCallbackSecret?: string | null;
  previousCallbackSecretUntil?: string | null;
};

/**
 * What the gateway tells a campus node of the client a person's token was issued to, over the signed
 * `GET /federation/v1/clients/:clientId`. A gateway from before `firstParty` and `app` leaves them out.
 */
export type ClientForNode = {
  clientId: string;
  /** Whether its tokens may still be used (its app is neither disabled nor deleted). */
  active: boolean;
  /** The gateway's own clients (portal, console), or an app an administrator marked first-party. */
  firstParty?: boolean;
  /** The registered app it is; null for the gateway's own clients. */
  app?: { slug: string; name: string } | null;
};
