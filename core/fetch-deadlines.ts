/** Statuses whose answers have no body (a Response made with one throws). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * fetch with one deadline for the answer to begin and then one for each chunk of its body as it is read:
 * an answer read only as fast as its reader takes it (a file piped on to a person on a slow line) is not
 * cut off at a total time, and one whose sender stalls still is. (`AbortSignal.timeout` given to fetch
 * bounds the whole body, however fast its sender.)
 */
export async function fetchWithDeadlines(url: string, init: RequestInit, ms: number): Promise<Response> {
  const controller = new AbortController();
  const expire = () => controller.abort(new DOMException(`nothing came within ${ms} ms`, 'TimeoutError'));
  let timer = setTimeout(expire, ms);
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
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
