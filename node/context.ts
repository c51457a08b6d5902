import type { Sequelize } from 'sequelize';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import type { Identity } from './auth/token-verifier.ts';
import type { Bus } from './bus/bus.ts';
import type { NodeConfig } from './config.ts';
import type { GroupCommitter } from './messages/group-commit.ts';
import type { SearchIndexer } from './messages/search-index.ts';
import type { NodeModels } from './models.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import type { TypingNews } from './presence/typing-news.ts';
import type { MemberCache } from './conversations/member-cache.ts';
import type { Federation } from './federation/federation.ts';
import type { AddressBook } from './federation/address-book.ts';
import type { MovedPeers } from './conversations/moved-peers.ts';
import type { AppsServices } from './bots/apps-services.ts';
import type { ReceiptCommitter } from './receipts/receipt-committer.ts';
import type { ReceiptNews } from './receipts/receipt-news.ts';
import type { FileRemovalNotices } from './attachments/removal-notices.ts';
import type { PersonLimits } from './limits/person-limits.ts';

/** The long-lived parts of a domain node that every use-case may use. */
export type NodeServices = {
  config: NodeConfig;
  domain: string;
  sequelize: Sequelize;
  /**
   * Where reads that may take long go (message search): on SQLite a read-only connection whose statements
   * run on a thread of their own, so that they do not hold every socket meanwhile; on MariaDB `sequelize`.
   */
  longReads: Sequelize;
  models: NodeModels;
  bus: Bus;
  committer: GroupCommitter;
  /** Receipts written together, as messages are (node/receipts/receipt-committer.ts). */
  receipts: ReceiptCommitter;
  /** Moves committed text into the search index after the commit (node/messages/search-index.ts). */
  searchIndexer: SearchIndexer;
  /** Tells of receipts, gathered per turn of the event loop (node/receipts/receipt-news.ts). */
  receiptNews: ReceiptNews;
  presence: PresenceStore;
  /** Tells of typing; in a big group collapsed, at most once per interval (node/presence/typing-news.ts). */
  typing: TypingNews;
  /** Active members per conversation, cached; publish a `membership` bus event after changing members. */
  members: MemberCache;
  /** Everything towards other domains, in parts: policy, outgoing delivery, calls to a home node, keys, presence. */
  federation: Federation;
  /** Whether addresses of any domain belong to someone, asked before a conversation is opened with them. */
  addresses: AddressBook;
  /** Where the peers of direct conversations chat now: a send to one who moved is refused (conversations/moved-peers.ts). */
  movedPeers: MovedPeers;
  /** Bots, cards and webhooks: the gateway's word on apps, the webhook store and its rate limit. */
  apps: AppsServices;
  /** Uploads per person per hour, counted in the database (node/attachments/upload-quota.ts). */
  uploadLimiter: RateLimiter;
  /** What one person may do however they ask: messages, searches, new groups and webhooks (node/limits/person-limits.ts). */
  limits: PersonLimits;
  /** Deleted files whose conversation's home is still to be told, tried until it is (node/attachments/removal-notices.ts). */
  fileRemovals: FileRemovalNotices;
  logger: Logger;
  /** Where time comes from wherever it decides behaviour (windows, expiry, caches); tests move it. */
  clock: Clock;
};

/** What a use-case receives: the services and who is acting, whichever transport called it. */
export type NodeContext = NodeServices & {
  actor: Identity;
  /** The socket the request came from, so fan-out can skip echoing to it. */
  connectionId?: string;
};
