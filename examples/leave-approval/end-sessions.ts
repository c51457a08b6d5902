import type { SessionData, Store } from 'express-session';
import type { Person } from './auth.ts';
import type { LogoutSubject } from './logout-token.ts';

type Stored = SessionData & { passport?: { user?: Person } };

/**
 * Ends the app's sessions a logout token names: those signed in through its gateway session (`sid`),
 * or, when it names only a person, all of theirs. A session from before the app kept the `sid` is
 * matched by the person. Needs a store that can list its sessions (`all`), as MemoryStore and most
 * shared stores (Redis, SQL) can.
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
  const ended = Object.entries(all)
    .filter(([, data]) => matches(data.passport?.user))
    .map(([id]) => id);
  await Promise.all(
    ended.map((id) => new Promise<void>((resolve, reject) => store.destroy(id, (e) => (e ? reject(e) : resolve())))),
  );
  return ended.length;
}
