import { operator, type GatewayContext } from '../context.ts';
import { createUnit } from '../accounts/units.ts';
import { createUser } from '../accounts/create-user.ts';
import { addDomain } from '../domains/domains.ts';
import { inTransaction } from '../transaction.ts';

export const DEMO_PASSWORD = 'atrium-demo';

export const DEMO_UNITS = [
  { path: 'campus', name: 'Atrium University' },
  { path: 'campus/eng', name: 'College of Engineering' },
  { path: 'campus/eng/cs', name: 'Department of Computer Science' },
  { path: 'campus/eng/ee', name: 'Department of Electrical Engineering' },
  { path: 'campus/arts', name: 'College of Arts' },
  { path: 'campus/arts/history', name: 'Department of History' },
  { path: 'campus/arts/music', name: 'Department of Music' },
];

export const DEMO_USERS = [
  {
    username: 'admin',
    displayName: 'Ada Admin',
    roles: ['admin', 'staff'],
    units: ['campus'],
    what: 'administrator (whole campus)',
  },
  {
    username: 'eng-admin',
    displayName: 'Enzo Engineer',
    roles: ['unit-admin', 'staff'],
    units: ['campus/eng'],
    what: 'unit admin, College of Engineering',
  },
  {
    username: 'alice',
    displayName: 'Alice Chen',
    roles: ['student'],
    units: ['campus/eng/cs'],
    what: 'student, Computer Science (eng)',
  },
  {
    username: 'dave',
    displayName: 'Dave Okafor',
    roles: ['student'],
    units: ['campus/eng/ee'],
    what: 'student, Electrical Engineering (eng)',
  },
  {
    username: 'bob',
    displayName: 'Bob Martin',
    roles: ['student'],
    units: ['campus/arts/history'],
    what: 'student, History (arts)',
  },
  {
    username: 'carol',
    displayName: 'Carol Silva',
    roles: ['staff'],
    units: ['campus/arts/music', 'campus/eng/ee'],
    what: 'staff, Music (arts) and Electrical Engineering (eng)',
  },
] as const;

export type DemoDomains = { eng: string; arts: string };

/** Seeds the demo university once (units, domains, people); running it again changes nothing. */
export async function seedDemo(ctx: GatewayContext, domains: DemoDomains): Promise<{ seeded: boolean }> {
  if (await ctx.models.OrgUnit.findOne({ where: { path: 'campus' } })) return { seeded: false };
  await inTransaction({ ...ctx, actor: operator('seed') }, async (ctx) => {
    for (const unit of DEMO_UNITS) await createUnit(ctx, unit);
    await addDomain(ctx, { name: 'eng.campus.test', url: domains.eng, units: ['campus/eng'] });
    await addDomain(ctx, { name: 'arts.campus.test', url: domains.arts, units: ['campus/arts'] });
    for (const user of DEMO_USERS) {
      await createUser(ctx, {
        username: user.username,
        displayName: user.displayName,
        email: `${user.username}@campus.test`,
        password: DEMO_PASSWORD,
        roles: [...user.roles],
        units: [...user.units],
      });
    }
  });
  return { seeded: true };
}
