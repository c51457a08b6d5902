/** The node's allowance of frames per socket, as its `ready` frame tells it (docs/protocol.md, "Rate limits"). */
export type RateLimit = { framesPerSecond: number; burst: number };

/** What a node of this protocol version allows unless it says otherwise. */
export const DEFAULT_RATE_LIMIT: RateLimit = { framesPerSecond: 50, burst: 50 };

/**
 * Keeps a socket's frames within the node's allowance, so that a client with much to send (an outbox
 * filled while offline) sends it at the pace the node takes it instead of being refused. It keeps under
 * the limit: frames held up on the way (a slow network, a busy node) can reach the node closer together
 * than they left, so it uses nine tenths of the rate and half the burst. After a refusal it waits as long
 * as the node said; the node's whole burst is back by then.
 */
export class Pacer {
  #rate = 1;
  #burst = 1;
  #tokens = 1;
  #at = 0;
  #until = 0;

  constructor(limit: RateLimit = DEFAULT_RATE_LIMIT) {
    this.reset(limit);
  }

  /** A new socket: the node's allowance for it is whole. */
  reset(limit: RateLimit = DEFAULT_RATE_LIMIT, now = Date.now()): void {
    this.#until = 0;
    this.#at = now;
    this.#set(limit);
    this.#tokens = this.#burst;
  }

  /** The node told its allowance (in `ready`); what was spent stays spent. */
  configure(limit: RateLimit, now = Date.now()): void {
    this.#refill(now);
    this.#set(limit);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  /** Milliseconds until the next frame may go; 0 for now. */
  waitMs(now = Date.now()): number {
    if (now < this.#until) return this.#until - now;
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
  }

  /** A frame went. */
  spend(now = Date.now()): void {
    this.#refill(now);
    this.#tokens -= 1;
  }

  /** The node refused a frame and said to wait `ms`: nothing goes until then, and then a burst may. */
  pause(ms: number, now = Date.now()): void {
    this.#until = Math.max(this.#until, now + ms);
    this.#at = this.#until;
    this.#tokens = this.#burst;
  }

  #set(limit: RateLimit) {
    const rate = Number(limit.framesPerSecond);
    const burst = Number(limit.burst);
    this.#rate = Number.isFinite(rate) && rate > 0 ? rate * 0.9 : DEFAULT_RATE_LIMIT.framesPerSecond * 0.9;
    this.#burst = Math.max(1, Math.floor((Number.isFinite(burst) && burst > 0 ? burst : DEFAULT_RATE_LIMIT.burst) / 2));
  }

  #refill(now: number) {
    if (now <= this.#at) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
  }
}
