/** An interval as DIRECTORY_SYNC_INTERVAL would be written: `1h`, `15m`, `90s`. */
export function intervalInWords(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/**
 * What a directory's page and `directories show` say of a directory never synced: the gateway's schedule
 * waits for an administrator's first sync (scheduler.ts), so that nobody is created before the settings
 * were tested. `intervalSeconds` is the gateway's DIRECTORY_SYNC_INTERVAL where the caller knows it
 * (0: off); `steps` say how to test it and start that first sync where it is read.
 */
export function notSyncedYet(intervalSeconds: number | undefined, steps: string): string {
  const then =
    intervalSeconds === undefined
      ? 'the gateway syncs it on its schedule (DIRECTORY_SYNC_INTERVAL) only after its first sync'
      : intervalSeconds === 0
        ? 'the gateway syncs it only when asked (DIRECTORY_SYNC_INTERVAL is off)'
        : `the gateway syncs it every ${intervalInWords(intervalSeconds)} (DIRECTORY_SYNC_INTERVAL) after its first sync`;
  return `Not synced yet: nobody came from it. ${steps}; ${then}.`;
}
