const originOf = (url: string) => {
  const parsed = URL.parse(url);
  return parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:') ? parsed.origin : null;
};

/**
 * The portal page's policy: the gateway's strict one, plus connections to the domain nodes (WebSockets
 * and their HTTP API for uploads, downloads and the directory), blob: images (previews of attachments
 * fetched with a token) and the registered apps' icons. Nothing inline, nothing from anywhere else.
 */
export function portalCsp(nodeUrls: string[], iconUrls: string[] = []): string {
  const origins = new Set<string>();
  for (const url of nodeUrls) {
    const parsed = URL.parse(url);
    if (!parsed) continue;
    origins.add(parsed.origin);
    origins.add(`${parsed.protocol === 'https:' ? 'wss:' : 'ws:'}//${parsed.host}`);
  }
  return [
    "default-src 'self'",
    `img-src 'self' data: blob: ${[...new Set(iconUrls.map(originOf).filter(Boolean))].join(' ')}`.trim(),
    "style-src 'self'",
    "script-src 'self'",
    `connect-src 'self' ${[...origins].join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; ');
}
