import { MembersChatMoveError, moveMembers, type MovedMembers } from '../gateway/accounts/move-members.ts';
import { fewNames, removeUnit } from '../gateway/accounts/remove-unit.ts';
import { byTreeOrder } from '../gateway/accounts/unit-tree.ts';
import { createUnit, listUnits, renameUnit } from '../gateway/accounts/units.ts';
import type { OrgUnit } from '../gateway/models/index.ts';
import type { CommandGroup } from './command.ts';
import { withSession } from './session.ts';

const presentUnit = (unit: OrgUnit) => ({ id: unit.id, path: unit.path, name: unit.name });

/** Each unit indented under its parent, with its full path for use in other commands. */
function tree(units: OrgUnit[]): string {
  if (units.length === 0) return 'No units yet. Add one with: atrium units add PATH --name NAME';
  const rows = [...units].sort(byTreeOrder).map((u) => {
    const segments = u.path.split('/');
    return { label: `${'  '.repeat(segments.length - 1)}${segments.at(-1)}`, unit: u };
  });
  const width = Math.max(...rows.map((r) => r.label.length));
  const nameWidth = Math.max(...rows.map((r) => r.unit.name.length));
  return rows
    .map(({ label, unit }) => `${label.padEnd(width)}  ${unit.name.padEnd(nameWidth)}  ${unit.path}`)
    .join('\n');
}

const people = (n: number) => `${n} ${n === 1 ? 'person' : 'people'}`;

/** What moving a unit's members did, and what still keeps anyone in it. */
function describeMove(m: MovedMembers): string {
  if (m.moved.length === 0 && m.remaining === 0) return `${m.from} has no members; nothing changed.`;
  const lines =
    m.moved.length > 0
      ? [
          `Moved ${m.moved.length} ${m.moved.length === 1 ? 'member' : 'members'} of ${m.from} to ${m.to}: ${fewNames(m.moved)}.`,
        ]
      : [`Moved nobody: every member of ${m.from} comes from a campus directory.`];
  if (m.unitAdmins.length > 0)
    lines.push(`Unit admins among them now administer ${m.to}, being its members: ${fewNames(m.unitAdmins)}.`);
  for (const d of m.domainsLeft)
    lines.push(`Took ${people(d.people.length)} off ${d.domain}: their conversations there stay on its node.`);
  for (const l of m.left) {
    const why = l.placesThere
      ? `their units follow the directory, whose next sync would put them back: change their entries there (their OU, unit attribute or unit-admin group), then atrium directories sync ${l.directory}`
      : `directory ${l.directory} places nobody in ${m.from}, so its next sync takes them out of it (atrium directories sync ${l.directory})`;
    lines.push(
      `Left in ${m.from}: ${people(l.people.length)} of directory ${l.directory} (${fewNames(l.people)}); ${why}.`,
    );
  }
  if (m.remaining === 0)
    lines.push(`${m.from} has no members now; atrium units remove ${m.from} removes it once nothing else uses it.`);
  return lines.join('\n');
}

export const unitCommands: CommandGroup = {
  add: {
    summary:
      'Adds an org unit under an existing parent (campus, campus/eng, campus/eng/cs, ...). Paths are lower case.',
    args: ['PATH'],
    options: {
      name: { type: 'string', value: 'NAME', required: true, help: 'display name, such as "College of Engineering"' },
    },
    async run(args, io) {
      const typed = args.positionals[0]!;
      const unit = await withSession(io, ({ ctx }) => createUnit(ctx, { path: typed, name: args.string('name') }));
      // Paths are lower case (every command takes them in any case): say so rather than change it unseen.
      const lowered = typed.trim() === unit.path ? '' : `\nUnit paths are lower case: ${typed.trim()} is ${unit.path}.`;
      return { json: presentUnit(unit), text: `Added unit ${unit.path} (${unit.name}).${lowered}` };
    },
  },
  rename: {
    summary: "Gives a unit another display name; its path stays (tokens' org_units claims and mappings use it).",
    args: ['PATH'],
    options: {
      name: { type: 'string', value: 'NAME', required: true, help: 'the new display name' },
    },
    async run(args, io) {
      const unit = await withSession(io, ({ ctx }) =>
        renameUnit(ctx, { path: args.positionals[0], name: args.string('name') }),
      );
      return { json: presentUnit(unit), text: `Renamed unit ${unit.path} to ${unit.name}.` };
    },
  },
  remove: {
    summary:
      'Removes a unit nothing uses: no child units, members, domains, apps, second-factor policy or directory name it (atrium units move-members moves its members elsewhere first).',
    args: ['PATH'],
    async run(args, io) {
      const removed = await withSession(io, ({ ctx }) => removeUnit(ctx, args.positionals[0]!));
      return { json: removed, text: `Removed unit ${removed.path} (${removed.name}).` };
    },
  },
  'move-members': {
    summary:
      "Moves every member of a unit to another (a department merged or closed): FROM becomes TO among each person's units, their primary unit where it was; each person is changed and audited as atrium users update would.",
    args: ['FROM', 'TO'],
    options: {
      'move-chat': {
        type: 'boolean',
        help: 'confirms taking people off a domain they chat on (their conversations there stay on its node)',
      },
    },
    notes: [
      'All or nothing: without --move-chat, a move that takes anyone off a domain they chat on is refused, with who.',
      'People of a campus directory stay where they are: their units follow the directory, whose next sync would',
      'undo the move. The output names them and what to do. Unit admins moved administer TO from then on.',
      'One person: atrium users update USERNAME --remove-unit FROM --add-unit TO.',
    ].join('\n'),
    async run(args, io) {
      const [from, to] = args.positionals as [string, string];
      const moved = await withSession(io, async ({ ctx }) => {
        try {
          return await moveMembers(ctx, { from, to, moveChat: args.flag('move-chat') });
        } catch (error) {
          if (error instanceof MembersChatMoveError)
            throw new MembersChatMoveError(error.domainsLeft, 'run again with --move-chat');
          throw error;
        }
      });
      return { json: moved, text: describeMove(moved) };
    },
  },
  list: {
    summary: 'Lists the org units as a tree.',
    async run(_args, io) {
      const units = await withSession(io, ({ ctx }) => listUnits(ctx));
      return { json: { units: [...units].sort(byTreeOrder).map(presentUnit) }, text: tree(units) };
    },
  },
};
