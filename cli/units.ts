import { removeUnit } from '../gateway/accounts/remove-unit.ts';
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
      'Removes a unit nothing uses: no child units, members, domains, apps, second-factor policy or directory name it.',
    args: ['PATH'],
    async run(args, io) {
      const removed = await withSession(io, ({ ctx }) => removeUnit(ctx, args.positionals[0]!));
      return { json: removed, text: `Removed unit ${removed.path} (${removed.name}).` };
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
