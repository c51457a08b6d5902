import { join } from 'node:path';
import { callbackSecretSealer } from '../../gateway/apps-registry/secrets.ts';
import type { ApproverRule } from '../../examples/leave-approval/config.ts';
import { machineTimeZone, todayIn } from '../../examples/leave-approval/dates.ts';
import { startLeaveApproval, type LeaveApp } from '../../examples/leave-approval/main.ts';
import { ensureRegistered } from '../../cli/register-leave-approval.ts';
import { operator } from '../../gateway/context.ts';
import type { TestGateway } from './gateway.ts';
import { freePort } from './federation.ts';

/**
 * The leave-approval example on a free port, registered by the operator as the demo does (its secrets in a
 * file of its own), with Carol approving Engineering's requests unless `approvers` says otherwise. The
 * nodes' URLs are given to it as LEAVE_NODES would; with `null` it asks the gateway (GET /api/v1/nodes).
 */
export async function startLeaveApprovalFor(
  gateway: TestGateway,
  nodes: { eng: string; arts: string } | null,
  approvers: ApproverRule[] = [{ unit: 'campus/eng', approver: 'carol@arts.campus.test' }],
): Promise<{ app: LeaveApp; url: string; callbackSecret: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const ctx = { ...gateway.context(null), actor: operator('test') };
  const credentials = await ensureRegistered(ctx, callbackSecretSealer(gateway.config.secretKey), {
    publicUrl: url,
    credentialsFile: join(gateway.db.dataDir, 'leave-credentials.json'),
  });
  const app = await startLeaveApproval({
    port,
    host: '127.0.0.1',
    publicUrl: url,
    gatewayIssuer: gateway.issuer,
    ...credentials,
    ...(nodes ? { nodes: { 'eng.campus.test': nodes.eng, 'arts.campus.test': nodes.arts } } : {}),
    approvers,
    dataFile: join(gateway.db.dataDir, 'leave.json'),
    sessionSecret: 'leave-approval-test-session-secret',
  });
  return { app, url, callbackSecret: credentials.callbackSecret };
}

/**
 * The day `days` after today (before it, when negative) as the app's date fields send it: the app takes
 * this machine's time zone when given none, as the helper above gives it.
 */
export function dayFromToday(days: number): string {
  const [year, month, day] = todayIn(machineTimeZone()).split('-').map(Number);
  return new Date(Date.UTC(year!, month! - 1, day! + days)).toISOString().slice(0, 10);
}
