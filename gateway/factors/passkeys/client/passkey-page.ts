import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  WebAuthnError,
} from '@simplewebauthn/browser';
import { passkeyNameProblem } from '../passkey-name.ts';

/**
 * The passkey buttons of the gateway's pages (sign-in, second step, account page). Each is a form with
 * `data-passkey="authenticate"` or `"register"` and `data-options` (where to get the ceremony's options);
 * this script asks for them, lets the browser talk to the authenticator, puts the answer in the form's
 * `response` field and posts the form, whose page then says what happened. A new passkey's name is
 * checked before any of that (here, then by the server with the options): refused, it stays in its
 * field, marked, with what is wrong, and no authenticator is asked for a key. The forms stay hidden
 * where the browser cannot use passkeys (or scripts do not run).
 */
function csrfOf(form: HTMLFormElement): string {
  return (form.elements.namedItem('_csrf') as HTMLInputElement | null)?.value ?? '';
}

/** The form's error paragraph shows `text`; `field`, when given, is marked as what it is about, and focused. */
function say(form: HTMLFormElement, text: string, field?: HTMLInputElement | null): void {
  const out = form.querySelector<HTMLElement>('[data-passkey-error]');
  if (!out) return;
  out.textContent = text;
  out.hidden = false;
  if (!field) return;
  out.id ||= `${form.id || 'passkey'}-error`;
  field.setAttribute('aria-invalid', 'true');
  field.setAttribute('aria-describedby', out.id);
  field.focus();
}

/** Clears what say() showed, before the form is tried again. */
function unsay(form: HTMLFormElement, field: HTMLInputElement | null): void {
  const out = form.querySelector<HTMLElement>('[data-passkey-error]');
  if (out) out.hidden = true;
  field?.removeAttribute('aria-invalid');
  field?.removeAttribute('aria-describedby');
}

/** Why the browser gave no passkey, for the ceremony that asked: adding one (register) or signing in. */
function explain(error: unknown, ceremony: string | undefined): string {
  if (error instanceof WebAuthnError && error.code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED')
    return 'This passkey is already registered.';
  if (error instanceof Error && error.name === 'NotAllowedError')
    return ceremony === 'register'
      ? 'No passkey was added: the request was cancelled or timed out. Try again, and follow what your browser or device asks.'
      : 'The passkey request was cancelled or timed out, or no passkey for this site was found.';
  return `Your browser could not use a passkey: ${(error as Error).message}`;
}

type Refusal = { message?: string; fields?: Record<string, string> };

/** Why the options were refused: the server's words, and whether they are about the passkey's name. */
class OptionsRefused extends Error {
  readonly aboutName: boolean;
  constructor(message: string, aboutName: boolean) {
    super(message);
    this.aboutName = aboutName;
  }
}

async function optionsFor(form: HTMLFormElement, name: string | undefined): Promise<unknown> {
  const response = await fetch(form.dataset.options!, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ _csrf: csrfOf(form), ...(name === undefined ? {} : { name }) }),
  });
  const body = (await response.json().catch(() => ({}))) as { options?: unknown; error?: Refusal };
  if (!response.ok || !body.options)
    throw new OptionsRefused(
      body.error?.message ?? `The server answered ${response.status}.`,
      !!body.error?.fields?.name,
    );
  return body.options;
}

async function ceremony(form: HTMLFormElement, options: unknown): Promise<unknown> {
  return form.dataset.passkey === 'register'
    ? startRegistration({ optionsJSON: options as Parameters<typeof startRegistration>[0]['optionsJSON'] })
    : startAuthentication({ optionsJSON: options as Parameters<typeof startAuthentication>[0]['optionsJSON'] });
}

async function run(form: HTMLFormElement, button: HTMLButtonElement | null): Promise<void> {
  // A new passkey's name (register forms): what is posted with the key is what was checked.
  const field = form.dataset.passkey === 'register' ? (form.elements.namedItem('name') as HTMLInputElement) : null;
  unsay(form, field);
  const problem = field && passkeyNameProblem(field.value.trim());
  if (problem) return say(form, problem, field);
  if (button) button.disabled = true;
  if (field) field.readOnly = true;
  let submitted = false;
  try {
    let options: unknown;
    try {
      options = await optionsFor(form, field?.value);
    } catch (error) {
      return say(form, (error as Error).message, error instanceof OptionsRefused && error.aboutName ? field : null);
    }
    let answer: unknown;
    try {
      answer = await ceremony(form, options);
    } catch (error) {
      return say(form, explain(error, form.dataset.passkey));
    }
    (form.elements.namedItem('response') as HTMLInputElement).value = JSON.stringify(answer);
    submitted = true;
    form.submit();
  } finally {
    if (button) button.disabled = false;
    if (field && !submitted) field.readOnly = false;
  }
}

for (const form of document.querySelectorAll<HTMLFormElement>('form[data-passkey]')) {
  if (!browserSupportsWebAuthn()) continue;
  form.hidden = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    void run(form, (event as SubmitEvent).submitter as HTMLButtonElement | null);
  });
}
