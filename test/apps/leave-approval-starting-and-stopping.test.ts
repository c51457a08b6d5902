import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startLeaveApproval, type LeaveApp } from '../../examples/leave-approval/main.ts';
import type { LeaveConfig } from '../../examples/leave-approval/config.ts';
import { freePort } from '../helpers/federation.ts';
import { halfSentRequest, hammer, summary, unanswered, until, type Hammer, type Probe } from '../helpers/hammer.ts';

const CALLBACK = '/atrium/callback';
// An unsigned card click is refused (401) once its body is read; an unknown page is a 404.
const PROBES: Probe[] = [{ method: 'POST', path: CALLBACK, body: '{"unsigned":true}' }, { path: '/no-such-page' }];
const EXPECTED: Record<string, number> = { [`POST ${CALLBACK}`]: 401, 'GET /no-such-page': 404 };

let dir: string | undefined;
let app: LeaveApp | undefined;
let load: Hammer | undefined;
afterEach(async () => {
  await load?.stop();
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  [load, app, dir] = [undefined, undefined, undefined];
});

/** The app as its own process would run it; it reaches the gateway and the nodes only when someone signs in or asks. */
function leaveConfig(port: number): LeaveConfig {
  dir = mkdtempSync(join(tmpdir(), 'atrium-leave-lifecycle-'));
  return {
    port,
    host: '127.0.0.1',
    publicUrl: `http://127.0.0.1:${port}`,
    gatewayIssuer: 'http://127.0.0.1:9',
    clientId: 'leave-approval',
    clientSecret: 'leave-approval-client-secret',
    callbackSecret: 'leave-approval-callback-secret',
    nodes: { 'eng.campus.test': 'http://127.0.0.1:9' },
    approvers: [{ unit: 'campus/eng', approver: 'carol@arts.campus.test' }],
    dataFile: join(dir, 'leave.json'),
    sessionSecret: 'leave-approval-test-session-secret',
  };
}

describe('the leave-approval app starting and stopping under traffic', () => {
  it('serves from the first connection it accepts', async () => {
    const port = await freePort();
    load = hammer(port, PROBES);
    await until(load, (a) => a.kind === 'refused');
    app = await startLeaveApproval(leaveConfig(port));
    await until(load, (a) => a.kind === 'status' && a.status === 401);
    const answers = await load.stop();

    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    expect(answers.filter((a) => a.kind === 'closed')).toEqual([]);
    for (const a of answers) if (a.kind === 'status') expect(a.status, a.probe).toBe(EXPECTED[a.probe]);
  });

  it('answers every request that arrives while it stops, finishing the card click it was reading', async () => {
    const port = await freePort();
    app = await startLeaveApproval(leaveConfig(port));
    load = hammer(port, PROBES);
    await until(load, (a) => a.kind === 'status' && a.status === 401);

    const reading = await halfSentRequest(
      app.server,
      port,
      CALLBACK,
      JSON.stringify({ action: 'approve', requestId: 'r-1' }),
    );
    const closing = app.close();
    reading.finish();
    expect(await reading.answer).toEqual({ status: 401, connection: 'close' });
    await closing;
    app = undefined;
    await until(load, (a) => a.kind === 'refused');
    const answers = await load.stop();
    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    for (const a of answers) if (a.kind === 'status') expect(a.status, a.probe).toBe(EXPECTED[a.probe]);
  });
});
