import type { Member } from '../../../sdk/client.ts';
import { AtriumError, type Chat, type Entry } from './chat.ts';
import { confirmDialog, dialogId, Modal } from './dialog.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { rightsIn, type Rights, type Role } from './group-rights.ts';
import { disabledTag } from './list-view.ts';
import { foundAsApp, peoplePicker, type PeoplePicker } from './people-view.ts';
import { WebhooksPart } from './webhooks-view.ts';

/** Members shown at a time: a lecture's thousands come a page at a time, as the person asks for more. */
const PAGE = 50;
/** The most members one request reads (the node's limit), when the pages shown are read again. */
const MOST_PER_REQUEST = 1000;
/** Up to this many members, a group's view lists them all with their roles: a change among them shows there. */
const LISTED = 100;

const ROLE_NAMES: Record<Role, string> = { owner: 'Owner', admin: 'Admin', member: '' };

/** Why a change failed, in words: the node's own reason, or what a lost connection means for it. */
function reasonOf(error: unknown): string {
  if (error instanceof AtriumError && error.code === 'offline') return 'you are offline. Nothing was changed.';
  if (error instanceof AtriumError && (error.code === 'disconnected' || error.code === 'timeout'))
    return 'no answer came from the chat server. The members shown are read again.';
  return error instanceof Error ? error.message : String(error);
}

/**
 * What tells that the group changed: its title, its count, its last change entry and (while its view
 * lists every member) their roles. Changes by others reach the entry as entries and views; when this
 * differs, the members shown are read again.
 */
function changesOf(entry: Entry): string {
  let lastChange = 0;
  for (let i = entry.messages.length - 1; i >= 0; i--) {
    if (entry.messages[i]!.kind === 'system') {
      lastChange = entry.messages[i]!.seq;
      break;
    }
  }
  const members = entry.conv.members;
  const roles = members.length <= LISTED ? members.map((m) => `${m.address}:${m.role}`).join() : '';
  return [entry.conv.title, entry.conv.memberCount ?? members.length, lastChange, roles].join('\u0000');
}

/**
 * A group's details in a dialog: its name (renamed by its owner and admins), its members a page at a
 * time with their roles, adding people found in the directory, removing members and making them admins
 * (as the node allows: group-rights.ts), its webhooks for its owner and admins (webhooks-view.ts), and
 * leaving. Nothing on the page changes before the node has taken a change; a refusal is said in the
 * dialog, and the members shown are read again. `update`, called whenever the conversation redraws,
 * follows the changes others make.
 */
export class GroupPanel {
  #chat: Chat;
  #entry: Entry;
  #modal: Modal;
  #heading: HTMLHeadingElement;
  #name = h('strong', { class: 'group-name-text' });
  #hosted = h('p', { class: 'muted small' });
  #renameButton: HTMLButtonElement;
  #renameForm: HTMLFormElement;
  #renameInput: HTMLInputElement;
  #adding: HTMLElement;
  #picker: PeoplePicker;
  #addButton: HTMLButtonElement;
  #webhooks: WebhooksPart;
  #count: HTMLElement;
  #list = h('ul', { class: 'members' });
  #more: HTMLButtonElement;
  #status = h('p', { class: 'dialog-notice', role: 'status' });
  #alert = h('p', { class: 'dialog-notice error', role: 'alert' });
  #members: Member[] = [];
  #next: string | null = null;
  #total = 0;
  /** How many members the person asked to see (PAGE more with each "Show more"). */
  #wanted = PAGE;
  #rows = new Map<string, { el: HTMLLIElement; sig: string }>();
  #seen = '';
  /** The latest read of members; an answer to an earlier one is dropped. */
  #reading = 0;
  #readingFromStart = false;
  /** The latest read of members, settled or not: what the owner's leaving waits for before naming a successor. */
  #lastRead: Promise<void> = Promise.resolve();

