import session from 'express-session';
import { Op } from 'sequelize';
import type { GatewayModels } from '../models/index.ts';

type Callback = (err?: unknown) => void;

/**
 * express-session's store over the `web_sessions` table, so console sessions survive a restart and are
 * shared by every gateway process. Expired rows are never returned and are swept now and then on write.
 */
export class DatabaseSessionStore extends session.Store {
  readonly #sessions: GatewayModels['WebSession'];
  readonly #ttlMs: number;
  readonly #sweepEveryMs: number;
  #lastSweep = Date.now();

  constructor(sessions: GatewayModels['WebSession'], options: { ttlSeconds: number; sweepEverySeconds?: number }) {
    super();
    this.#sessions = sessions;
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#sweepEveryMs = (options.sweepEverySeconds ?? 600) * 1000;
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    this.#sessions
      .findByPk(sid)
      .then(async (row) => {
        if (!row) return null;
        if (row.expiresAt.getTime() <= Date.now()) {
          await row.destroy();
          return null;
        }
        try {
          return JSON.parse(row.data) as session.SessionData;
        } catch {
          return null;
        }
      })
      .then((data) => callback(null, data), callback);
  }

  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    this.#sessions
      .upsert({ sid, data: JSON.stringify(data), expiresAt: this.#expiryOf(data) })
      .then(() => this.#maybeSweep())
      .then(
        () => callback?.(),
        (err) => callback?.(err),
      );
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#sessions.destroy({ where: { sid } }).then(
      () => callback?.(),
      (err) => callback?.(err),
    );
  }

  /**
   * Pushes an unchanged session's expiry on, which express-session asks at every request it serves: written
   * only once the push is worth it, a hundredth of the lifetime past the stored expiry, as the gateway's own
   * sessions are (oidc/adapter.ts). The session may then end up to that much earlier, and its last use, which
   * the account page reads from it, be told that much earlier.
   */
  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    const expiresAt = this.#expiryOf(data);
    const worthIt = new Date(expiresAt.getTime() - this.#ttlMs / 100);
    // express-session's touch callback takes no error; a failed touch only shortens the session.
    this.#sessions.update({ expiresAt }, { where: { sid, expiresAt: { [Op.lt]: worthIt } } }).then(
      () => callback?.(),
      () => callback?.(),
    );
  }

  /** Deletes every expired row; returns how many went. */
  async sweep(): Promise<number> {
    this.#lastSweep = Date.now();
    return this.#sessions.destroy({ where: { expiresAt: { [Op.lte]: new Date() } } });
  }

  #expiryOf(data: session.SessionData): Date {
    const expires = data.cookie?.expires;
    return expires ? new Date(expires) : new Date(Date.now() + this.#ttlMs);
  }

  async #maybeSweep(): Promise<void> {
    if (Date.now() - this.#lastSweep < this.#sweepEveryMs) return;
    await this.sweep();
  }
}
