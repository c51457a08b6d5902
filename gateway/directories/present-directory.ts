import type { Directory } from '../models/directories.ts';
import { syncHolds } from './sync-lease.ts';
import { roleGroupLine } from './schemas.ts';
import { directorySettingsOf } from './settings.ts';
import type { SyncReport } from './sync-report.ts';

export type PresentedDirectory = ReturnType<typeof presentDirectory>;

/** The one shape of a registration that leaves the gateway; the service account's password never does. */
export function presentDirectory(directory: Directory, people: number, now = new Date()) {
  const s = directorySettingsOf(directory);
  return {
    name: directory.name,
    url: directory.url,
    tls: directory.url.startsWith('ldaps://') ? 'ldaps' : s.startTls ? 'starttls' : 'none',
    caFile: directory.caFile,
    bindDn: directory.bindDn,
    bindPassword: 'set (sealed; never shown)',
    preset: s.preset,
    userBase: s.userBase,
    userFilter: s.userFilter,
    groupBase: s.groupBase,
    attributes: {
      username: s.usernameAttribute,
      name: s.nameAttributes,
      email: s.emailAttributes,
      disabled: s.disabledAttribute,
      expiry: s.expiryAttribute,
      id: s.idAttribute,
      passwordChanged: s.passwordChangedAttribute,
    },
    groupMembership: s.groupMembership,
    unitFrom: s.unitFrom,
    unitAttribute: s.unitAttribute,
    unitRoot: s.unitRoot,
    roleGroups: s.roleGroups.map(roleGroupLine),
    nestedGroups: s.nestedGroups,
    defaultRole: s.defaultRole,
    timeoutSeconds: s.timeoutSeconds,
    massChangeLimit: s.massChangeLimit,
    resetUrl: directory.resetUrl,
    people,
    lastSyncAt: directory.lastSyncAt?.toISOString() ?? null,
    lastReport: directory.lastReport ? (JSON.parse(directory.lastReport) as SyncReport) : null,
    syncRunning: syncHolds(directory, now),
  };
}
