/**
 * Who receives a code:
 * - `client`: a device or app of a domain node, in a socket's `error` frame or an `/api/v1`, bot or webhook
 *   body (docs/protocol.md lists each);
 * - `peer`: another domain's node, a proxy or the gateway, answering a signed server-to-server request
 *   (docs/federation.md lists each);
 * - `local`: the gateway's own pages, console and portal API, start-up refusals, or a code caught where
 *   it is thrown; not part of the chat or federation wire, so neither document needs it.
 */
export type ErrorAudience = 'client' | 'peer' | 'local';

type Entry = { meaning: string; to: readonly ErrorAudience[] };

const C = ['client'] as const;
const P = ['peer'] as const;
const L = ['local'] as const;
const CP = ['client', 'peer'] as const;
const CL = ['client', 'local'] as const;
const CPL = ['client', 'peer', 'local'] as const;

/**
 * Every stable error code of Atrium, with what it means. A code is part of the wire: a test fails when
 * the code base emits one that is not here, or when the document of its audience does not list it
 * (test/protocol/error-codes.test.ts).
 */
export const ERROR_CODES = {
  // Refused at a socket's edge; nothing changed.
  malformed_json: { meaning: 'the frame is not valid JSON', to: C },
  invalid_frame: {
    meaning: 'the frame is not a JSON object, or some of its fields are invalid (`fields` names them)',
    to: C,
  },
  unknown_type: { meaning: 'no frame of the protocol has this type', to: C },
  unsupported_type: { meaning: 'a frame type of the protocol that this node does not handle', to: C },
  unsupported_version: { meaning: 'the frame speaks another protocol version', to: C },
  binary_not_supported: { meaning: 'frames are JSON text; a binary frame was refused', to: C },
  frame_too_large: { meaning: 'the frame is longer than `maxFrameBytes`', to: C },
  rate_limited: {
    meaning:
      'too many frames or requests; retry after `retryAfterMs` (socket) or `Retry-After` (HTTP); a peer: more address checks than its allowance',
    to: CPL,
  },

  // Who is asking.
  unauthenticated: { meaning: 'no valid access token (or authenticate first)', to: CL },
  token_expired: { meaning: 'the access token has expired; refresh it', to: C },
  token_revoked: { meaning: 'the sign-in was ended at the gateway; refresh once, else sign in again', to: C },
  client_disabled: { meaning: 'the app the token was issued to is disabled; stop', to: C },
  identity_mismatch: { meaning: 'a socket cannot change the address it speaks for', to: C },
  too_many_sockets: {
    meaning:
      'the address already holds `SOCKETS_PER_PERSON` sockets to this node (process); the new one is closed (4429), the others go on',
    to: C,
  },
  forbidden: {
    meaning: 'not allowed to do that (a bot writing on a socket, an origin that is not a domain, …)',
    to: CPL,
  },

  // Operations refused; nothing changed.
  not_member: { meaning: 'not a member of that conversation', to: C },
  not_found: { meaning: 'no such thing (or not visible to the asker)', to: CPL },
  invalid_input: { meaning: 'some input is invalid (`fields` names it, an unknown field included)', to: CPL },
  conflict: { meaning: 'the change clashes with what exists', to: CL },
  recall_window_passed: { meaning: 'a recall came after `RECALL_WINDOW_SECONDS`', to: C },
  recalled: { meaning: 'the target message was recalled', to: C },
  not_home: { meaning: 'the conversation is hosted (ordered) by another domain; change it there', to: CP },
  federation_denied: {
    meaning: "the federation policy keeps this domain (or two members' domains) apart; nothing was stored",
    to: C,
  },
  federation_unavailable: {
    meaning: 'another domain (or the registry) cannot be reached or cannot confirm now; nothing was stored; retry',
    to: C,
  },
  policy_denied: { meaning: 'the federation policy does not let the two domains exchange anything now', to: CP },
  unknown_address: { meaning: 'nobody has an address the request names (`fields` lists them)', to: CP },
  recipient_moved: {
    meaning:
      "the other person of a direct conversation no longer chats at that address (moved to another college's node); the message names where they chat now; nothing was sent",
    to: C,
  },
  directory_unavailable: {
    meaning: "the gateway's directory cannot be asked now whether an address exists; retry",
    to: C,
  },
  gateway_unavailable: {
    meaning: 'the identity gateway cannot be reached (to verify a token, or to look up an app); retry',
    to: C,
  },
  unknown_destination: { meaning: 'no domain of that name in the registry', to: CP },
  bad_response: {
    meaning: 'another domain answered with something other than an Atrium error body (passed on with its HTTP status)',
    to: C,
  },

  // Apps, cards, webhooks, files.
  unknown_action: { meaning: 'the card offers no such action (now)', to: C },
  callback_failed: { meaning: 'the app did not take the card click (error status, timeout or a bad answer)', to: C },
  no_callback: { meaning: 'the app takes no card actions (it has no callback URL)', to: C },
  app_unavailable: {
    meaning: 'the app behind the card is disabled or gone, or no longer for the person who clicked (HTTP 403)',
    to: C,
  },
  bot_disabled: { meaning: 'the app or its bot was disabled at the gateway', to: C },
  webhook_revoked: { meaning: 'the webhook was revoked (HTTP 410)', to: C },
  too_large: { meaning: 'the body, file or message is larger than allowed (HTTP 413); nothing was sent', to: CP },
  unsupported_media_type: {
    meaning:
      'an attachment of a type that is not allowed, or whose bytes are not of the type it was sent as (HTTP 415); nothing was stored',
    to: C,
  },
  upload_aborted: { meaning: 'the upload ended before the file was complete', to: C },
  upload_quota: {
    meaning:
      "the uploader's files not yet sent in a message would take up more than `ATTACHMENT_UNSHARED_QUOTA_MB` (HTTP 413); send them, or wait until unsent ones are deleted",
    to: C,
  },
  storage_quota: {
    meaning:
      "the uploader's files on the node, shared or not, would take up more than `ATTACHMENT_STORAGE_QUOTA_MB` (HTTP 413); delete files no longer needed (`DELETE /api/v1/attachments/:id`), or ask an administrator",
    to: C,
  },
  attachment_removed: {
    meaning:
      'the file was deleted by the person who shared it (HTTP 410); the messages that carried it stay, showing it as removed',
    to: CP,
  },
  invalid_body: {
    meaning:
      'the request body could not be read: not JSON, or (HTTP 408, a peer) not all of it within the time allowed',
    to: CP,
  },
  message_refused: {
    meaning:
      'the message could not be stored as it is (the database refused what it holds); nothing was sent; do not retry',
    to: C,
  },

  // Failures; retry.
  store_failed: { meaning: 'the write did not commit; nothing was stored; retry', to: C },
  internal_error: { meaning: 'unexpected; nothing is acknowledged', to: CPL },
  unavailable: {
    meaning:
      'the server is starting or stopping (HTTP 503 with `Retry-After`), or a domain node whose domain was removed at the gateway refuses federation requests until it is added again; nothing was done; retry',
    to: CPL,
  },
  overloaded: {
    meaning:
      'the proxy is forwarding as many requests as it takes at once, in all, from this origin, or unverified ones (without `atrium-body-digest`), or one with this very signature (HTTP 503 with `Retry-After`); nothing was forwarded; retry',
    to: P,
  },

  // Server to server.
  invalid_request: {
    meaning: 'a server-to-server request (or a back-channel logout) that is malformed or names the wrong things',
    to: CP,
  },
  unsigned: { meaning: 'the request carries no signature headers', to: P },
  bad_signature: {
    meaning: 'the signature header (or the `atrium-body-digest` header) is malformed, or the signature does not verify',
    to: P,
  },
  body_digest_mismatch: {
    meaning:
      "the request's body is not the one its `atrium-body-digest` header names (its signature verified over that); nothing was forwarded",
    to: P,
  },
  unknown_key: { meaning: 'no pinned key of the origin has that key id', to: P },
  stale_request: { meaning: "the request's timestamp is more than 60 s from the receiver's clock", to: P },
  replayed_request: {
    meaning: 'the receiver took this very signed request already (a peer that retries signs again)',
    to: P,
  },
  wrong_destination: { meaning: 'the request is addressed to someone else', to: P },
  unknown_origin: { meaning: 'the origin is not a registered domain', to: P },
  sender_not_of_origin: { meaning: 'an event or request speaks for someone not of the origin domain', to: P },
  invalid_conversation: { meaning: 'a conversation snapshot that no honest home sends', to: P },
  no_member_here: { meaning: "a conversation that names none of the receiver's people (refused event)", to: P },
  conversation_not_held: { meaning: 'an entry of a conversation the receiver does not hold (refused event)', to: P },
  not_a_member: { meaning: 'an entry whose author is not a member of its conversation (refused event)', to: P },
  invalid_entry: {
    meaning:
      "an entry whose body is not a JSON object or names as an app or a webhook a sender that is not the home's, that is a group change whose fields do not fit its event, or that changes an entry its author may not (refused event)",
    to: P,
  },
  sequence_taken: {
    meaning:
      'an entry at a seq the receiver holds as another entry of that conversation: its home was restored from an older backup (refused event, with `heldSeq`); also the `reason` of a `delivery.failed` frame or entry',
    to: CP,
  },
  destination_unreachable: { meaning: 'the proxy could not reach the destination node', to: P },
  registry_unavailable: { meaning: "the gateway's registry could not be read, and no copy is held", to: P },
  // A node's own verdict on an answer to its signed request (docs/federation.md, "Signed answers"): it is
  // logged and kept as the outbox's last error; a person is told `federation_unavailable`.
  peer_answer_unsigned: {
    meaning:
      'an answer to a signed request carries no signature of its destination (someone on the way answered); taken as not received, retried',
    to: L,
  },
  peer_answer_forged: {
    meaning:
      "an answer whose signature is not its destination's over this request, status and body (nor, for a policy refusal, a registered proxy's); taken as not received, retried",
    to: L,
  },
  peer_answer_unfounded: {
    meaning:
      "a registered proxy's signed policy refusal between two of this organization's domains that the node's own registry lets talk (the proxy's copy is older, or it is not honest); taken as not received, retried",
    to: L,
  },

  // The gateway's own pages, console and portal API, and start-up.
  invalid_credentials: { meaning: 'wrong username or password', to: L },
  account_locked: { meaning: 'too many failed sign-ins', to: L },
  account_disabled: { meaning: 'the account is disabled', to: L },
  temporary_password_expired: {
    meaning:
      "a right temporary password past its days (an administrator's; TEMPORARY_PASSWORD_DAYS): ask for a new one",
    to: L,
  },
  invalid_code: { meaning: 'a second-factor or recovery code that is not valid', to: L },
  factor_already_enrolled: { meaning: 'an authenticator app is already set up', to: L },
  second_factor_exists: {
    meaning: "a sign-in's required setup found a second factor set up meanwhile; start the sign-in again",
    to: L,
  },
  last_way_in: {
    meaning: 'removing the last passkey of someone who signs in with passkeys alone (no password); add another first',
    to: L,
  },
  second_factor_required: {
    meaning: "removing a person's last second factor where the policy requires one; add another first",
    to: L,
  },
  enrolment_closed: {
    meaning: 'an authenticator key shown too long ago, or to another sign-in or session, to confirm here',
    to: L,
  },
  reset_link_invalid: { meaning: 'a password reset link that is unknown, used or expired', to: L },
  passkey_refused: {
    meaning: "a passkey answer that did not verify (wrong key, someone else's, bad signature)",
    to: L,
  },
  invalid_passkey_response: { meaning: "the browser's answer is not a WebAuthn response", to: L },
  passkey_challenge_expired: { meaning: 'a passkey challenge that is unknown, used or expired', to: L },
  passkey_already_registered: { meaning: 'this passkey is already registered', to: L },
  passwordless_off: { meaning: 'signing in with a passkey alone is not allowed on this campus', to: L },
  confirmation_needed: { meaning: 'changing how one signs in needs a recent sign-in or a confirmation', to: L },
  confirmation_failed: { meaning: 'the password or code given to confirm is not right', to: L },
  directory_empty: {
    meaning: 'a directory sync found nobody under its user base and filter; nobody was disabled',
    to: L,
  },
  directory_unreadable: {
    meaning: 'a directory sync could read none of the entries it returned into a person; nobody was disabled',
    to: L,
  },
  directory_ids_changed: {
    meaning:
      'a directory sync found half its entries or more carrying usernames whose people had other entry ids (a directory rebuilt); nobody was disabled',
    to: L,
  },
  directory_group_unreadable: {
    meaning:
      'a directory sync (or a first sign-in) found a role or unit-admin group missing or hidden from the service account, which would take its role from every member; nothing was changed',
    to: L,
  },
  directory_mass_change: {
    meaning:
      "a directory sync would disable, or move to other units, more of the directory's active people than its mass change limit allows; nothing was changed until an administrator confirms that one sync (`--allow-mass-change`, the console's box)",
    to: L,
  },
  no_entry_ids: {
    meaning:
      'relinking a person needs entry ids, and this directory is set to have none (people are matched by username)',
    to: L,
  },
  moves_people: {
    meaning:
      "a domain change would move people's IM home (their history stays on the old node); repeat it with the confirmation (`--move-people`, the console's box)",
    to: L,
  },
  moves_chat: {
    meaning:
      "new units would take a person off a domain they chat on (their conversations there stay on its node); repeat it with the confirmation (`moveChat`, the console's box)",
    to: L,
  },
  directory_entry_unusable: {
    meaning:
      'the directory took the password, but its entry cannot become an Atrium person (as a sync would refuse it); told only to someone who knew the password',
    to: L,
  },
  directory_does_not_vouch: {
    meaning:
      'a passkey alone, of someone their campus directory did not vouch for without saying they are gone or disabled there (an entry under their username that is not theirs, or their directory no longer registered): no sign-in, their account unchanged',
    to: L,
  },
  kept_last_administrator: {
    meaning:
      'the directory no longer lists the person, or marks them disabled, and they are kept only as the last active administrator: no sign-in; told only to someone who proved who they are, with the way in (`atrium users add … --role admin`)',
    to: L,
  },
  sync_stopped: {
    meaning: 'a directory sync stopped between two pages (the gateway shutting down); nobody was disabled',
    to: L,
  },
  csrf_failed: { meaning: 'a form that expired or came from another site', to: L },
  csrf_header_missing: { meaning: 'a portal API request without its anti-forgery header', to: L },
  session_expired: { meaning: 'the portal session has ended; sign in again', to: L },
  token_unavailable: { meaning: 'the portal could not obtain a chat token now', to: L },
  busy: { meaning: 'the portal is busy refreshing the tokens; retry', to: L },
  sign_in_unavailable: {
    meaning:
      'the console or portal cannot reach the sign-in service of its gateway (its discovery document) to start a sign-in',
    to: L,
  },
  sign_in_failed: {
    meaning:
      'a sign-in to the console or portal that could not finish (its callback not started in this browser, used already or older than ten minutes, or its code not exchanged); shown with a way to sign in again',
    to: L,
  },
  pin_refused: { meaning: "a domain's new keys are not signed by a pinned key", to: L },
  node_unreachable: { meaning: "a domain node's keys could not be read to pin them", to: L },
  unchanged: { meaning: 'a group change that changes nothing; answered with the group as it is, never sent', to: L },
  not_migrated: {
    meaning: 'the database is behind the code; run `atrium migrate` (or `atrium migrate --node`)',
    to: L,
  },
  database_newer: {
    meaning: 'a newer Atrium migrated the database; run that version, or restore the backup from before the upgrade',
    to: L,
  },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * An error's code as it goes on the wire. Codes are thrown as strings (`AppError` lives in core/, below
 * protocol/); that each one thrown is in ERROR_CODES is pinned by test/protocol/error-codes.test.ts, so
 * this only names that fact for the type checker.
 */
export function wireCode(code: string): ErrorCode {
  return code as ErrorCode;
}
