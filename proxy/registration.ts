import { GatewayRefusedError, reasonOf } from '../protocol/gateway-refusal.ts';
import type { RegistryClient } from '../protocol/registry-client.ts';

/**
 * Whether the gateway takes this proxy's signed requests, as its answer to the registry says (it answers
 * the registry only to a registered proxy): `registered` true; false when it refuses the proxy (`code`
 * unknown_origin: no proxy of this name; unknown_key: one of this name with another key); null when it
 * could not be asked (down, too slow, failing itself), so nobody can tell yet. `said`: why, in words.
 */
export type Registration =
  | { registered: true }
  | { registered: false; code: string | undefined; said: string }
  | { registered: null; said: string };

/** The gateway's registry asked for now (within signedGatewayRequest's timeout), to learn the proxy's Registration. */
export async function registrationAtGateway(registry: RegistryClient, gatewayIssuer: string): Promise<Registration> {
  try {
    await registry.fresh();
    return { registered: true };
  } catch (error) {
    // A gateway that fails itself (5xx: starting, its database away) says nothing of this proxy.
    if (error instanceof GatewayRefusedError && error.gatewayStatus < 500)
      return { registered: false, code: error.gatewayCode, said: error.message };
    return { registered: null, said: registryUnavailable(gatewayIssuer, error) };
  }
}

/** Why the registry cannot be had, as /readyz and the start say it: the gateway's refusal, or what failed. */
export function registryUnavailable(gatewayIssuer: string, error: unknown): string {
  if (error instanceof GatewayRefusedError) return error.message;
  return `The gateway's registry cannot be fetched from ${gatewayIssuer} (GATEWAY_ISSUER): ${reasonOf(error)}`;
}