  constructor(chat: Chat, entry: Entry, onClose: () => void) {
    this.#chat = chat;
    this.#entry = entry;
    const titleId = dialogId('group-details');
    this.#modal = new Modal({ class: 'dialog group-dialog', 'aria-labelledby': titleId }, onClose);
    this.#heading = h('h2', { id: titleId, tabindex: -1 }, 'Group details');
    const countId = dialogId('group-members');
    this.#count = h('h3', { id: countId, tabindex: -1 }, 'Members');
    this.#list.setAttribute('aria-labelledby', countId);
    this.#more = h(
      'button',
      { type: 'button', class: 'secondary show-more', onclick: () => this.#showMore() },
      'Show more',
    );
    const rename = this.#renameSection();
    this.#renameButton = rename.button;
    this.#renameForm = rename.form;
    this.#renameInput = rename.input;
    const adding = this.#addSection();
    this.#adding = adding.section;
    this.#picker = adding.picker;
    this.#addButton = adding.button;
    this.#webhooks = new WebhooksPart(chat, entry, this.#modal.element);
    const leave: HTMLButtonElement = h(
      'button',
      { type: 'button', class: 'danger', onclick: () => void this.#leave(leave) },
      'Leave group',
    );
    this.#modal.element.append(
      h(
        'header',
        { class: 'dialog-head' },
        this.#heading,
        iconButton('Close', ICONS.close, () => this.close()),
      ),
      this.#status,
      this.#alert,
      h('section', { class: 'group-name' }, h('p', {}, this.#name), this.#hosted, this.#renameButton, this.#renameForm),
      this.#adding,
      this.#webhooks.element,
      h('section', { class: 'group-members' }, this.#count, this.#list, this.#more),
      h('footer', { class: 'dialog-buttons' }, leave),
    );
  }

  get isOpen(): boolean {
    return this.#modal.isOpen;
  }

  open(parent: Element): void {
    this.#modal.open(parent, this.#heading);
    this.update();
  }

  close(): void {
    this.#modal.close();
  }

  /** Draws the group as the entry now has it; reads the members shown again if it changed. */
  update(): void {
    if (!this.isOpen) return;
    const entry = this.#entry;
    const rights = rightsIn(entry);
    this.#name.textContent = this.#chat.title(entry);
    const host = this.#chat.domainTitle(entry.conv.homeDomain);
    this.#hosted.textContent = rights.atHome ? `Hosted by ${host}.` : this.#hostedElsewhere(host, rights.role);
    if (!rights.rename) this.#renameForm.hidden = true;
    this.#renameButton.hidden = !rights.rename || !this.#renameForm.hidden;
    this.#adding.hidden = !rights.invite;
    const seen = changesOf(entry);
    const changed = seen !== this.#seen;
    this.#webhooks.update(rights.webhooks, changed);
    if (changed) {
      this.#seen = seen;
      void this.#read(true);
    }
    this.#drawMembers(rights);
  }

  /**
   * A group hosted by another college's node, as it is seen from here. Its webhooks are made on its home
   * node (their address is the home's) by a member that node knows as its own: an owner or admin from this
   * college is a member by this college's address, which the home node does not sign in, and a node asks
   * no other to change a group for it (`not_home`).
   */
  #hostedElsewhere(host: string, role: Role): string {
    const said = `Hosted by ${host}: its owner and admins change it there. You can leave it from here.`;
    if (role === 'member') return said;
    const webhooks = `Its webhooks are made there too, by an owner or admin who chats on ${host}`;
    return `${said} ${webhooks}; they cannot be made from here.`;
  }

  #say(text: string, error = false): void {
    this.#status.textContent = error ? '' : text;
    this.#alert.textContent = error ? text : '';
  }

  #renameSection() {
    const input = h('input', { type: 'text', id: dialogId('group-rename'), maxlength: 200, required: true });
    const save = h('button', { type: 'submit' }, 'Save');
    const form = h(
      'form',
      { class: 'rename-form', hidden: true },
      h('label', { for: input.id }, 'New name for the group'),
      input,
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => this.#stopRenaming() }, 'Cancel'),
        save,
      ),
    );
    const button = h(
      'button',
      {
        type: 'button',
        class: 'compact secondary',
        onclick: () => {
          input.value = this.#entry.conv.title ?? '';
          form.hidden = false;
          button.hidden = true;
          input.focus();
          input.select();
        },
      },
      'Rename group',
    );
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      // Escape here gives up renaming, and leaves the dialog open.
      event.preventDefault();
      event.stopPropagation();
      this.#stopRenaming();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#rename(input.value.trim(), save);
    });
    return { button, form, input };
  }

  #stopRenaming(): void {
    this.#renameForm.hidden = true;
    this.#renameButton.hidden = !rightsIn(this.#entry).rename;
    if (!this.#renameButton.hidden) this.#renameButton.focus();
  }

  async #rename(title: string, save: HTMLButtonElement): Promise<void> {
    if (!title) {
      this.#say('Give the group a name.', true);
      this.#renameInput.focus();
      return;
    }
    if (title === this.#entry.conv.title) return this.#stopRenaming();
    const done = await this.#act(save, 'Could not rename the group', () => this.#chat.renameGroup(this.#entry, title));
    if (!done) return;
    this.#say(`The group is now called “${title}”.`);
    this.#stopRenaming();
  }

  #addSection() {
    const entry = this.#entry;
    const picker = peoplePicker(this.#chat, {
      id: dialogId('invite'),
      chipsLabel: 'People to add',
      unchoose: (p) => `Do not add ${p.name}`,
      unavailable: (p) => {
        const members = new Set([...this.#members, ...entry.conv.members].map((m) => m.address));
        if (p.addresses.some((a) => members.has(a))) return 'Already a member';
        // An app's bot posts only in groups of its own node (the node says `not_home` otherwise).
        if (p.app && !p.reachableFrom.includes(entry.domain))
          return `Posts only in groups hosted by ${this.#chat.domainTitle(p.via)}`;
        // Found only through another of this person's colleges: this group's home cannot reach them.
        return p.reachableFrom.includes(entry.domain)
          ? null
          : `Not reachable from ${this.#chat.domainTitle(entry.domain)}`;
      },
    });
    const button = h(
      'button',
      { type: 'button', disabled: true, onclick: () => void this.#invite() },
      'Add chosen people',
    );
    picker.changed = () => {
      button.disabled = picker.chosen.size === 0;
    };
    const headingId = dialogId('group-add');
    const section = h(
      'section',
      { class: 'group-add', 'aria-labelledby': headingId, hidden: true },
      h('h3', { id: headingId }, 'Add people'),
      h('label', { for: picker.search.id }, 'Find people to add'),
      picker.search,
      picker.status,
      picker.results,
      picker.chips,
      button,
    );
    return { section, picker, button };
  }

  async #invite(): Promise<void> {
    const people = [...this.#picker.chosen.values()];
    if (people.length === 0) return;
    const names = people.map((p) => p.name).join(', ');
    if (!(await this.#act(this.#addButton, `Could not add ${names}`, () => this.#chat.invite(this.#entry, people))))
      return;
    this.#picker.clear();
    this.#say(`Added ${names}.`);
    this.#picker.search.focus();
  }

  /**
   * Runs a change, its button marked disabled meanwhile; true once the node took it. Either way the members
   * shown are read again: after a refusal, what the node holds is what to show. The button keeps the focus
   * (aria-disabled, not disabled, which would drop it to the page's body, out of the dialog), so that a
   * keyboard user stays where they were: on the same button of the member's redrawn row (#drawMembers).
   */
  async #act(button: HTMLButtonElement, failure: string, change: () => Promise<void>): Promise<boolean> {
    if (button.getAttribute('aria-disabled') === 'true') return false;
    button.setAttribute('aria-disabled', 'true');
    this.#say('');
    try {
      await change();
      return true;
    } catch (error) {
      this.#say(`${failure}: ${reasonOf(error)}`, true);
      return false;
    } finally {
      button.removeAttribute('aria-disabled');
      void this.#read(true);
    }
  }

  #showMore(): void {
    if (!this.#next) return;
    this.#wanted = this.#members.length + PAGE;
    // A read from the start under way reads the new page too.
    void this.#read(this.#readingFromStart);
  }

  /**
   * Reads members: from the start as many as the person asked to see (after a change), or the next page
   * after those shown ("Show more").
   */
  #read(fromStart: boolean): Promise<void> {
    this.#lastRead = this.#readMembers(fromStart);
    return this.#lastRead;
  }

  /** Waits until no read of members is under way (a read started meanwhile is waited for too). */
  async #membersSettled(): Promise<void> {
    let read: Promise<void>;
    do {
      read = this.#lastRead;
      await read;
    } while (read !== this.#lastRead);
  }

  async #readMembers(fromStart: boolean): Promise<void> {
    if (!this.isOpen) return;
    const reading = ++this.#reading;
    this.#readingFromStart = fromStart;
    const members = fromStart ? [] : [...this.#members];
    let after = fromStart ? undefined : (this.#next ?? undefined);
    let total = this.#total;
    let next: string | null = null;
    this.#more.disabled = true;
    try {
      do {
        const limit = Math.min(MOST_PER_REQUEST, Math.max(1, this.#wanted - members.length));
        const page = await this.#chat.members(this.#entry, after, limit);
        if (reading !== this.#reading) return;
        members.push(...page.members);
        ({ next } = page);
        total = page.memberCount;
        after = next ?? undefined;
      } while (next && members.length < this.#wanted);
    } catch (error) {
      if (reading === this.#reading && this.isOpen) this.#say(`Could not read the members: ${reasonOf(error)}`, true);
      return;
    } finally {
      if (reading === this.#reading) {
        this.#readingFromStart = false;
        this.#more.disabled = false;
      }
    }
    this.#members = members;
    this.#next = next;
    this.#total = total;
    this.#chat.wantNames(members.map((m) => m.address));
    this.#drawMembers(rightsIn(this.#entry));
    this.#picker.redraw();
  }

  /** Draws the members read, redrawing only the rows that changed (a button under the pointer stays put). */
  #drawMembers(rights: Rights): void {
    const focused = this.#list.contains(document.activeElement) ? (document.activeElement as HTMLElement) : null;
    const wanted: HTMLLIElement[] = [];
    const keep = new Set<string>();
    for (const member of this.#members) {
      keep.add(member.address);
      const row = this.#row(member, rights);
      const drawn = this.#rows.get(member.address);
      if (drawn?.sig === row.sig) {
        wanted.push(drawn.el);
        continue;
      }
      const el = row.draw();
      if (drawn) drawn.el.replaceWith(el);
      this.#rows.set(member.address, { el, sig: row.sig });
      wanted.push(el);
    }
    for (const [address, drawn] of this.#rows) {
      if (keep.has(address)) continue;
      drawn.el.remove();
      this.#rows.delete(address);
    }
    wanted.forEach((el, i) => {
      if (this.#list.children[i] !== el) this.#list.insertBefore(el, this.#list.children[i] ?? null);
    });
    const total = this.#total.toLocaleString('en');
    this.#count.textContent = `${total} member${this.#total === 1 ? '' : 's'}`;
    // "Show more" with nothing more to show goes: the focus it had goes to the list's heading.
    if (!this.#next && document.activeElement === this.#more) this.#count.focus();
    this.#more.hidden = !this.#next;
    this.#more.textContent = `Show more (${this.#members.length.toLocaleString('en')} of ${total} shown)`;
    if (focused && !focused.isConnected) {
      // The row redrawn: the same button in its new drawing, or (its member gone) the list's heading.
      const { address, action } = focused.dataset;
      const again = [...this.#list.querySelectorAll<HTMLElement>('[data-action]')].find(
        (b) => b.dataset.address === address && b.dataset.action === action,
      );
      (again ?? this.#count).focus();
    }
  }

  #row(member: Member, rights: Rights) {
    const entry = this.#entry;
    const you = member.address === entry.me;
    // An app's bot can neither own nor run a group (the node refuses it): one made an admin before can
    // only be made a member again. It is shown as its app, as a search shows it ("Room Bookings · app").
    const bot = this.#isApp(member);
    const appName = bot && !entry.appNames.has(member.address) ? member.appName : undefined;
    const name = you ? `${this.#chat.me.user.name} (you)` : (appName ?? this.#chat.nameIn(entry, member.address));
    const changeRole = rights.setRoles && !you && member.role !== 'owner' && !(bot && member.role === 'member');
    const handOver = changeRole && !bot;
    const remove = !you && rights.remove(member.role);
    // Still a member, named as they were: marked so that nobody waits on them for an answer.
    const disabled = !you && !bot && this.#chat.isDisabled(member.address);
    const sig = [name, bot, disabled, member.role, changeRole, handOver, remove].join('\u0000');
    const draw = (): HTMLLIElement => {
      const button = (action: string, text: string, label: string, run: (b: HTMLButtonElement) => void) => {
        const b: HTMLButtonElement = h(
          'button',
          {
            type: 'button',
            class: 'compact secondary',
            'data-action': action,
            'data-address': member.address,
            'aria-label': label,
            onclick: () => run(b),
          },
          text,
        );
        return b;
      };
      const toAdmin = member.role === 'member';
      return h(
        'li',
        { class: 'member', 'data-address': member.address },
        h(
          'span',
          { class: 'member-name' },
          h('strong', {}, name),
          bot ? h('span', { class: 'small' }, ' · app') : null,
          disabled ? ' ' : null,
          disabled ? disabledTag() : null,
          h('span', { class: 'muted small' }, ` ${member.address}`),
        ),
        ROLE_NAMES[member.role] ? h('span', { class: 'role' }, ROLE_NAMES[member.role]) : null,
        h(
          'span',
          { class: 'member-actions' },
          changeRole
            ? button(
                'role',
                toAdmin ? 'Make admin' : 'Make member',
                toAdmin ? `Make admin: ${name}` : `Make member: ${name}`,
                (b) => void this.#setRole(member, name, toAdmin ? 'admin' : 'member', b),
              )
            : null,
          handOver
            ? button('owner', 'Make owner', `Make owner: ${name}`, (b) => void this.#handOver(member, name, b))
            : null,
          remove
            ? button('remove', 'Remove', `Remove ${name} from the group`, (b) => void this.#remove(member, name, b))
            : null,
        ),
      ) as HTMLLIElement;
    };
    return { sig, draw };
  }

  /**
   * Whether a member is an app's bot: its node marks it so (a bot of an app that node may host), it posted
   * here, or a search in this tab found it.
   */
  #isApp(member: Member): boolean {
    return member.app === true || this.#entry.appNames.has(member.address) || foundAsApp(member.address);
  }

  async #setRole(member: Member, name: string, role: 'admin' | 'member', button: HTMLButtonElement): Promise<void> {
    const what = role === 'admin' ? 'an admin' : 'a member';
    if (
      await this.#act(button, `Could not make ${name} ${what}`, () =>
        this.#chat.setRole(this.#entry, member.address, role),
      )
    )
      this.#say(`${name} is now ${what}.`);
  }

  /** The owner hands the group to another member and stays on as an admin (node/conversations/set-role.ts). */
  async #handOver(member: Member, name: string, button: HTMLButtonElement): Promise<void> {
    const yes = await confirmDialog(this.#modal.element, {
      title: `Make ${name} the owner?`,
      body:
        `${name} becomes the owner of “${this.#chat.title(this.#entry)}”: they decide who is an admin, and may ` +
        'remove anyone, you too. You stay in the group as an admin.',
      confirm: 'Make owner',
    });
    if (!yes) return;
    if (
      await this.#act(button, `Could not make ${name} the owner`, () =>
        this.#chat.setRole(this.#entry, member.address, 'owner'),
      )
    )
      this.#say(`${name} is now the owner; you are an admin.`);
  }

  async #remove(member: Member, name: string, button: HTMLButtonElement): Promise<void> {
    const yes = await confirmDialog(this.#modal.element, {
      title: `Remove ${name}?`,
      body:
        `${name} will no longer be in “${this.#chat.title(this.#entry)}”: they stop getting its messages and can ` +
        'no longer read any of its history. Added again later, they would see only what is said from then on.',
      confirm: 'Remove',
    });
    if (!yes) return;
    if (await this.#act(button, `Could not remove ${name}`, () => this.#chat.removeMember(this.#entry, member.address)))
      this.#say(`${name} was removed from the group.`);
  }

  /**
   * Who takes the group over when its owner leaves, as the node picks them (leave-group.ts): the admin who
   * has been in it longest, else the member who has. Members are listed without their joining, so the
   * person is named only when there is one to choose from among all the members.
   */
  #succession(): string {
    const others = this.#members.filter((m) => m.address !== this.#entry.me);
    const total = Math.max(this.#total, this.#entry.conv.memberCount ?? 0);
    if (total <= 1) return 'You are its only member: the group stays, with nobody in it.';
    const admins = others.filter((m) => m.role === 'admin');
    const all = this.#members.length >= total;
    const next = !all
      ? undefined
      : admins.length === 1
        ? admins[0]
        : admins.length === 0 && others.length === 1
          ? others[0]
          : undefined;
    if (next) return `You are its owner: ownership passes to ${this.#chat.nameIn(this.#entry, next.address)}.`;
    return (
      'You are its owner: ownership passes to the admin who has been in the group longest or, if it has ' +
      'no admin, to the member who has been in it longest.'
    );
  }

  async #leave(button: HTMLButtonElement): Promise<void> {
    const entry = this.#entry;
    // Opened a moment ago, the panel may still be reading its members: the successor is named from all of them.
    if (rightsIn(entry).role === 'owner') await this.#membersSettled();
    const owner = rightsIn(entry).role === 'owner' ? ` ${this.#succession()}` : '';
    const yes = await confirmDialog(this.#modal.element, {
      title: `Leave “${this.#chat.title(entry)}”?`,
      body:
        'You will stop getting its messages and can no longer read any of its history. Its owner or an ' +
        `admin can add you again; you would then see only what is said from then on.${owner}`,
      confirm: 'Leave group',
    });
    if (!yes) return;
    button.disabled = true;
    this.#say('');
    try {
      // Once the node took it, the page lets the conversation go (and says so): this dialog goes with it.
      await this.#chat.leave(entry);
    } catch (error) {
      button.disabled = false;
      this.#say(`Could not leave the group: ${reasonOf(error)}`, true);
    }
  }
}
