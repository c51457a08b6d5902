/** Statuses whose answers have no body (a Response made with one throws). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A server-to-server request goes to the address it was given and nowhere else: a redirect is not
 * followed (one from a registered node would otherwise make the fetcher, inside the campus network, ask
 * an address of the node's choosing and hand its answer back) but refused with this error.
 */
export class RedirectRefusedError extends Error {
  constructor(status: number) {
    super(`it answered with a redirect (HTTP ${status}), which is not followed`);
    this.name = 'RedirectRefusedError';
  }
}

/** Whether a status is a redirect (304 Not Modified, an answer about a cache, is not). */
const isRedirect = (status: number) => status >= 300 && status < 400 && status !== 304;

/**
 * fetch that follows no redirect (RedirectRefusedError) and has one deadline for the answer to begin and
 * then one for each chunk of its body as it is read: an answer read only as fast as its reader takes it
 * (a file piped on to a person on a slow line) is not cut off at a total time, and one whose sender stalls
 * still is. (`AbortSignal.timeout` given to fetch bounds the whole body, however fast its sender.)
 */
export async function fetchWithDeadlines(url: string, init: RequestInit, ms: number): Promise<Response> {
  const controller = new AbortController();
  const expire = () => controller.abort(new DOMException(`nothing came within ${ms} ms`, 'TimeoutError'));
  let timer = setTimeout(expire, ms);
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
  if (isRedirect(response.status)) {
    await response.body?.cancel();
    throw new RedirectRefusedError(response.status);
  }
  if (!response.body || NO_BODY.has(response.status)) return response;
  const reader = response.body.getReader();
  // A chunk is asked for only when the reader wants one, so the deadline runs while the sender owes it.
  const body = new ReadableStream<Uint8Array>({
    async pull(out) {
      timer = setTimeout(expire, ms);
      try {
        const { done, value } = await reader.read();
        if (done) out.close();
        else out.enqueue(value);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
