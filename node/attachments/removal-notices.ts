import { Op } from 'sequelize';
import type { ClockTimer } from '../../core/clock.ts';
import type { NodeServices } from '../context.ts';
import type { RemovedAttachment } from '../models.ts';
import { tellHome } from './tell-file-removed.ts';

/** How often a node looks for removals due to be told again (by its clock). */
const POLL_MS = 5_000;
/** How long a try holds a removal, so that another process does not try it meanwhile: past a submit's wait. */
export const CLAIM_MS = 60_000;
const BASE_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 60_000;
/** How often a request from a domain may cut short the wait of the removals its conversations await. */
const CONTACT_RESET_MS = 5_000;
const BATCH = 100;
const ROUNDS = 10;

/** Removals of files still to be told to the home of their conversation, tried until it takes them. */
export interface FileRemovalNotices {
  /**
   * The first try at telling of a removal, made in the person's request, which holds it (the transaction
   * that noted it); should it fail, the removal is tried again after its backoff.
   */
  tell(notice: RemovedAttachment): Promise<void>;
  /** A signed request from `domain` arrived, so it is up: its removals are tried now, not after their backoff. */
  heardFrom(domain: string): Promise<void>;
  stop(): Promise<void>;
}

/** What a try needs: the node's services, and the homes this process found out of reach (to hear from). */
type Teller = { services: NodeServices; away: Set<string> };

/**
 * One try at telling the home of a removal (tell-file-removed.ts), which the caller holds (its claim, or
 * the transaction that noted it): told or refused for good, the removal is no longer pending; otherwise
 * it is tried again after its backoff. True when told.
 */
async function tellOfRemoval(teller: Teller, notice: RemovedAttachment): Promise<boolean> {
  const { services } = teller;
  const error = await tellHome(services, notice).catch((err: unknown) => String(err));
  if (error !== undefined) {
    await backOff(teller, notice, error);
    return false;
  }
  await services.models.RemovedAttachment.update(
    { untoldHome: null, tellAfter: null, tellAttempts: 0 },
    { where: { id: notice.id } },
  );
  return true;
}

/** A failed try: the next waits longer (capped exponential backoff, with jitter). */
async function backOff(teller: Teller, notice: RemovedAttachment, error: string): Promise<void> {
  const { services } = teller;
  if (notice.untoldHome) teller.away.add(notice.untoldHome);
  const attempts = notice.tellAttempts + 1;
  const delay =
    Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.min(attempts - 1, 16)) * (0.75 + Math.random() / 2);
  const tellAfter = new Date(services.clock.now() + delay);
  await services.models.RemovedAttachment.update({ tellAttempts: attempts, tellAfter }, { where: { id: notice.id } });
  services.logger.warn(
    { attachment: notice.id, home: notice.untoldHome, attempts, retryInMs: Math.round(delay), error },
    'the home of a deleted file’s conversation was not told of it; will retry',
  );
}

/** Takes a due removal for this process's try; false when another process took it first. */
async function claim(services: NodeServices, notice: RemovedAttachment): Promise<boolean> {
  const now = services.clock.now();
  const [taken] = await services.models.RemovedAttachment.update(
    { tellAfter: new Date(now + CLAIM_MS) },
    { where: { id: notice.id, tellAfter: { [Op.lte]: new Date(now) } } },
  );
  return taken === 1;
}

/**
 * Tries every removal that is due, oldest first. A home that failed in a pass is not tried again in it:
 * its other removals there back off as if tried. Several processes may run this at once; each removal
 * goes to the one that claims it.
 */
async function tellDue(teller: Teller): Promise<void> {
  const { services } = teller;
  for (let round = 0; round < ROUNDS; round++) {
    const due = await services.models.RemovedAttachment.findAll({
      where: { tellAfter: { [Op.lte]: new Date(services.clock.now()) } },
      order: [['tellAfter', 'ASC']],
      limit: BATCH,
    });
    const failed = new Map<string | null, string>();
    for (const notice of due) {
      if (!(await claim(services, notice))) continue;
      const error = failed.get(notice.untoldHome);
      if (error) await backOff(teller, notice, error);
      else if (!(await tellOfRemoval(teller, notice))) failed.set(notice.untoldHome, 'out of reach moments ago');
    }
    if (due.length < BATCH) return;
  }
}

/**
 * Tells homes of removals they still await: at start (for what waited while the node was down) and every
 * POLL_MS by the node's clock, and at once when such a home is heard from.
 */
export function startFileRemovalNotices(services: NodeServices): FileRemovalNotices {
  const { clock, logger } = services;
  const teller: Teller = { services, away: new Set() };
  const lastContact = new Map<string, number>();
  let running: Promise<void> | undefined;
  let timer: ClockTimer | undefined;
  let again = false;
  let stopped = false;

  function run() {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clock.clearTimeout(timer);
    running = tellDue(teller)
      .catch((err: unknown) => logger.warn({ err }, 'telling homes of deleted files failed; trying again later'))
      .finally(() => {
        running = undefined;
        if (stopped) return;
        if (again) {
          again = false;
          return run();
        }
        timer = clock.setTimeout(run, POLL_MS).unref();
      });
  }
  run();

  return {
    async tell(notice) {
      // Noted already: should this try fail to record its outcome, the removal goes again once its hold ends.
      await tellOfRemoval(teller, notice).catch((err: unknown) =>
        logger.warn({ err, attachment: notice.id }, 'telling of a deleted file failed; trying again later'),
      );
    },
    async heardFrom(domain) {
      const now = clock.now();
      // A home this process found away is looked for at once; others at most every few seconds, so that a
      // busy peer's every request does not cost a write.
      if (stopped || (!teller.away.has(domain) && now - (lastContact.get(domain) ?? 0) < CONTACT_RESET_MS)) return;
      teller.away.delete(domain);
      lastContact.set(domain, now);
      const [waiting] = await services.models.RemovedAttachment.update(
        { tellAfter: new Date(now) },
        { where: { untoldHome: domain, tellAfter: { [Op.gt]: new Date(now) } } },
      );
      if (waiting > 0) {
        logger.info({ home: domain }, 'a home awaiting removals of files reached us; telling it now');
        run();
      }
    },
    async stop() {
      stopped = true;
      clock.clearTimeout(timer);
      await running;
    },
  };
}
