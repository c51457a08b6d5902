import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorAudience } from '../../protocol/error-codes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where codes that reach clients, peers and the gateway's pages are thrown (cli/ prints its own, to an operator). */
const SCANNED = ['core', 'protocol', 'node', 'proxy', 'gateway'];

/** Codes in code that no one receives: each says why. */
const NOT_SENT: Record<string, string> = {
  unreachable: "the outbox's own note that a peer did not answer; it retries, and tells no one",
  custom: 'a zod issue code (ctx.addIssue), not an error code',
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const CODE = "'([a-z][a-z0-9_]*)'";

/** Error classes that take their code as their first argument and pass it to AppError (FrameError, SignatureError). */
function passThroughClasses(files: Map<string, string>): string[] {
  const declared = new RegExp(
    String.raw`class (\w+) extends \w*Error \{[^]*?constructor\(\s*(\w+): string[^)]*\)\s*\{\s*super\(\2,`,
    'g',
  );
  return [...files.values()].flatMap((text) => [...text.matchAll(declared)].map((m) => m[1]!));
}

/** Every literal error code the scanned sources throw or put in an error body or frame, with where. */
function codesInSources(): Map<string, string[]> {
  const files = new Map(SCANNED.flatMap(sources).map((path) => [path, readFileSync(join(ROOT, path), 'utf8')]));
  const patterns = [
    // A subclass of AppError: super('code', status, …).
    new RegExp(String.raw`super\(\s*${CODE}\s*,\s*\d{3}\b`, 'g'),
    new RegExp(String.raw`new AppError\(\s*${CODE}`, 'g'),
    ...passThroughClasses(files).map((name) => new RegExp(String.raw`new ${name}\(\s*${CODE}`, 'g')),
    // An error body or frame written by hand: { code: 'code', … }.
    new RegExp(String.raw`\bcode: ${CODE}`, 'g'),
    // A gateway page that shows its code ("Error code: …"): render('error', { …, error: 'code' }).
    new RegExp(String.raw`render\(\s*'error',\s*\{[^}]*?\berror: ${CODE}`, 'g'),
  ];
  const found = new Map<string, string[]>();
  for (const [path, text] of files) {
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        const line = text.slice(0, match.index).split('\n').length;
        found.set(match[1]!, [...(found.get(match[1]!) ?? []), `${relative(ROOT, join(ROOT, path))}:${line}`]);
      }
    }
  }
  return found;
}

/** The code spans of a document (`policy_denied`, `403 policy_denied`), fenced blocks left out. */
const spans = (document: string) =>
  [...document.replace(/```[^]*?```/g, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);

/** Whether a document names the code in one of its code spans. */
const names = (document: string, code: string) =>
  spans(document).some((span) => new RegExp(String.raw`\b${code}\b`).test(span));

const codesFor = (audience: ErrorAudience) =>
  Object.entries(ERROR_CODES)
    .filter(([, entry]) => (entry.to as readonly ErrorAudience[]).includes(audience))
    .map(([code]) => code);

const documents = {
  client: readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8'),
  peer: readFileSync(join(ROOT, 'docs/federation.md'), 'utf8'),
};

describe('error codes', () => {
  it('are all in the list of protocol/error-codes.ts, whichever unit throws them', () => {
    const found = codesInSources();
    // The scan itself works: each way of throwing a code is found somewhere.
    for (const known of [
      'not_member',
      'federation_unavailable',
      'unknown_type',
      'unsigned',
      'binary_not_supported',
      'destination_unreachable',
    ]) {
      expect(found.has(known), known).toBe(true);
    }
    const unlisted = [...found]
      .filter(([code]) => !(code in ERROR_CODES) && !(code in NOT_SENT))
      .map(([code, where]) => `${code} (${where.join(', ')})`);
    expect(unlisted).toEqual([]);
  });

  it('that a client can receive are each in docs/protocol.md', () => {
    expect(codesFor('client').filter((code) => !names(documents.client, code))).toEqual([]);
  });

  it('that a federation peer can receive are each in docs/federation.md', () => {
    expect(codesFor('peer').filter((code) => !names(documents.peer, code))).toEqual([]);
  });

  it('each say what they mean and who receives them', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(entry.meaning.length, code).toBeGreaterThan(10);
      expect(entry.to.length, code).toBeGreaterThan(0);
    }
  });
});
