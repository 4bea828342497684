// Every console form that posts shows that it is working once sent, and cannot be sent twice by a second click (two API
// clients, two invitations). The passkey forms (data-ceremony) manage their own busy state.

const BUSY_TEXT = 'Working…';

function release(button: HTMLButtonElement): void {
  button.disabled = false;
  button.removeAttribute('aria-busy');
  if (button.dataset['idleText'] !== undefined) button.textContent = button.dataset['idleText'];
}

export function wireBusyForms(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>('form[method="post"]:not([data-ceremony])')) {
    form.addEventListener('submit', (event) => {
      // A second submit while the first is on its way is dropped, whatever the button's state.
      if (form.dataset['sent'] === 'true') {
        event.preventDefault();
        return;
      }
      form.dataset['sent'] = 'true';
      const button = (event.submitter ?? form.querySelector('button[type="submit"]')) as HTMLButtonElement | null;
      if (!button) return;
      // After this task, so the browser has already taken the form's data (a disabled submitter would be left out of it).
      setTimeout(() => {
        button.dataset['idleText'] = button.textContent ?? '';
        button.disabled = true;
        button.setAttribute('aria-busy', 'true');
        button.textContent = BUSY_TEXT;
      }, 0);
    });
  }
  // Back to a page from the history cache: its buttons work again.
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    for (const form of document.querySelectorAll<HTMLFormElement>('form[data-sent]')) delete form.dataset['sent'];
    for (const button of document.querySelectorAll<HTMLButtonElement>('button[aria-busy="true"]')) release(button);
  });
}
