import { DataTypes, type Model, type Sequelize } from 'sequelize';

/** Column shapes the gateway's model groups share (the table shapes themselves live in migrations/gateway). */
export const timestamps = { createdAt: DataTypes.DATE(3), updatedAt: DataTypes.DATE(3) };

export const tableOptions = (sequelize: Sequelize, tableName: string) => ({ sequelize, tableName, underscored: true });

/** A list stored as a JSON array in a TEXT column (null reads as empty). */
export function jsonList<T>(name: string) {
  return {
    type: DataTypes.TEXT,
    allowNull: true,
    get(this: Model): T[] {
      const raw = this.getDataValue(name) as unknown as string | null;
      return raw ? (JSON.parse(raw) as T[]) : [];
    },
    set(this: Model, value: T[]) {
      this.setDataValue(name, JSON.stringify(value ?? []) as never);
    },
  };
}
