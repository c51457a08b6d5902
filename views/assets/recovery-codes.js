// "Copy the codes" on the recovery codes page: shown only where this script runs and a clipboard exists.
// Without it the list, the download link and printing remain, so nothing depends on it.
const button = document.getElementById('copy-codes');
const list = document.getElementById('recovery-codes');
const status = document.getElementById('copy-codes-status');
if (button && list && status && navigator.clipboard) {
  button.hidden = false;
  button.addEventListener('click', async () => {
    const codes = [...list.querySelectorAll('code')].map((code) => code.textContent).join('\n');
    try {
      await navigator.clipboard.writeText(`${codes}\n`);
      status.textContent = 'Copied. Paste them somewhere safe, away from your phone and security keys.';
    } catch {
      // Refused (no permission here): the codes selected, for the person to copy themselves.
      const range = document.createRange();
      range.selectNodeContents(list);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      status.textContent = 'Could not copy them: they are selected, copy them with your keyboard or menu.';
    }
  });
}

// The text file's "made" moment, written by the gateway in UTC, in the browser's own time and zone instead,
// named so that the file cannot be misread wherever it is opened later.
const download = document.getElementById('download-codes');
const made = new Date(download?.dataset.made ?? '');
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (download && !Number.isNaN(made.getTime()) && zone) {
  const minutes = -made.getTimezoneOffset();
  const two = (n) => String(n).padStart(2, '0');
  const offset = `UTC${minutes < 0 ? '-' : '+'}${two(Math.floor(Math.abs(minutes) / 60))}:${two(Math.abs(minutes) % 60)}`;
  const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeStyle: 'short' }).format(made);
  const href = download.getAttribute('href') ?? '';
  const comma = href.indexOf(',');
  const text = decodeURIComponent(href.slice(comma + 1)).replace(
    /, made [^\n]*/,
    `, made ${local} (${zone === 'UTC' ? 'UTC' : `${zone}, ${offset}`})`,
  );
  download.setAttribute('href', `${href.slice(0, comma + 1)}${encodeURIComponent(text)}`);
}
