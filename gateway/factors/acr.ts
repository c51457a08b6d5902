/**
 * Authentication context classes the gateway asserts in ID tokens (`acr`) and accepts in `acr_values`.
 * An app that needs a second factor asks for MFA_ACR; the `amr` claim lists the methods used (RFC 8176).
 */
export const PASSWORD_ACR = 'urn:atrium:acr:pwd';
export const MFA_ACR = 'urn:atrium:acr:mfa';
export const ACR_VALUES = [PASSWORD_ACR, MFA_ACR];

export function asksForSecondFactor(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').includes(MFA_ACR);
}
