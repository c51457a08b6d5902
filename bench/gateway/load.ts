/**
 * The load of `bench:gateway`, run in the orchestrator's process: HTTP/1.1 over keep-alive sockets
 * (node:http, one socket per request in flight), a cookie jar per person, and the three flows as a relying
 * party and a browser run them: a password sign-in through the login form, a refresh grant with a
 * resource indicator, and a silent sign-in (authorize with prompt=none on the session cookie, then the
 * code exchanged at the token endpoint). A closed loop keeps `concurrency` flows in flight for a while.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Histogram, type HistogramData } from '../shared/histogram.ts';
import type { ServerReady } from './server-process.ts';

export type Reply = { status: number; headers: IncomingHttpHeaders; body: string };

export function createAgent(sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

export function send(
  agent: Agent,
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One browser's cookies for the one host the bench talks to. */
export class Jar {
  readonly cookies = new Map<string, string>();

  store(reply: Reply): void {
    for (const line of reply.headers['set-cookie'] ?? []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): Record<string, string> {
    return this.cookies.size === 0 ? {} : { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  }
}

export type Person = { username: string; jar: Jar; refreshToken: string };

const base64url = (b: Buffer) => b.toString('base64url');

function pkce(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) };
}

const basic = (s: ServerReady) => `Basic ${Buffer.from(`${s.clientId}:${s.clientSecret}`).toString('base64')}`;

function authorizeUrl(s: ServerReady, params: Record<string, string>): string {
  const url = new URL('/auth', s.url);
  url.search = new URLSearchParams({
    client_id: s.clientId,
    redirect_uri: s.redirectUri,
    response_type: 'code',
    code_challenge_method: 'S256',
    state: base64url(randomBytes(8)),
    nonce: base64url(randomBytes(8)),
    ...params,
  }).toString();
  return url.toString();
}

const hidden = (html: string, name: string) =>
  new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1] ??
  new RegExp(`value="([^"]*)"[^>]*name="${name}"`).exec(html)?.[1];

/**
 * Follows redirects from `url` with the jar until the app's redirect URI, and answers a login form on
 * the way with the person's password; returns the authorization code.
 */
async function browseToCode(agent: Agent, s: ServerReady, jar: Jar, url: string, username: string): Promise<string> {
  let reply = await send(agent, 'GET', url, { ...jar.header(), accept: 'text/html' });
  let at = url;
  for (let hops = 0; hops < 12; hops++) {
    jar.store(reply);
    const location = reply.headers.location;
    if (reply.status >= 300 && reply.status < 400 && location) {
      at = new URL(location, at).toString();
      if (at.startsWith(s.redirectUri)) {
        const code = new URL(at).searchParams.get('code');
        if (!code) throw new Error(`no code in ${at}`);
        return code;
      }
      reply = await send(agent, 'GET', at, { ...jar.header(), accept: 'text/html' });
      continue;
    }
    const action = /<form[^>]*action="([^"]*\/login)"/.exec(reply.body)?.[1];
    if (reply.status !== 200 || !action)
      throw new Error(`sign-in stopped at ${at}: ${reply.status} ${reply.body.slice(0, 300)}`);
    at = new URL(action.replace(/&amp;/g, '&'), at).toString();
    const form = new URLSearchParams({ username, password: s.password, _csrf: hidden(reply.body, '_csrf') ?? '' });
    reply = await send(
      agent,
      'POST',
      at,
      { ...jar.header(), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      form.toString(),
    );
  }
  throw new Error(`too many redirects from ${url}`);
}

async function token(agent: Agent, s: ServerReady, form: Record<string, string>): Promise<Record<string, string>> {
  const reply = await send(
    agent,
    'POST',
    new URL('/token', s.url).toString(),
    { authorization: basic(s), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    new URLSearchParams(form).toString(),
  );
  if (reply.status !== 200) throw new Error(`token endpoint answered ${reply.status}: ${reply.body.slice(0, 300)}`);
  return JSON.parse(reply.body) as Record<string, string>;
}

/** A password sign-in through the login form (a fresh browser), then the code exchanged: the refresh token. */
export async function signIn(agent: Agent, s: ServerReady, username: string): Promise<Person> {
  const jar = new Jar();
  const { verifier, challenge } = pkce();
  const url = authorizeUrl(s, {
    // As the portal signs in: offline access (which asks for prompt=consent) and chat on the node.
    scope: 'openid profile email atrium im offline_access',
    resource: s.nodeUrl,
    prompt: 'consent',
    login_hint: username,
    code_challenge: challenge,
  });
  const code = await browseToCode(agent, s, jar, url, username);
  const tokens = await token(agent, s, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: s.redirectUri,
    code_verifier: verifier,
  });
  if (!tokens.refresh_token) throw new Error('the sign-in gave no refresh token');
  return { username, jar, refreshToken: tokens.refresh_token };
}

/** A refresh grant for the node's audience; the rotated refresh token replaces the person's. */
export async function refresh(agent: Agent, s: ServerReady, person: Person): Promise<void> {
  const tokens = await token(agent, s, {
    grant_type: 'refresh_token',
    refresh_token: person.refreshToken,
    resource: s.nodeUrl,
  });
  if (!tokens.access_token?.startsWith('ey')) throw new Error('the refresh grant gave no JWT access token');
  person.refreshToken = tokens.refresh_token ?? person.refreshToken;
}

/** An app opened by a signed-in person: authorize with prompt=none on the session cookie, then the code exchange. */
export async function silentSignIn(agent: Agent, s: ServerReady, person: Person): Promise<void> {
  const { verifier, challenge } = pkce();
  const url = authorizeUrl(s, { scope: 'openid profile email atrium', prompt: 'none', code_challenge: challenge });
  const code = await browseToCode(agent, s, person.jar, url, person.username);
  const tokens = await token(agent, s, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: s.redirectUri,
    code_verifier: verifier,
  });
  if (!tokens.id_token) throw new Error('the silent sign-in gave no ID token');
}

/** `ops` and `latency` in the measured window; `allOps` also counts the first second (for statements per operation). */
export type LoopResult = {
  ops: number;
  allOps: number;
  errors: number;
  firstError?: string;
  seconds: number;
  latency: HistogramData;
};

/**
 * `concurrency` workers, each running `op` again and again on its own items for `seconds`; only the
 * operations that end after the first second count (connections and caches warm up in it).
 */
export async function closedLoop<T>(
  items: T[],
  concurrency: number,
  seconds: number,
  op: (item: T) => Promise<void>,
): Promise<LoopResult> {
  const histogram = new Histogram();
  const started = performance.now();
  const warm = started + Math.min(1000, seconds * 200);
  const end = started + seconds * 1000;
  let ops = 0;
  let allOps = 0;
  let errors = 0;
  let firstError: string | undefined;
  if (items.length < concurrency)
    throw new Error(`${concurrency} workers need at least as many people (${items.length})`);
  // Each worker has people of its own: a refresh token is never presented twice at once (that is a reuse).
  const worker = async (w: number) => {
    const own = items.filter((_, i) => i % concurrency === w);
    for (let round = 0; performance.now() < end; round++) {
      const item = own[round % own.length]!;
      const t0 = performance.now();
      try {
        await op(item);
        const t1 = performance.now();
        allOps += 1;
        if (t1 >= warm && t1 <= end) {
          ops += 1;
          histogram.record(t1 - t0);
        }
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return { ops, allOps, errors, firstError, seconds: (end - warm) / 1000, latency: histogram.toJSON() };
}
