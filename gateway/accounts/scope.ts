import { ForbiddenError } from '../../core/errors.ts';
import type { Actor } from '../context.ts';

/**
 * Which part of the unit tree an actor may administer: everything (admins, the operator's CLI), the
 * subtrees of the units they administer (unit admins: a local one's own units, a directory person's
 * unit-admin groups' units; an actor's `unitPaths` holds those), or nothing.
 */
export type AdminScope = { all: true } | { all: false; roots: string[] };

export function adminScopeOf(actor: Actor): AdminScope {
  if (actor.kind === 'operator') return { all: true };
  if (actor.kind !== 'user') return { all: false, roots: [] };
  if (actor.roles.includes('admin')) return { all: true };
  if (actor.roles.includes('unit-admin')) return { all: false, roots: actor.unitPaths };
  return { all: false, roots: [] };
}

export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

export function scopeCovers(scope: AdminScope, unitPath: string): boolean {
  return scope.all || scope.roots.some((root) => isWithin(unitPath, root));
}

export function canAdminister(actor: Actor): boolean {
  const scope = adminScopeOf(actor);
  return scope.all || scope.roots.length > 0;
}

export function isFullAdmin(actor: Actor): boolean {
  return adminScopeOf(actor).all;
}

export function assertCovers(actor: Actor, unitPaths: string[]): void {
  const scope = adminScopeOf(actor);
  const outside = unitPaths.filter((p) => !scopeCovers(scope, p));
  if (outside.length > 0) throw new ForbiddenError(`You may not manage unit ${outside.join(', ')}`);
}

/** A unit admin is an administrator too, of their units: the refusal says whom it is for. */
export function assertFullAdmin(actor: Actor): void {
  if (!isFullAdmin(actor)) throw new ForbiddenError('Only campus administrators may do that');
}
