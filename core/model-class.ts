import { DataTypes, Model, type Sequelize } from 'sequelize';

/**
 * A fresh subclass of a model class, to bind to one database. Several units (or several domain nodes)
 * in one process each get their own classes instead of re-binding a shared one.
 */
export function fresh<M extends abstract new (...args: never[]) => Model>(base: M): M {
  return class extends (base as unknown as typeof Model) {} as unknown as M;
}

/** A BIGINT column read as a number (mysql2 returns strings; the values here stay below 2^53). */
export function bigintColumn(name: string, options: { allowNull?: boolean; defaultValue?: number } = {}) {
  return {
    type: DataTypes.BIGINT,
    allowNull: options.allowNull ?? false,
    ...(options.defaultValue !== undefined ? { defaultValue: options.defaultValue } : {}),
    get(this: Model): number | null {
      const value = this.getDataValue(name);
      return value === null || value === undefined ? null : Number(value);
    },
  };
}

/** Up to 16 MiB of text on MariaDB; SQLite has one TEXT type and warns about sizes it ignores. */
export function mediumText(sequelize: Sequelize) {
  return sequelize.getDialect() === 'sqlite' ? DataTypes.TEXT : DataTypes.TEXT('medium');
}
