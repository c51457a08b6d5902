import { rm } from 'node:fs/promises';
import { Op } from 'sequelize';
import type { NodeServices } from '../context.ts';
import { WITHHELD } from '../federation/withhold.ts';
import { attachmentPath } from './attachment-files.ts';
import { isCarried, type BoundFile } from './carried.ts';

const BATCH = 200;
/** Batches a sweep checks at most: a backlog (the files bound before this check existed) spreads over sweeps. */
const ROUNDS = 10;
/**
 * Nodes' clocks agree within a minute (a signed request is refused past that) and a send to another
 * domain's home takes seconds: an entry that home ordered this long after a send here named a file was
 * ordered after the send's message, if it made one.
 */
const ORDERED_AFTER_MS = 5 * 60_000;

type SweepServices = Pick<NodeServices, 'config' | 'domain' | 'models' | 'sequelize' | 'clock' | 'logger'>;
type NamedFile = BoundFile & { namedAt: Date };

/**
 * A send binds its files to the conversation before its message is stored, and may fail after that (the
 * database, a crash, another domain's home refusing it or out of reach): its files then stay bound while
 * no message carries them, out of the unshared quota and of the sweep of unshared uploads. So a file is
 * checked once `unsharedKeepHours` and the recall window have passed since a send last named it. If a
 * visible message of its uploader carries it, it is kept for good: only a recall could take that message
 * back, and its window has closed. Otherwise it is deleted as a recalled file is, its record, then its
 * bytes; the record only while no send has named the file since (one conditional statement), so that a
 * send naming it again meanwhile keeps it.
 *
 * The messages of a conversation hosted by another domain come to this node through federation, later:
 * there a file not carried is judged only once the copy here holds an entry the home ordered after the
 * send (so the send's message, had the home taken it, came before), and not while an entry of about the
 * send's time was withheld from this domain (it may be that message). Answers how many files went.
 */
export async function sweepUncarriedFiles(services: SweepServices): Promise<number> {
  const { Attachment } = services.models;
  const { attachments, recallWindowSeconds } = services.config;
  const cutoff = new Date(
    services.clock.now() - attachments.unsharedKeepHours * 3_600_000 - recallWindowSeconds * 1000,
  );
  let deleted = 0;
  let after: { namedAt: Date; id: string } | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    const due = await Attachment.findAll({
      where: {
        [Op.and]: [
          { unconfirmedSince: { [Op.lt]: cutoff } },
          // Past the files this sweep left waiting (a copy of another domain's conversation not caught up).
          after
            ? {
                [Op.or]: [
                  { unconfirmedSince: { [Op.gt]: after.namedAt } },
                  { unconfirmedSince: after.namedAt, id: { [Op.gt]: after.id } },
                ],
              }
            : {},
        ],
      },
      attributes: ['id', 'owner', 'conversationId', 'unconfirmedSince'],
      order: [
        ['unconfirmedSince', 'ASC'],
        ['id', 'ASC'],
      ],
      limit: BATCH,
    });
    for (const row of due) {
      const file = {
        id: row.id,
        owner: row.owner,
        conversationId: row.conversationId!,
        namedAt: row.unconfirmedSince!,
      };
      if (await settle(services, file, cutoff)) deleted += 1;
      after = file;
    }
    if (due.length < BATCH) break;
  }
  return deleted;
}

/** Keeps the file for good if a message carries it, else deletes it when it may; answers whether it went. */
async function settle(services: SweepServices, file: NamedFile, cutoff: Date): Promise<boolean> {
  const { Attachment } = services.models;
  const notNamedSince = { id: file.id, conversationId: file.conversationId, unconfirmedSince: { [Op.lt]: cutoff } };
  if (await isCarried(services, file)) {
    await Attachment.update({ unconfirmedSince: null }, { where: notNamedSince });
    return false;
  }
  if (!(await copyCaughtUp(services, file))) return false;
  if ((await Attachment.destroy({ where: notNamedSince })) === 0) return false;
  await rm(attachmentPath(services, file.id), { force: true }).catch((err: unknown) =>
    services.logger.warn({ err, attachment: file.id }, 'a file no message carries could not be deleted from disk'),
  );
  return true;
}

/** Whether this node's messages of the file's conversation tell for sure if the send made a message. */
async function copyCaughtUp(services: SweepServices, file: NamedFile): Promise<boolean> {
  const { Conversation, Message } = services.models;
  const conversation = await Conversation.findByPk(file.conversationId, { attributes: ['homeDomain'] });
  if (!conversation || conversation.homeDomain === services.domain) return true;
  const named = file.namedAt.getTime();
  const latest = await Message.findOne({
    where: { conversationId: file.conversationId },
    attributes: ['createdAt'],
    order: [['seq', 'DESC']],
  });
  if (!latest || latest.createdAt.getTime() <= named + ORDERED_AFTER_MS) return false;
  const withheld = await Message.count({
    where: {
      conversationId: file.conversationId,
      kind: WITHHELD,
      createdAt: { [Op.between]: [new Date(named - ORDERED_AFTER_MS), new Date(named + ORDERED_AFTER_MS)] },
    },
  });
  return withheld === 0;
}
