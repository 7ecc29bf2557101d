import './style.css';
import { auth, loadSession, may, setKey } from './api.js';
import { h, errorBox } from './ui.js';
import { overview } from './pages/overview.js';
import { jobs } from './pages/jobs.js';
import { job } from './pages/job.js';
import { dag } from './pages/dag.js';
import { nodes } from './pages/nodes.js';
import { queue } from './pages/queue.js';
import { submit } from './pages/submit.js';
import { signin } from './pages/signin.js';

const routes = [
  [/^\/$/, overview],
  [/^\/jobs$/, jobs],
  [/^\/jobs\/(\d+)$/, job],
  [/^\/dags\/(\d+)$/, dag],
  [/^\/nodes$/, nodes],
  [/^\/queue$/, queue],
  [/^\/submit$/, submit],
  [/^\/signin$/, signin],
];

const main = document.getElementById('main');
let current = null;

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function showWho() {
  const who = document.getElementById('who');
  who.replaceChildren();
  document.getElementById('nav-submit').hidden = !may.submit();
  const s = auth.session;
  if (!s) return;
  if (s.open) {
    who.append(h('span', { class: 'muted', title: 'No API keys are configured: every caller may do everything' }, 'open gateway'));
    return;
  }
  who.append(h('span', { id: 'who-name' }, `${s.name} (${s.role})`), ' ',
    h('button', { class: 'link', onclick: () => { setKey(null); auth.session = null; navigate('/signin'); } }, 'Sign out'));
}

async function render() {
  current?.abort();
  current = new AbortController();
  const signal = current.signal;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (!auth.session && path !== '/signin') {
    try {
      await loadSession();
    } catch (e) {
      main.replaceChildren(errorBox(e));
      return;
    }
    if (!auth.session) {
      navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
      return;
    }
  }
  showWho();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('here', a.getAttribute('href') === path || (path.startsWith('/jobs') && a.getAttribute('href') === '/jobs'));
  const [, page] = routes.find(([re]) => re.test(path)) || [];
  const params = page ? path.match(routes.find(([re]) => re.test(path))[0]).slice(1) : [];
  const view = h('div', { class: 'page' });
  main.replaceChildren(view);
  if (!page) {
    view.append(h('h1', {}, 'Not found'), h('p', {}, `The dashboard has no page ${path}.`));
    return;
  }
  try {
    await page(view, params, { signal, navigate, onSignedIn: showWho });
  } catch (e) {
    if (!signal.aborted) view.append(errorBox(e));
  }
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('/scheduler') || href.startsWith('/swagger')) return;
  e.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', render);
window.addEventListener('drover:signin', () => {
  if (auth.session?.open) return;
  setKey(null);
  auth.session = null;
  navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
});
render();
