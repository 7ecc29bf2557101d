import { auth, loadSession, setKey } from '../api.js';
import { h } from '../ui.js';

export async function signin(view, _params, { navigate, onSignedIn }) {
  const next = new URLSearchParams(location.search).get('next') || '/';
  const safeNext = next.startsWith('/') && !next.startsWith('//') ? next : '/';
  if (!auth.session) await loadSession();
  if (auth.session) {
    navigate(safeNext, { replace: true });
    return;
  }
  const key = h('input', { type: 'password', id: 'key', name: 'key', autocomplete: 'current-password', required: true, autofocus: true });
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h('form', {
    class: 'card narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      setKey(key.value.trim());
      await loadSession();
      if (!auth.session) {
        setKey(null);
        message.textContent = 'This gateway does not know that key.';
        message.hidden = false;
        return;
      }
      onSignedIn();
      navigate(safeNext, { replace: true });
    },
  },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'This gateway needs an API key. It is kept in this tab only (sessionStorage) and sent as a bearer header.'),
  h('label', { for: 'key' }, 'API key'), key,
  h('button', { type: 'submit', id: 'signin' }, 'Sign in'),
  message);
  view.append(form);
}
