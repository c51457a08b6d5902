import type { AtriumClient, Webhook } from '../../../sdk/client.ts';
import { AtriumError, type Chat, type Entry } from './chat.ts';
import { confirmDialog, dialogId } from './dialog.ts';
import { h } from './dom.ts';
import { clockOf, dayOf, fullTimeOf, whenOf } from './format.ts';

/** Why a request about webhooks got no answer, in words; any other failure in the node's own words. */
function reasonOf(error: unknown): string {
  if (error instanceof AtriumError && error.code === 'offline') return 'you are offline.';
  if (error instanceof AtriumError && (error.code === 'disconnected' || error.code === 'timeout'))
    return 'no answer came from the chat server.';
  return error instanceof Error ? error.message : String(error);
}

/** A field's words from the node ("at most 80 characters") as a sentence of their own. */
const sentence = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;

/**
 * Why the node did not create a webhook, as it words it: its refusal and, when it says more of the name
 * (whose name it is: a member's, someone's on campus, an app's), that too. A request that got no answer
 * may have created one whose address is now lost: the list says whether, and how to be rid of it.
 */
function refusalOf(error: unknown): string {
  if (error instanceof AtriumError && (error.code === 'disconnected' || error.code === 'timeout'))
    return (
      'No answer came from the chat server, so no address can be shown. If the webhook appears in the list, ' +
      'revoke it and create another.'
    );
  if (error instanceof AtriumError && error.code === 'offline') return 'You are offline: no webhook was created.';
  const field = error instanceof AtriumError ? error.fields?.name : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return field && field !== message ? `${sentence(message)} ${sentence(field)}` : sentence(message);
}

/** When something was done, for a line of words: "today at 14:05", "on 5 Dec, 14:05". */
function when(iso: string): HTMLTimeElement {
  const today = dayOf(iso) === dayOf(new Date().toISOString());
  return h('time', { datetime: iso, title: fullTimeOf(iso) }, today ? `today at ${clockOf(iso)}` : `on ${whenOf(iso)}`);
}

/**
 * The Webhooks part of a group's details, for its owner and admins (group-rights.ts): the group's incoming
 * webhooks (node/webhooks/manage-webhooks.ts) with who made them, when and through which app, creating one
 * by name, its address shown this once, and revoking one, asked first. Webhooks are made on the node
 * hosting the group, the one this conversation is on: a group hosted by another college's node has no such
 * part (rights.webhooks is false there; see GroupPanel's hosted line).
 */
export class WebhooksPart {
  readonly element: HTMLElement;
  #chat: Chat;
  #entry: Entry;
  /** The dialog this part is in: the one a confirmation opens over. */
  #dialog: Element;
  #heading: HTMLHeadingElement;
  /*
   * Live regions as role=status is, without the role: the dialog keeps one status, the group panel's,
   * which a screen reader's "read the status line" finds, and which tests name it by.
   */
  #status = h('p', { class: 'dialog-notice', 'aria-live': 'polite', 'aria-atomic': 'true' });
  #alert = h('p', { class: 'dialog-notice error', role: 'alert' });
  #list: HTMLUListElement;
  #empty = h('p', { class: 'muted small' }, 'Reading the webhooks…');
  #revoked = h('details', { class: 'webhooks-revoked', hidden: true });
  #revokedSummary = h('summary', {});
  #revokedList: HTMLUListElement;
  #createButton: HTMLButtonElement;
  #form: HTMLFormElement;
  #input: HTMLInputElement;
  #fieldError: HTMLParagraphElement;
  #submit: HTMLButtonElement;
  #created: HTMLElement;
  #createdHeading: HTMLHeadingElement;
  #url: HTMLTextAreaElement;
  #copyStatus = h('p', { class: 'dialog-notice', 'aria-live': 'polite', 'aria-atomic': 'true' });
  /** The group's webhooks as last read, revoked ones too; null until read. */
  #hooks: Webhook[] | null = null;
  #drawn = '';
  /** The latest read of the list; an answer to an earlier one is dropped. */
  #reading = 0;
  #allowed = false;

