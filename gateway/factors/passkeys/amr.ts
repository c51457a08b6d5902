/**
 * The `amr` values (RFC 8176) of a sign-in with a passkey. `hwk`: proof of possession of a key held by
 * an authenticator (a security key, a phone, a laptop's TPM or secure enclave; Atrium asks for no
 * attestation, so it cannot tell a synced passkey from one bound to hardware). `user`: the authenticator
 * tested the person's presence, which every accepted assertion shows. Without a password the
 * authenticator must also have verified the person (PIN or biometrics): that second factor, whose kind
 * Atrium cannot see, is `mfa`.
 */
export const PASSKEY_AS_SECOND_FACTOR_AMR = ['pwd', 'hwk', 'user'];
export const PASSWORDLESS_AMR = ['hwk', 'user', 'mfa'];
