import { z } from 'zod';
import { isTimeZone, machineTimeZone } from './dates.ts';

/**
 * Who approves whose leave: the staff member for the people (students and staff) of a unit and the units
 * below it; their own leave goes to the next rule that fits them (approvers.ts).
 */
export type ApproverRule = { unit: string; approver: string };

export type LeaveConfig = {
  port: number;
  host: string;
  /** Where people reach the app; sign-in returns to `${publicUrl}/auth/callback`. */
  publicUrl: string;
  gatewayIssuer: string;
  clientId: string;
  clientSecret: string;
  /** Verifies the signature of card clicks the nodes send to `${publicUrl}/atrium/callback`. */
  callbackSecret: string;
  /**
   * Each chat domain's node URL, where the app's bot posts for people of that domain, when it is to be
   * other than the gateway lists (GET /api/v1/nodes): the nodes as this app's own network reaches them.
   */
  nodes?: Record<string, string>;
  approvers: ApproverRule[];
  /** The app's own store: one JSON file, written atomically. */
  dataFile: string;
  sessionSecret: string;
  /**
   * The campus's time zone (IANA), whose calendar says which day is today: a leave request may not start
   * before it. The machine's own time zone when not given.
   */
  timeZone?: string;
};

const pairs = (raw: string) =>
  raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()] as const;
    });

const schema = z.object({
  LEAVE_PORT: z.coerce.number().int().min(0).max(65535).default(4300),
  LEAVE_HOST: z.string().default('127.0.0.1'),
  LEAVE_PUBLIC_URL: z.url().optional(),
  GATEWAY_ISSUER: z.url().default('http://localhost:4000'),
  LEAVE_CLIENT_ID: z.string().min(1),
  LEAVE_CLIENT_SECRET: z.string().min(1),
  LEAVE_CALLBACK_SECRET: z.string().min(16),
  LEAVE_NODES: z
    .string()
    .regex(/^([a-z0-9.-]+=https?:\/\/[^,\s]+)(,[a-z0-9.-]+=https?:\/\/[^,\s]+)*$/, {
      message: 'domain=url pairs, comma-separated',
    })
    .optional(),
  LEAVE_APPROVERS: z
    .string()
    .regex(/^([a-z0-9/-]+=[a-z0-9._-]+@[a-z0-9.-]+)(,[a-z0-9/-]+=[a-z0-9._-]+@[a-z0-9.-]+)*$/, {
      message: 'unit=address pairs, comma-separated',
    }),
  LEAVE_DATA_FILE: z.string().default('./data/leave-approval.json'),
  LEAVE_SESSION_SECRET: z.string().min(16),
  LEAVE_TIME_ZONE: z.string().refine(isTimeZone, { message: 'an IANA time zone, such as Europe/Berlin' }).optional(),
});

/** The app's settings from its environment, for running it as a process of its own (see its README). */
export function loadLeaveConfig(env: Record<string, string | undefined>): LeaveConfig {
  const picked = Object.fromEntries(
    Object.keys(schema.shape)
      .filter((k) => env[k])
      .map((k) => [k, env[k]]),
  );
  const parsed = schema.safeParse(picked);
  if (!parsed.success)
    throw new Error(
      `leave-approval: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const v = parsed.data;
  return {
    port: v.LEAVE_PORT,
    host: v.LEAVE_HOST,
    publicUrl: (v.LEAVE_PUBLIC_URL ?? `http://localhost:${v.LEAVE_PORT}`).replace(/\/$/, ''),
    gatewayIssuer: v.GATEWAY_ISSUER.replace(/\/$/, ''),
    clientId: v.LEAVE_CLIENT_ID,
    clientSecret: v.LEAVE_CLIENT_SECRET,
    callbackSecret: v.LEAVE_CALLBACK_SECRET,
    ...(v.LEAVE_NODES
      ? { nodes: Object.fromEntries(pairs(v.LEAVE_NODES).map(([domain, url]) => [domain, url.replace(/\/$/, '')])) }
      : {}),
    approvers: pairs(v.LEAVE_APPROVERS).map(([unit, approver]) => ({ unit, approver })),
    dataFile: v.LEAVE_DATA_FILE,
    sessionSecret: v.LEAVE_SESSION_SECRET,
    timeZone: v.LEAVE_TIME_ZONE ?? machineTimeZone(),
  };
}
