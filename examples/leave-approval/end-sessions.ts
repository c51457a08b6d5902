import type { SessionData, Store } from 'express-session';
import type { Person } from './auth.ts';
import type { LogoutSubject } from './logout-token.ts';

declare module 'express-session' {
  interface SessionData {
    /**
     * The campus ended this sign-in (a back-channel logout): what the session held is gone, and the next
     * page says why instead of offering only the sign-in link.
     */
    endedByCampus?: boolean;
  }
}

type Stored = SessionData & { passport?: { user?: Person } };

/**
 * Ends the app's sessions a logout token names: those signed in through its gateway session (`sid`),
 * or, when it names only a person, all of theirs. A session from before the app kept the `sid` is
 * matched by the person. Each keeps only its cookie and a mark that the campus ended it (none of the
 * person's data: not who they were, nor their form token), so that their next visit can say so. Needs a
 * store that can list its sessions (`all`), as MemoryStore and most shared stores (Redis, SQL) can.
 */
export async function endSessions(store: Store, subject: LogoutSubject): Promise<number> {
  if (!store.all) throw new Error('the session store cannot list its sessions; single logout needs it to');
  const all = await new Promise<Record<string, Stored>>((resolve, reject) =>
    store.all!((error, sessions) =>
      error ? reject(error) : resolve((sessions ?? {}) as unknown as Record<string, Stored>),
    ),
  );
  const matches = (person: Person | undefined) => {
    if (!person) return false;
    if (subject.sid && person.sid) return person.sid === subject.sid;
    return subject.sub !== undefined && person.sub === subject.sub;
  };
  const ended = Object.entries(all).filter(([, data]) => matches(data.passport?.user));
  await Promise.all(
    ended.map(
      ([id, data]) =>
        new Promise<void>((resolve, reject) =>
          store.set(id, { cookie: data.cookie, endedByCampus: true }, (e) => (e ? reject(e) : resolve())),
        ),
    ),
  );
  return ended.length;
}
