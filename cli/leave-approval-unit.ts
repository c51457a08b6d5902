import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { bindSecretKey } from '../core/bound-secret.ts';
import { openDatabase } from '../core/database.ts';
import type { Logger } from '../core/logger.ts';
import { envPort, parseEnv, type Env } from '../core/config.ts';
import { z } from 'zod';
import { callbackSecretSealer } from '../gateway/apps-registry/secrets.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import { operator } from '../gateway/context.ts';
import { defineGatewayModels } from '../gateway/models/index.ts';
import type { RunningUnit, UnitStarter } from './run-units.ts';
import type { ApproverRule } from '../examples/leave-approval/config.ts';
import { startLeaveApproval } from '../examples/leave-approval/main.ts';
import { ensureRegistered } from './register-leave-approval.ts';

const ports = z.object({
  DEMO_LEAVE_PORT: envPort
    .refine((p) => p > 0, { message: 'expected a fixed port (the app is registered with its URL)' })
    .default(4300),
});

/**
 * Who approves leave on the demo campus: Carol Silva, staff in both colleges, for Engineering and Arts,
 * and for the whole campus Enzo Engineer (Engineering's unit admin), so Carol's own leave has an approver.
 */
export const DEMO_APPROVERS: ApproverRule[] = [
  { unit: 'campus/eng', approver: 'carol@arts.campus.test' },
  { unit: 'campus/arts', approver: 'carol@arts.campus.test' },
  { unit: 'campus', approver: 'eng-admin@eng.campus.test' },
];

/**
 * The example app as a unit of the demo campus: registered at the gateway (once; its secrets kept in the
 * data directory) and started on port 4300 (DEMO_LEAVE_PORT). Students of Engineering and of Arts ask Carol Silva, staff in
 * both colleges, who answers in chat on her home domain.
 */
export function leaveApprovalUnit(options: {
  gateway: GatewayConfig;
  env: Env;
  nodes: Record<string, string>;
  approvers?: ApproverRule[];
  logger: Logger;
}): UnitStarter {
  const port = parseEnv(ports, options.env).DEMO_LEAVE_PORT;
  const publicUrl = `http://localhost:${port}`;
  return {
    name: 'leave-approval',
    async start(): Promise<RunningUnit> {
      const sequelize = await openDatabase(options.gateway.database);
      bindSecretKey(sequelize, options.gateway.secretKey);
      let credentials;
      try {
        const ctx = { sequelize, models: defineGatewayModels(sequelize), actor: operator('demo'), ip: null };
        credentials = await ensureRegistered(ctx, callbackSecretSealer(options.gateway.secretKey), {
          publicUrl,
          credentialsFile: join(options.gateway.dataDir, 'leave-approval-credentials.json'),
        });
      } finally {
        await sequelize.close();
      }
      const app = await startLeaveApproval(
        {
          port,
          host: options.gateway.host,
          publicUrl,
          gatewayIssuer: options.gateway.issuer!,
          ...credentials,
          nodes: options.nodes,
          approvers: options.approvers ?? DEMO_APPROVERS,
          dataFile: join(options.gateway.dataDir, 'leave-approval.json'),
          sessionSecret: randomBytes(32).toString('base64url'),
        },
        (message, error) => options.logger.warn({ err: error }, message),
      );
      return {
        name: 'leave-approval',
        endpoints: [{ label: 'leave approval app', url: app.url }],
        close: () => app.close(),
      };
    },
  };
}
