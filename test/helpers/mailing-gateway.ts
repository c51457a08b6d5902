import type { StartOptions } from '../../gateway/main.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { startMailbox, type Mailbox } from './mailbox.ts';

/** The sender the mailing gateway's mail comes from, unless a test names its own MAIL_FROM. */
export const TEST_MAIL_FROM = 'Atrium <no-reply@campus.test>';

export type MailingGateway = {
  gateway: TestGateway;
  /** Where everything the gateway mails arrives. */
  mailbox: Mailbox;
  /** Stops the gateway, then the mailbox it mailed to. */
  stop(): Promise<void>;
};

/**
 * A test gateway (see startTestGateway) that mails through SMTP to a mailbox of the test's own, from
 * TEST_MAIL_FROM; `env` adds to that or overrides it.
 */
export async function startMailingGateway(
  label: string,
  env: Record<string, string> = {},
  options: Omit<StartOptions, 'migrate'> = {},
): Promise<MailingGateway> {
  const mailbox = await startMailbox();
  let gateway: TestGateway;
  try {
    gateway = await startTestGateway(label, { SMTP_URL: mailbox.url, MAIL_FROM: TEST_MAIL_FROM, ...env }, options);
  } catch (error) {
    await mailbox.close();
    throw error;
  }
  return {
    gateway,
    mailbox,
    async stop() {
      await gateway.stop();
      await mailbox.close();
    },
  };
}
