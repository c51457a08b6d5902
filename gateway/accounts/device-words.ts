/**
 * A browser's User-Agent in the words a person recognises their device by: "Firefox on Windows",
 * "Safari on iPhone". Read simply, the most telling marks first (Edge and Opera also say "Chrome",
 * Chrome also says "Safari", Android also says "Linux"), not as a full parser would: the words only
 * help a person tell their own devices apart, and decide nothing.
 */
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bChromium\//, 'Chromium'],
  [/\bChrome\/|\bCriOS\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];

const SYSTEMS: [RegExp, string][] = [
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bWindows\b/, 'Windows'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

const first = (table: [RegExp, string][], text: string) => table.find(([mark]) => mark.test(text))?.[1];

/** What a User-Agent that names no browser and no system (or none at all) is called. */
export const UNKNOWN_DEVICE = 'an unknown browser';

/**
 * The device as a sentence names it past its first word: "a browser on Linux", "Firefox on Windows". At the
 * start of a sentence, or as a label, it is capitalised (atSentenceStart).
 */
export function deviceWords(userAgent: string | null | undefined): string {
  if (!userAgent) return UNKNOWN_DEVICE;
  const browser = first(BROWSERS, userAgent);
  const system = first(SYSTEMS, userAgent);
  if (browser && system) return `${browser} on ${system}`;
  if (browser) return browser;
  if (system) return `a browser on ${system}`;
  return UNKNOWN_DEVICE;
}

/** Words that open a sentence or stand alone as a label: "A browser on Linux". */
export const atSentenceStart = (words: string): string => words.charAt(0).toUpperCase() + words.slice(1);
