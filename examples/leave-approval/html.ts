/** Escapes text for HTML content and attribute values. */
export function escape(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Markup whose interpolations are escaped unless they are markup themselves. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    const parts = Array.isArray(value) ? value : [value];
    out += parts.map((p) => (p instanceof Html ? p.value : escape(p))).join('') + strings[i + 1]!;
  });
  return new Html(out);
}

/**
 * A page of the app. Its header links back to the campus chat (the portal, the gateway's front page): the
 * workbench opens the app in a tab of its own, and on a phone there is no other way back. Buttons, fields
 * and lone links are 44 px high at least, a thumb's size.
 */
export function page(title: string, body: Html, chatUrl: string): string {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · Leave approval</title>
<style>*,::before,::after{box-sizing:border-box}body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2230}label{display:block;margin-top:.8rem}
input,textarea{width:100%;min-height:44px;padding:.4rem;font:inherit}button{min-height:44px;margin-top:1rem;padding:.45rem 1rem;font:inherit}
header{display:flex;flex-wrap:wrap;align-items:center;gap:0 .5rem}.back,main p>a:only-child{display:inline-flex;align-items:center;min-height:44px}.back{margin-left:auto}table{width:100%;border-collapse:collapse;margin-top:1rem}
td,th{border-bottom:1px solid #dde;padding:.35rem;text-align:left;overflow-wrap:anywhere}.error{color:#b00020}.notice{background:#eef6ee;padding:.5rem}.muted{color:#667}
@media (max-width:36rem){.requests thead{display:none}.requests,.requests tbody,.requests tr,.requests td{display:block}
.requests tr{border-bottom:1px solid #dde;padding:.4rem 0}.requests td{border:0;padding:.1rem 0}.requests td::before{content:attr(data-label) ": ";font-weight:600}}</style></head>
<body><header><strong>Leave approval</strong> <span class="muted">a campus app on Atrium</span> <a class="back" href="${chatUrl}/">Back to campus chat</a></header><main>${body}</main></body></html>`
    .value;
}
