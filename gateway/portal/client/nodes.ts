import { withoutControlCharacters } from '../../../core/control-characters.ts';
import { AtriumError, type UploadedAttachment } from '../../../sdk/client.ts';
import type { DirectoryPerson, DisabledPerson, FormerMember } from '../../../protocol/directory-person.ts';
import { HttpError, tokenFor, type Me, type PortalDomain } from './api.ts';

/** What the page calls on the domain nodes over HTTP (CORS-enabled for the portal's origin). */

/**
 * A person as a node's directory answers (protocol/directory-person.ts; `address` is their home address,
 * used to start chats with them), with where this page found them. An app's bot (`app`, found by a search
 * only) is at each node by its own address (`slug@domain`), so each node's is found apart, reachable from
 * that node alone.
 */
export type Person = DirectoryPerson & {
  /** The first of this person's own domains whose directory found them (home first). */
  via: string;
  /** All of this person's own domains whose directory found them: their policy lets them talk. */
  reachableFrom: string[];
};

/**
 * Whether a request to a node failed because nothing answered for it (the node down, starting, or a
 * proxy before it saying so) rather than because it refused: said in plain words, and tried again later.
 */
export function outOfReach(error: unknown): boolean {
  if (error instanceof AtriumError || error instanceof HttpError)
    return error.code === 'network' || error.code === 'unavailable' || /^http_50[234]$/.test(error.code);
  // fetch's own failure ("Failed to fetch"): no answer at all.
  return error instanceof TypeError;
}

/**
 * Why a request to a node failed, as the person can act on it: a college out of reach named as people
 * know it, else what the node said. `title`: the node asked; `fromTitle`: the college it asked in turn for
 * a file shared from there, which answered for it that it cannot be reached.
 */
export function failedWhy(error: unknown, title: string, fromTitle: string = title): string {
  const unreached = outOfReach(error)
    ? title
    : error instanceof HttpError && error.code === 'federation_unavailable'
      ? fromTitle
      : undefined;
  if (unreached) return `${unreached} cannot be reached right now; try again when it is back`;
  return error instanceof Error ? error.message : String(error);
}

