import { Secret, TOTP } from 'otpauth';
import type { Page } from './browser-agent.ts';

/**
 * An authenticator app: a code the gateway accepts now (one step either side of its own) that this app
 * has not given yet, waiting for the next step when those are used up, as a person would.
 */
export class AuthenticatorApp {
  private last = -Infinity;
  readonly secret: string;
  constructor(secret: string) {
    this.secret = secret.replace(/\s/g, '');
  }
  /** The app set up from the key a setup page shows. */
  static fromPage(page: Page): AuthenticatorApp {
    const shown = /id="totp-secret">([^<]+)</.exec(page.html)?.[1];
    if (!shown) throw new Error(`no key on the page:\n${page.html.slice(0, 1500)}`);
    return new AuthenticatorApp(shown);
  }
  async next(): Promise<string> {
    const now = Date.now();
    const earliest = Math.floor(now / 30_000) - (now % 30_000 < 25_000 ? 1 : 0);
    const step = Math.max(this.last + 1, earliest);
    const wait = (step - 1) * 30_000 - now;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 50));
    this.last = step;
    return TOTP.generate({ secret: Secret.fromBase32(this.secret), timestamp: step * 30_000 });
  }
  /** A code that is none of this app's current ones. */
  wrong(): string {
    const now = Date.now();
    const current = [-1, 0, 1].map((d) =>
      TOTP.generate({ secret: Secret.fromBase32(this.secret), timestamp: now + d * 30_000 }),
    );
    return ['000000', '111111', '222222', '333333'].find((code) => !current.includes(code))!;
  }
}