  constructor(chat: Chat, entry: Entry, dialog: Element) {
    this.#chat = chat;
    this.#entry = entry;
    this.#dialog = dialog;
    const headingId = dialogId('group-webhooks');
    this.#heading = h('h3', { id: headingId, tabindex: -1 }, 'Webhooks');
    this.#list = h('ul', { class: 'members webhooks', 'aria-labelledby': headingId });
    this.#revokedList = h('ul', { class: 'members webhooks' });
    this.#revoked.append(this.#revokedSummary, this.#revokedList);
    const form = this.#formParts();
    this.#createButton = form.open;
    this.#form = form.form;
    this.#input = form.input;
    this.#fieldError = form.error;
    this.#submit = form.submit;
    const created = this.#createdParts();
    this.#created = created.box;
    this.#createdHeading = created.heading;
    this.#url = created.url;
    this.element = h(
      'section',
      { class: 'group-webhooks', 'aria-labelledby': headingId, hidden: true },
      this.#heading,
      h(
        'p',
        { class: 'muted small' },
        'A webhook lets another system (a form, a script, a build server) post messages into this group ' +
          'through a web address of its own. Anyone who has that address can post here, under the ' +
          'webhook’s name.',
      ),
      this.#status,
      this.#alert,
      this.#list,
      this.#empty,
      this.#revoked,
      this.#created,
      this.#createButton,
      this.#form,
    );
  }

  /**
   * Shows the part to those who may manage webhooks, and reads the list when it first shows or when the
   * group `changed` (a member removed or demoted takes the webhooks they made with them).
   */
  update(allowed: boolean, changed: boolean): void {
    const was = this.#allowed;
    this.#allowed = allowed;
    this.element.hidden = !allowed;
    if (!allowed) {
      // The right is gone: so is what it showed, an address not yet copied included.
      this.#hooks = null;
      this.#drawn = '';
      this.#stopCreating(false);
      this.#forgetAddress();
      return;
    }
    if (!was || changed) void this.reload();
    this.#draw();
  }

