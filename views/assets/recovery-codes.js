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
