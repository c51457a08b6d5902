/**
 * Punycode (RFC 3492): any Unicode text as lowercase letters, digits and dashes, the way IDNA spells a
 * domain label after `xn--` (node:url's domainToUnicode reads it back). Written out here rather than
 * taken from node:url's domainToASCII, which also applies IDNA's rules for host names and answers "" for
 * text they refuse: an Arabic word beside a Latin one, a leading combining mark, Arabic-Indic digits alone.
 */

const BASE = 36;
const T_MIN = 1;
const T_MAX = 26;
const SKEW = 38;
const DAMP = 700;
const INITIAL_BIAS = 72;
const INITIAL_N = 0x80;

/** The digit for 0–35: a–z, then 0–9. */
const digitOf = (d: number) => String.fromCharCode(d < 26 ? 0x61 + d : 0x30 + d - 26);

const threshold = (k: number, bias: number) => (k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias);

function adapt(delta: number, points: number, first: boolean): number {
  let d = first ? Math.floor(delta / DAMP) : Math.floor(delta / 2);
  d += Math.floor(d / points);
  let k = 0;
  while (d > ((BASE - T_MIN) * T_MAX) >> 1) {
    d = Math.floor(d / (BASE - T_MIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - T_MIN + 1) * d) / (d + SKEW));
}

/** `text` in Punycode, without the `xn--` IDNA puts before it: "中文系" → fiq228cwsq. */
export function toPunycode(text: string): string {
  const points = Array.from(text, (c) => c.codePointAt(0)!);
  const basic = points.filter((p) => p < INITIAL_N);
  let out = String.fromCharCode(...basic);
  if (basic.length > 0) out += '-';
  let n = INITIAL_N;
  let delta = 0;
  let bias = INITIAL_BIAS;
  let handled = basic.length;
  while (handled < points.length) {
    const next = Math.min(...points.filter((p) => p >= n));
    delta += (next - n) * (handled + 1);
    n = next;
    for (const p of points) {
      if (p < n) delta += 1;
      if (p !== n) continue;
      let q = delta;
      for (let k = BASE; ; k += BASE) {
        const t = threshold(k, bias);
        if (q < t) break;
        out += digitOf(t + ((q - t) % (BASE - t)));
        q = Math.floor((q - t) / (BASE - t));
      }
      out += digitOf(q);
      bias = adapt(delta, handled + 1, handled === basic.length);
      delta = 0;
      handled += 1;
    }
    delta += 1;
    n += 1;
  }
  return out;
}
