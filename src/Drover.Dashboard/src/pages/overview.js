import { api } from '../api.js';
import { followEvents, throttle } from '../events.js';
import { h, badge, jobLink, table, time, section, STATES, STATUSES } from '../ui.js';

export async function overview(view, _params, { signal }) {
  view.append(h('h1', {}, 'Overview'));
  const body = h('div', { class: 'cards' });
  view.append(body);

  async function refresh() {
    const [summary, nodeList] = await Promise.all([
      api('/scheduler/jobs/summary?minutes=15', { signal }),
      api('/scheduler/nodes', { signal }),
    ]);
    if (signal.aborted) return;
    const up = nodeList.nodes.filter((n) => n.health === 'up').length;
    const count = (label, value, cls, href) => h('a', { class: `count ${cls || ''}`, href, dataset: { count: label } },
      h('span', { class: 'n' }, String(value)), h('span', { class: 'what' }, label));
    const perMinute = summary.submitted_per_minute;
    const finished = summary.finished_per_minute;
    const top = Math.max(1, ...perMinute, ...finished);
    const bars = h('div', { class: 'bars', title: 'jobs submitted (left) and stopped (right) in each of the last 15 minutes' },
      perMinute.map((n, i) => {
        const a = h('span', { class: 'bar submitted' });
        const b = h('span', { class: 'bar finished' });
        a.style.height = `${(100 * n) / top}%`;
        b.style.height = `${(100 * finished[i]) / top}%`;
        return h('span', { class: 'minute', title: `${n} submitted, ${finished[i]} stopped` }, a, b);
      }));
    const last = perMinute.slice(-5).reduce((a, b) => a + b, 0) / 5;
    body.replaceChildren(
      section('Jobs', h('div', { class: 'counts' },
        count('total', summary.total, '', '/jobs'),
        STATES.map((s) => count(s, summary.by_state[s] ?? 0, `s-${s}`, `/jobs?state=${s}`)),
        count('good', summary.by_status.good ?? 0, 's-good', '/jobs?status=good'),
        count('error', summary.by_status.error ?? 0, 's-error', '/jobs?status=error'))),
      section('Rate', h('p', {}, `${last.toFixed(1)} jobs submitted per minute (last 5 minutes)`), bars,
        h('p', { class: 'legend' }, h('span', { class: 'swatch submitted' }), ' submitted ', h('span', { class: 'swatch finished' }), ' stopped')),
      section('Queue and nodes', h('div', { class: 'counts' },
        count('queued', summary.queue_depth, 's-queued', '/queue'),
        count('nodes up', up, 's-good', '/nodes'),
        count('nodes down', nodeList.nodes.length - up, nodeList.nodes.length - up ? 's-error' : '', '/nodes'))),
      section('Recent failures', summary.recent_failures.length === 0 ? h('p', { class: 'muted' }, 'None.') :
        table([
          { title: 'job', cell: (j) => jobLink(j.job_id) },
          { title: 'ended', cell: (j) => badge(j) },
          { title: 'exit code', cell: (j) => j.exit_code ?? '' },
          { title: 'node', cell: (j) => j.node ?? '' },
          { title: 'finished', cell: (j) => time(j.finished_at) },
          { title: 'message', cell: (j) => j.message ?? '' },
        ], summary.recent_failures)),
      h('p', { class: 'muted' }, `Updated ${time(summary.at)}. Statuses: ${STATUSES.join(', ')}.`));
  }

  await refresh();
  const again = throttle(() => refresh().catch(() => {}), 1000);
  followEvents('', again, signal);
  const timer = setInterval(again, 5000);
  signal.addEventListener('abort', () => clearInterval(timer));
}
