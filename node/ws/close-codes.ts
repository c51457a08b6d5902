/** WebSocket close codes the node uses (4000-4999 are for applications); documented in docs/protocol.md. */
export const CLOSE = {
  goingAway: { code: 1001, reason: 'server_shutdown' },
  /**
   * The token could not be checked: the identity gateway cannot be reached and the node does not hold the
   * key it is signed with. Nothing is wrong with the token: reconnect with it later (1013: try again later).
   */
  gatewayUnavailable: { code: 1013, reason: 'gateway_unavailable' },
  /**
   * The domain's processes could not hear each other for a while (Redis was away): this socket may have
   * missed pushes. Reconnecting syncs them.
   */
  catchUp: { code: 1012, reason: 'catch_up' },
  badFrames: { code: 4400, reason: 'too_many_bad_frames' },
  unauthenticated: { code: 4401, reason: 'unauthenticated' },
  tokenExpired: { code: 4401, reason: 'token_expired' },
  /** The token's session or person was ended at the gateway (sign-out, disable, password reset). */
  tokenRevoked: { code: 4401, reason: 'token_revoked' },
  forbidden: { code: 4403, reason: 'forbidden' },
  /** The app the socket's token was issued to was disabled or deleted: reconnecting cannot help. */
  clientDisabled: { code: 4403, reason: 'client_disabled' },
  /**
   * The person no longer chats on this domain: moved off its units, or the domain itself was removed at
   * the gateway (`session.ended` says which). Their other domains go on.
   */
  leftDomain: { code: 4403, reason: 'left_domain' },
  authTimeout: { code: 4408, reason: 'auth_timeout' },
  sessionEnded: { code: 4409, reason: 'session_ended' },
  /**
   * A bot's socket opened with a token issued before its app's client secret was rotated: get a token with
   * the new secret (a bot still holding the old one must be given the new one first), then reconnect.
   */
  secretRotated: { code: 4409, reason: 'secret_rotated' },
  flooding: { code: 4429, reason: 'rate_limit_abuse' },
  /**
   * The person already holds SOCKETS_PER_PERSON sockets to this process: the new one is refused, the open
   * ones go on. Reconnecting with backoff gets in once one of the others closes.
   */
  tooManySockets: { code: 4429, reason: 'too_many_sockets' },
} as const;
