import { Op, type Sequelize, type WhereOptions } from 'sequelize';
import { escapeLike, like } from '../../core/like.ts';
import type { Role, User } from '../models/index.ts';

/**
 * People whose roles include `role`. Roles are kept in one column, comma-separated; a role is matched
 * between commas, so "admin" does not match "unit-admin".
 */
export function withRole(sequelize: Sequelize, role: Role): WhereOptions<User> {
  const name = escapeLike(role);
  return { [Op.or]: [name, `${name},%`, `%,${name}`, `%,${name},%`].map((p) => ({ roles: like(sequelize, p) })) };
}
