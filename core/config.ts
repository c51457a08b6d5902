import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

export type Env = Record<string, string | undefined>;

/**
 * Reads the environment, merged over an optional JSON file named by ATRIUM_CONFIG_FILE
 * (variables win over the file). The composition roots are the only callers of this.
 */
export function loadEnv(env: Env = process.env): Env {
  const file = env.ATRIUM_CONFIG_FILE;
  if (!file) return { ...env };
  let fromFile: unknown;
  try {
    fromFile = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([`ATRIUM_CONFIG_FILE: cannot read ${file} as JSON (${(error as Error).message})`]);
  }
  const parsed = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).safeParse(fromFile);
  if (!parsed.success)
    throw new ConfigError([`ATRIUM_CONFIG_FILE: ${file} must hold one object of VARIABLE: value pairs`]);
  const merged: Env = {};
  for (const [key, value] of Object.entries(parsed.data)) merged[key] = String(value);
  return { ...merged, ...env };
}

/**
 * Validates variables against a schema whose keys are the variable names, so every problem names the
 * variable and what it expects.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env): z.infer<S> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`));
}

export const envBoolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envPort = z.coerce
  .number({ message: 'expected a port number' })
  .int({ message: 'expected a whole port number' })
  .min(0, { message: 'expected a port from 0 to 65535' })
  .max(65535, { message: 'expected a port from 0 to 65535' });

export const envPositiveInt = z.coerce
  .number({ message: 'expected a number' })
  .int({ message: 'expected a whole number' })
  .positive({ message: 'expected a positive number' });

export const envUrl = z.url({ message: 'expected an absolute URL such as https://id.example.edu' });

export const envLogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
  message: 'expected one of fatal, error, warn, info, debug, trace, silent',
});

/**
 * METRICS_TOKEN, the bearer token /metrics asks for (core/metrics-access.ts); without it, /metrics answers
 * this machine only. Every unit reads it alike.
 */
export const envMetricsToken = z
  .string()
  .min(32, { message: 'expected at least 32 characters of random secret' })
  .regex(/^[\x21-\x7e]+$/, { message: 'expected printable characters without spaces (it is sent in a header)' });

/**
 * ATRIUM_SECRET_KEY_PREVIOUS, NODE_SECRET_KEY_PREVIOUS: comma-separated older sealing secrets, tried after
 * the current one to open what was sealed before a rotation, never to seal (core/seal.ts).
 */
export const envPreviousSecrets = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().min(32, { message: 'each previous secret needs at least 32 characters' })))
  .default([]);