async function nodeFetch(node: PortalDomain, path: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(`${node.url}${path}`, {
    ...init,
    mode: 'cors',
    credentials: 'omit',
    headers: {
      authorization: `Bearer ${await tokenFor(node.name)}`,
      ...(init.headers as Record<string, string> | undefined),
    },
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    throw new HttpError(
      response.status,
      body.error?.code ?? `http_${response.status}`,
      body.error?.message ?? `HTTP ${response.status}`,
    );
  }
  return response;
}

/**
 * People search on every node of the person's, at once: each node's directory shows the people its
 * federation policy lets it reach, so a person found through a node can be talked to from it.
 */
export async function findPeople(me: Me, query: string): Promise<Person[]> {
  return (await askDirectories(me, new URLSearchParams({ q: query, limit: '20' }))).people;
}

/** The most usernames the directory takes in one lookup (the gateway's MAX_DIRECTORY_USERNAMES). */
export const USERNAMES_PER_LOOKUP = 100;

/** The people of these usernames (at most USERNAMES_PER_LOOKUP), for their display names: one request per node. */
export async function lookUpPeople(me: Me, usernames: string[]): Promise<Person[]> {
  return (await lookUpNames(me, usernames)).people;
}

/** What a lookup by usernames answers: the people, and apart from them deleted and disabled accounts. */
export type Names = { people: Person[]; former: FormerMember[]; disabled: DisabledPerson[] };

/**
 * lookUpPeople, with those of the usernames whose accounts were deleted (`former`: named "Former member")
 * or disabled (`disabled`: named as they were, marked so).
 */
export function lookUpNames(me: Me, usernames: string[]): Promise<Names> {
  return askDirectories(me, new URLSearchParams({ usernames: usernames.join(',') }));
}

/**
 * Asks every node of the person's. A node that fails adds no one; if every node refused because the
 * person searched too often, that refusal is thrown (HttpError `rate_limited`, the node's words), so the
 * page does not say "nobody found" for a search no one made.
 */
async function askDirectories(me: Me, params: URLSearchParams): Promise<Names> {
  const byUsername = new Map<string, Person>();
  const former: FormerMember[] = [];
  const disabled: DisabledPerson[] = [];
  const refusals: HttpError[] = [];
  const answers = await Promise.all(
    me.domains.map(async (node) => {
      try {
        const response = await nodeFetch(node, `/api/v1/directory?${params}`);
        const body = (await response.json()) as {
          people: Omit<Person, 'via' | 'reachableFrom'>[];
          former?: FormerMember[];
          disabled?: DisabledPerson[];
        };
        former.push(...(body.former ?? []));
        disabled.push(...(body.disabled ?? []));
        return { node, people: body.people };
      } catch (error) {
        if (error instanceof HttpError && error.code === 'rate_limited') refusals.push(error);
        return { node, people: [] };
      }
    }),
  );
  if (refusals.length > 0 && refusals.length === me.domains.length) throw refusals[0];
  for (const { node, people } of answers) {
    for (const person of people) {
      // An app's bot is another one at each node; a person is one, whichever nodes found them.
      const key = person.app ? person.address : person.username;
      const known = byUsername.get(key);
      // A name kept before control characters were refused shows without them (they would turn it around).
      const name = withoutControlCharacters(person.name) || person.username;
      if (known) known.reachableFrom.push(node.name);
      else byUsername.set(key, { ...person, name, via: node.name, reachableFrom: [node.name] });
    }
  }
  return { people: [...byUsername.values()], former, disabled };
}

/** Uploads a file to a node, reporting progress (XHR: fetch cannot report upload progress). */
export async function uploadFile(
  node: PortalDomain,
  file: File,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<UploadedAttachment> {
  const token = await tokenFor(node.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${node.url}/api/v1/attachments?${new URLSearchParams({ name: file.name })}`);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      const body = xhr.response as (UploadedAttachment & { error?: { code: string; message: string } }) | null;
      if (xhr.status === 201 && body) return resolve(body);
      reject(
        new HttpError(
          xhr.status,
          body?.error?.code ?? `http_${xhr.status}`,
          body?.error?.message ?? `Upload failed (HTTP ${xhr.status})`,
        ),
      );
    };
    xhr.onerror = () => reject(new HttpError(0, 'network', 'The upload could not reach the server'));
    xhr.onabort = () => reject(new HttpError(0, 'aborted', 'Upload cancelled'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}

const blobs = new Map<string, Promise<string>>();

/**
 * An attachment as a blob: URL (downloads need the bearer token, so a plain link cannot fetch them).
 * Kept until the file is removed (`forgetAttachment`): the same image is shown in the list and the
 * conversation. `from` is the sharer's domain when it is not `node`'s: that domain's node keeps the file,
 * and `node` fetches it there.
 */
export function attachmentUrl(node: PortalDomain, attachmentId: string, from?: string): Promise<string> {
  const key = `${node.name}/${attachmentId}`;
  let url = blobs.get(key);
  if (!url) {
    const query = from && from !== node.name ? `?from=${encodeURIComponent(from)}` : '';
    url = nodeFetch(node, `/api/v1/attachments/${encodeURIComponent(attachmentId)}${query}`)
      .then((response) => response.blob())
      .then((blob) => URL.createObjectURL(blob));
    url.catch(() => blobs.delete(key));
    blobs.set(key, url);
  }
  return url;
}

/**
 * Drops the page's copy of a file removed on `domain`'s node (its sender deleted it), so that it cannot
 * be saved from here any more: asked for again, the node answers that it was removed.
 */
export function forgetAttachment(domain: string, attachmentId: string): void {
  const key = `${domain}/${attachmentId}`;
  const url = blobs.get(key);
  if (!url) return;
  blobs.delete(key);
  void url.then(URL.revokeObjectURL, () => undefined);
}

/** Saves an attachment under its own name. */
export async function downloadAttachment(
  node: PortalDomain,
  attachment: { id: string; name: string },
  from?: string,
): Promise<void> {
  const url = await attachmentUrl(node, attachment.id, from);
  const link = document.createElement('a');
  link.href = url;
  link.download = attachment.name;
  link.rel = 'noopener';
  document.body.appendChild(link);
  link.click();
  link.remove();
}
