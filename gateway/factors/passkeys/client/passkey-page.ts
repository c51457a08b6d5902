import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  WebAuthnError,
} from '@simplewebauthn/browser';

/**
 * The passkey buttons of the gateway's pages (sign-in, second step, account page). Each is a form with
 * `data-passkey="authenticate"` or `"register"` and `data-options` (where to get the ceremony's options);
 * this script asks for them, lets the browser talk to the authenticator, puts the answer in the form's
 * `response` field and posts the form, whose page then says what happened. The forms stay hidden
 * where the browser cannot use passkeys (or scripts do not run).
 */
function csrfOf(form: HTMLFormElement): string {
  return (form.elements.namedItem('_csrf') as HTMLInputElement | null)?.value ?? '';
}

function say(form: HTMLFormElement, text: string): void {
  const out = form.querySelector<HTMLElement>('[data-passkey-error]');
  if (!out) return;
  out.textContent = text;
  out.hidden = false;
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

async function optionsFor(form: HTMLFormElement): Promise<unknown> {
  const response = await fetch(form.dataset.options!, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ _csrf: csrfOf(form) }),
  });
  const body = (await response.json().catch(() => ({}))) as { options?: unknown; error?: { message?: string } };
  if (!response.ok || !body.options) throw new Error(body.error?.message ?? `The server answered ${response.status}.`);
  return body.options;
}

async function run(form: HTMLFormElement, button: HTMLButtonElement | null): Promise<void> {
  if (button) button.disabled = true;
  try {
    let options: unknown;
    try {
      options = await optionsFor(form);
    } catch (error) {
      return say(form, (error as Error).message);
    }
    let answer: unknown;
    try {
      answer =
        form.dataset.passkey === 'register'
          ? await startRegistration({ optionsJSON: options as Parameters<typeof startRegistration>[0]['optionsJSON'] })
          : await startAuthentication({
              optionsJSON: options as Parameters<typeof startAuthentication>[0]['optionsJSON'],
            });
    } catch (error) {
      return say(form, explain(error, form.dataset.passkey));
    }
    (form.elements.namedItem('response') as HTMLInputElement).value = JSON.stringify(answer);
    form.submit();
  } finally {
    if (button) button.disabled = false;
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
