import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export type LeaveStatus = 'pending' | 'approved' | 'rejected';

export type LeaveRequest = {
  id: string;
  /**
   * Who asks for leave, a student or a member of staff (named `student` since only students could ask, and
   * kept so, as the app's files hold it).
   */
  student: { sub: string; name: string; address: string; units: string[] };
  from: string;
  to: string;
  reason: string;
  approver: string;
  /** The approver's name, when the app knew it as the request was made (older requests have none). */
  approverName?: string | null;
  status: LeaveStatus;
  decidedBy: string | null;
  decidedAt: string | null;
  /** The card with Approve/Reject in the approver's chat, and the status card in the requester's. */
  approverCard: string | null;
  studentCard: string | null;
  /** Why chat could not be told, when it could not; the requester can try again. */
  notifyError: string | null;
  createdAt: string;
};

export type LeaveStore = Awaited<ReturnType<typeof openStore>>;

/**
 * The app's own store: every request in one JSON file. Each change writes a temporary file and renames
 * it over the old one, so a crash leaves the old or the new file, never half of one; changes are applied
 * one after another.
 */
export async function openStore(file: string) {
  let requests: LeaveRequest[] = [];
  // The names of the people the app has met (signed in, or clicked a card), by chat address: it has no
  // directory to ask, and a requester would rather read who decides than an address.
  let people: Record<string, string> = {};
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      requests: LeaveRequest[];
      people?: Record<string, string>;
    };
    requests = saved.requests;
    people = saved.people ?? {};
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  let queue: Promise<unknown> = Promise.resolve();

  async function persist() {
    await mkdir(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    await writeFile(temp, JSON.stringify({ requests, people }, null, 2), { mode: 0o600 });
    await rename(temp, file);
  }

  function change<T>(work: () => T): Promise<T> {
    const next = queue.then(async () => {
      const result = work();
      await persist();
      return result;
    });
    queue = next.catch(() => undefined);
    return next;
  }

  return {
    all: (): readonly LeaveRequest[] => requests,
    nameOf: (address: string): string | undefined => people[address],
    /** Remembers a person's name; written only when it is new or changed. */
    learnName(address: string, name: string): Promise<void> {
      if (people[address] === name) return Promise.resolve();
      return change(() => {
        people[address] = name;
      });
    },
    get: (id: string) => requests.find((r) => r.id === id),
    byCard: (messageId: string) => requests.find((r) => r.approverCard === messageId),
    create(
      fields: Omit<
        LeaveRequest,
        'id' | 'status' | 'decidedBy' | 'decidedAt' | 'approverCard' | 'studentCard' | 'notifyError' | 'createdAt'
      >,
    ): Promise<LeaveRequest> {
      return change(() => {
        const request: LeaveRequest = {
          ...fields,
          id: randomUUID(),
          status: 'pending',
          decidedBy: null,
          decidedAt: null,
          approverCard: null,
          studentCard: null,
          notifyError: null,
          createdAt: new Date().toISOString(),
        };
        requests.push(request);
        return request;
      });
    },
    update(id: string, patch: Partial<LeaveRequest>): Promise<LeaveRequest> {
      return change(() => {
        const request = requests.find((r) => r.id === id);
        if (!request) throw new Error(`no leave request ${id}`);
        Object.assign(request, patch);
        return request;
      });
    },
    /**
     * Decides a pending request, or returns null when it is no longer pending: checked in the queue of
     * changes, so two clicks at once (phone and laptop) cannot both decide.
     */
    decide(id: string, patch: Pick<LeaveRequest, 'status' | 'decidedBy' | 'decidedAt'>): Promise<LeaveRequest | null> {
      return change(() => {
        const request = requests.find((r) => r.id === id);
        if (!request || request.status !== 'pending') return null;
        Object.assign(request, patch);
        return request;
      });
    },
    /** Waits for pending writes. */
    flush: () => queue,
  };
}
