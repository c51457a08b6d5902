import { z } from 'zod';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { InvalidPasskeyResponseError } from './errors.ts';

// Bounded base64url strings: the library checks the contents, the edge only the shape and size.
const b64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/);
const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;

const common = {
  id: b64url(1400),
  rawId: b64url(1400),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};

export const registrationResponseSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(16384),
    authenticatorData: b64url(8192).optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(4096).optional(),
  }),
});

export const authenticationResponseSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(8192),
    signature: b64url(8192),
    userHandle: b64url(128).optional(),
  }),
});

/** A form field (JSON text) or an already parsed body, as the browser script sends it. */
function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  let value = input;
  if (typeof input === 'string') {
    if (input.length > 32_768) throw new InvalidPasskeyResponseError();
    try {
      value = JSON.parse(input);
    } catch {
      throw new InvalidPasskeyResponseError();
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidPasskeyResponseError();
  return parsed.data;
}

export const parseRegistrationResponse = (input: unknown): RegistrationResponseJSON => {
  const parsed = parse(registrationResponseSchema, input);
  return {
    ...parsed,
    response: {
      ...parsed.response,
      transports: parsed.response.transports?.filter((t) => (TRANSPORTS as readonly string[]).includes(t)),
    },
  } as RegistrationResponseJSON;
};

export const parseAuthenticationResponse = (input: unknown): AuthenticationResponseJSON =>
  parse(authenticationResponseSchema, input) as AuthenticationResponseJSON;
