// Times on the console and account pages in the reader's own time zone and language, as the portal
// shows them. The server writes each as <time datetime="…" data-local> around its UTC text, which
// stays as it is where this script does not run. Words are English like the pages; the clock and the
// date are written as the browser's locale writes them ("today 14:03", "7 Dec 2026, 14:03").
const DAY = 86_400_000;
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dated = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });
const DAY_WORDS = new Map([
  [0, 'today'],
  [1, 'yesterday'],
  [-1, 'tomorrow'],
]);

const midnight = (at) => new Date(at.getFullYear(), at.getMonth(), at.getDate()).getTime();

function shown(at, now) {
  // Rounded: a day with a daylight-saving change is an hour longer or shorter.
  const word = DAY_WORDS.get(Math.round((midnight(now) - midnight(at)) / DAY));
  return word ? `${word} ${clock.format(at)}` : dated.format(at);
}

const now = new Date();
for (const element of document.querySelectorAll('time[data-local]')) {
  const at = new Date(element.dateTime);
  if (Number.isNaN(at.getTime())) continue;
  // The second and the zone on hover, and the UTC time the gateway's logs and the CLI use.
  const full = `${exact.format(at)} (${element.textContent.trim()})`;
  const short = shown(at, now);
  element.title = full;
  element.textContent = short;
  // A hover's tooltip reaches neither a keyboard nor a screen reader: focused, the time shows itself in
  // full, which is what is read out then too.
  element.tabIndex = 0;
  element.addEventListener('focus', () => {
    element.textContent = full;
  });
  element.addEventListener('blur', () => {
    element.textContent = short;
  });
}
