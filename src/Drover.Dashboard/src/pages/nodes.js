import { api, may } from '../api.js';
import { followEvents, throttle } from '../events.js';
import { h, time, act, errorBox } from '../ui.js';

export async function nodes(view, _params, { signal }) {
  const list = h('div', {});
  view.append(h('h1', {}, 'Nodes'), list);

  async function refresh() {
    const { nodes: all } = await api('/scheduler/nodes', { signal });
    if (signal.aborted) return;
    const rows = all.map((n) => {
      const load = h('span', { class: 'load' }, h('span', { class: 'fill' }));
      load.firstChild.style.width = `${n.slots ? Math.min(100, (100 * n.running) / n.slots) : 0}%`;
      const actions = h('td', {});
      if (may.admin()) {
        const verb = n.drained ? 'undrain' : 'drain';
        const b = h('button', { dataset: { node: n.name, action: verb }, onclick: () => act(b, async () => {
          await api(`/scheduler/nodes/${encodeURIComponent(n.name)}/${verb}`, { method: 'POST' });
          await refresh();
        }) }, n.drained ? 'Undrain' : 'Drain');
        actions.append(b);
      }
      return h('tr', { dataset: { node: n.name } },
        h('td', { class: 'mono' }, n.name),
        h('td', {}, h('span', { class: `badge s-${n.health === 'up' ? 'good' : 'error'}` }, n.health), n.drained ? h('span', { class: 'badge s-placed' }, 'drained') : null),
        h('td', {}, Object.entries(n.labels || {}).map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`))),
        h('td', {}, n.slots ? `${n.running} / ${n.slots}` : `${n.running}`, ' ', load),
        h('td', { class: 'mono' }, n.uri), h('td', {}, n.source), h('td', {}, time(n.last_seen)),
        h('td', { class: 'error-text' }, n.last_error || (n.backoff_until ? `backing off until ${time(n.backoff_until)}` : '')),
        actions);
    });
    list.replaceChildren(all.length === 0 ? h('p', { class: 'muted' }, 'No nodes are known.') :
      h('table', { class: 'grid', id: 'node-list' },
        h('thead', {}, h('tr', {}, ['name', 'health', 'labels', 'running / slots', 'uri', 'source', 'last seen', 'last error', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows)));
  }

  await refresh().catch((e) => list.replaceChildren(errorBox(e)));
  const again = throttle(() => refresh().catch(() => {}), 1000);
  followEvents('', again, signal);
  const timer = setInterval(again, 5000);
  signal.addEventListener('abort', () => clearInterval(timer));
}