  #say(text: string, error = false): void {
    this.#status.textContent = error ? '' : text;
    this.#alert.textContent = error ? text : '';
  }

  #client(): AtriumClient {
    const client = this.#chat.clients.get(this.#entry.domain);
    if (!client) throw new AtriumError('offline', 'Not connected');
    return client;
  }

  /** Reads the group's webhooks again from its node. */
  async reload(): Promise<void> {
    if (!this.#allowed) return;
    const reading = ++this.#reading;
    try {
      const hooks = await this.#client().webhooks(this.#entry.conv.id);
      if (reading !== this.#reading || !this.#allowed) return;
      this.#hooks = hooks;
      this.#chat.wantNames([...new Set(hooks.map((w) => w.createdBy))]);
      this.#draw();
    } catch (error) {
      if (reading !== this.#reading || !this.#allowed) return;
      this.#say(`Could not read the webhooks: ${reasonOf(error)}`, true);
      if (!this.#hooks) this.#empty.textContent = 'The webhooks could not be read.';
    }
  }

  /** Who made a webhook, through which app, and when: "Made by you through Lab Booking today at 14:05". */
  #madeBy(hook: Webhook): (string | Node)[] {
    const who = hook.createdBy === this.#entry.me ? 'you' : this.#chat.nameIn(this.#entry, hook.createdBy);
    const via = hook.createdVia ? ` through ${hook.createdVia.name}` : '';
    const made: (string | Node)[] = [`Made by ${who}${via} `, when(hook.createdAt)];
    return hook.revokedAt ? [...made, '; revoked ', when(hook.revokedAt)] : made;
  }

  #draw(): void {
    const hooks = this.#hooks;
    if (!hooks) return;
    const active = hooks.filter((w) => !w.revokedAt);
    const revoked = hooks.filter((w) => w.revokedAt).reverse();
    const rows = (list: Webhook[]) => list.map((hook) => ({ hook, made: this.#madeBy(hook) }));
    const [activeRows, revokedRows] = [rows(active), rows(revoked)];
    const words = (made: (string | Node)[]) => made.map((m) => (typeof m === 'string' ? m : m.textContent));
    const sig = JSON.stringify([...activeRows, ...revokedRows].map(({ hook, made }) => [hook, words(made)]));
    if (sig === this.#drawn) return;
    this.#drawn = sig;
    const focused = this.#list.contains(document.activeElement) ? (document.activeElement as HTMLElement) : null;
    this.#list.replaceChildren(...activeRows.map(({ hook, made }) => this.#row(hook, made)));
    this.#revokedList.replaceChildren(...revokedRows.map(({ hook, made }) => this.#row(hook, made)));
    this.#empty.textContent = active.length === 0 ? 'This group has no webhooks.' : '';
    this.#empty.hidden = active.length > 0;
    this.#revoked.hidden = revoked.length === 0;
    this.#revokedSummary.textContent = `Revoked webhooks (${revoked.length})`;
    if (focused && !focused.isConnected) {
      // Its row drawn anew: the same button in it, or (the webhook revoked) the part's heading.
      const again = this.#list.querySelector<HTMLElement>(`[data-webhook="${focused.dataset.webhook ?? ''}"]`);
      (again ?? this.#heading).focus();
    }
  }

  #row(hook: Webhook, made: (string | Node)[]): HTMLLIElement {
    const revoke: HTMLButtonElement = h(
      'button',
      {
        type: 'button',
        class: 'compact secondary',
        'data-webhook': hook.id,
        'aria-label': `Revoke webhook “${hook.name}”`,
        onclick: () => void this.#revoke(hook, revoke),
      },
      'Revoke',
    );
    return h(
      'li',
      { class: 'member webhook', 'data-webhook-id': hook.id },
      h('div', { class: 'member-name' }, h('strong', {}, hook.name), h('div', { class: 'muted small' }, ...made)),
      hook.revokedAt ? null : h('span', { class: 'member-actions' }, revoke),
    );
  }

  async #revoke(hook: Webhook, button: HTMLButtonElement): Promise<void> {
    const yes = await confirmDialog(this.#dialog, {
      title: `Revoke “${hook.name}”?`,
      body:
        'Its address stops working at once: whatever posts through it is refused from now on. What it posted ' +
        'stays in the group. A revoked webhook cannot be turned on again; create a new one if it is needed again.',
      confirm: 'Revoke',
    });
    if (!yes) return;
    button.disabled = true;
    this.#say('');
    try {
      await this.#client().revokeWebhook(hook.id);
      this.#say(`“${hook.name}” is revoked: its address no longer works.`);
    } catch (error) {
      button.disabled = false;
      this.#say(`Could not revoke “${hook.name}”: ${reasonOf(error)}`, true);
    } finally {
      await this.reload();
    }
  }

  #formParts() {
    const input = h('input', {
      type: 'text',
      id: dialogId('webhook-name'),
      maxlength: 80,
      required: true,
      autocomplete: 'off',
    });
    const hint = h(
      'p',
      { id: dialogId('webhook-name-hint'), class: 'muted small' },
      'Its messages show under this name, marked as a webhook’s. It cannot be the name of a member, of ' +
        'someone on campus or of an app.',
    );
    const error = h('p', { id: dialogId('webhook-name-error'), class: 'dialog-notice error', role: 'alert' });
    input.setAttribute('aria-describedby', `${hint.id} ${error.id}`);
    const submit = h('button', { type: 'submit' }, 'Create webhook');
    const form = h(
      'form',
      { class: 'webhook-form', hidden: true, novalidate: true },
      h('label', { for: input.id }, 'Name of the new webhook'),
      hint,
      input,
      error,
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => this.#stopCreating(true) }, 'Cancel'),
        submit,
      ),
    );
    const open = h(
      'button',
      { type: 'button', class: 'compact secondary', onclick: () => this.#startCreating() },
      'Create a webhook',
    );
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      // Escape here gives up creating one, and leaves the dialog open.
      event.preventDefault();
      event.stopPropagation();
      this.#stopCreating(true);
    });
    input.addEventListener('input', () => this.#nameProblem(''));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#create(input.value.trim());
    });
    return { open, form, input, error, submit };
  }

  #nameProblem(text: string): void {
    this.#fieldError.textContent = text;
    if (text) this.#input.setAttribute('aria-invalid', 'true');
    else this.#input.removeAttribute('aria-invalid');
  }

  #startCreating(): void {
    this.#forgetAddress();
    this.#say('');
    this.#input.value = '';
    this.#nameProblem('');
    this.#form.hidden = false;
    this.#createButton.hidden = true;
    this.#input.focus();
  }

  #stopCreating(focusBack: boolean): void {
    this.#form.hidden = true;
    this.#createButton.hidden = false;
    if (focusBack) this.#createButton.focus();
  }

  async #create(name: string): Promise<void> {
    if (!name) {
      this.#nameProblem('Give the webhook a name.');
      this.#input.focus();
      return;
    }
    this.#submit.disabled = true;
    this.#nameProblem('');
    try {
      const { webhook, url } = await this.#client().createWebhook(this.#entry.conv.id, name);
      this.#form.hidden = true;
      this.#showAddress(webhook.name, url);
    } catch (error) {
      this.#nameProblem(refusalOf(error));
      this.#input.focus();
    } finally {
      this.#submit.disabled = false;
      void this.reload();
    }
  }

  #createdParts() {
    const headingId = dialogId('webhook-created');
    const heading = h('h4', { id: headingId, tabindex: -1 });
    const warning = h(
      'p',
      { id: dialogId('webhook-warning'), class: 'dialog-notice error' },
      'Copy this address now: it will not be shown again. Anyone who has it can post into this group, so ' +
        'keep it as secret as a password. If it gets out, revoke the webhook.',
    );
    // A text box of a few lines: the whole address shows, wrapped, even on a phone.
    const url = h('textarea', {
      id: dialogId('webhook-url'),
      rows: 3,
      readonly: true,
      spellcheck: 'false',
      autocomplete: 'off',
      'aria-describedby': warning.id,
    });
    const box = h(
      'div',
      { class: 'webhook-created', role: 'group', 'aria-labelledby': headingId, hidden: true },
      heading,
      warning,
      h('label', { for: url.id }, 'The webhook’s address'),
      url,
      this.#copyStatus,
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => this.#doneWithAddress() }, 'Done'),
        h('button', { type: 'button', onclick: () => void this.#copy() }, 'Copy address'),
      ),
    );
    url.addEventListener('focus', () => url.select());
    return { box, heading, url };
  }

  /** The new webhook's address, shown this once: the field has the focus with it selected, to copy. */
  #showAddress(name: string, url: string): void {
    this.#createdHeading.textContent = `Webhook “${name}” created`;
    this.#url.value = url;
    this.#copyStatus.textContent = '';
    this.#created.hidden = false;
    this.#createButton.hidden = true;
    this.#url.focus();
    this.#url.select();
  }

  async #copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.#url.value);
      this.#copyStatus.textContent = 'The address is copied. Paste it where the other system asks for it.';
    } catch {
      // No clipboard here (a page not served over HTTPS, or the browser said no): the person copies it.
      this.#url.focus();
      this.#url.select();
      this.#copyStatus.textContent = 'Could not copy it from here: the address is selected, copy it yourself.';
    }
  }

  #doneWithAddress(): void {
    this.#forgetAddress();
    this.#createButton.focus();
  }

  /** The address leaves the page: nothing keeps it once the person is done with it. */
  #forgetAddress(): void {
    this.#url.value = '';
    this.#copyStatus.textContent = '';
    this.#created.hidden = true;
    this.#createButton.hidden = !this.#form.hidden;
  }
}
