import type { ServerResponse } from 'node:http';
import { readCapped } from '../core/read-capped.ts';
import {
  ANSWER_HEADERS,
  HEADERS,
  PROXY_ANSWER_HEADER,
  requestDigest,
  signProxyAnswer,
  type PrivateKeyJwk,
  type SignedRequest,
} from '../protocol/signature.ts';

/** The proxy as the signer of its own answers: its name and key as registered at the gateway. */
export type ProxySigner = { name: string; key: PrivateKeyJwk };

/** The most of a partner's refusal read to tell what it is: an error body is a few hundred bytes. */
const REFUSAL_MAX_BYTES = 64 * 1024;

/** What the request is known by (requestDigest), from what arrived, as its origin computes it from what it sent. */
function requestOf(signed: SignedRequest): string {
  const header = (name: string) => {
    const value = signed.headers[name];
    return (Array.isArray(value) ? value[0] : value) ?? '';
  };
  return requestDigest({
    method: signed.method,
    path: signed.path,
    origin: header(HEADERS.origin),
    destination: header(HEADERS.destination),
    timestamp: header(HEADERS.timestamp),
    body: signed.body,
  });
}

/**
 * Answers `403 policy_denied` to a request whose body the proxy has read, signed with its registered key
 * over the request, the status and the body (PROXY_ANSWER_HEADER), so that the origin's node can tell it
 * from a refusal made up on the way, which it retries instead of setting its messages aside.
 */
export function refuseByPolicy(res: ServerResponse, signer: ProxySigner, signed: SignedRequest, message: string) {
  const body = JSON.stringify({ error: { code: 'policy_denied', message } });
  const request = requestOf(signed);
  res.writeHead(403, {
    'content-type': 'application/json',
    [PROXY_ANSWER_HEADER]: signProxyAnswer(signer.key, { proxy: signer.name, request, status: 403, body }),
  });
  res.end(body);
}

/**
 * An answer from a partner organization's domain, which the registry has at that organization's proxy:
 * when it is a `403 policy_denied` its destination did not sign, that proxy refused by its organization's
 * policy, and the answer is that refusal, which this proxy then vouches for (refuseByPolicy) since the
 * origin's node knows no key of the partner's proxy. The answer is taken as that proxy's because it came
 * from the address registered for the partner's domain, the address its keys were pinned through.
 * Resolves with the answer to pass on instead, its body already read when it had to be looked at.
 */
export async function partnerRefusal(answer: Response): Promise<Response | 'policy_denied'> {
  if (answer.status !== 403 || answer.headers.has(ANSWER_HEADERS.signature)) return answer;
  const body = await readCapped(answer.body, REFUSAL_MAX_BYTES, () => new Error('not an error body'));
  let code: unknown;
  try {
    code = (JSON.parse(body.toString('utf8')) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  if (code === 'policy_denied') return 'policy_denied';
  return new Response(new Uint8Array(body), { status: answer.status, headers: answer.headers });
}
