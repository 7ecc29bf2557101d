import { api, may } from '../api.js';
import { followEvents, throttle } from '../events.js';
import { h, jobLink, time, act, table } from '../ui.js';

export async function queue(view, _params, { signal }) {
  const list = h('div', {});
  view.append(h('h1', {}, 'Queue'), h('p', { class: 'muted' }, 'Jobs not placed yet, and why each one waits.'), list);

  async function refresh() {
    const { jobs } = await api('/scheduler/queue', { signal });
    if (signal.aborted) return;
    const columns = [
      { title: 'job', cell: (q) => jobLink(q.job_id) },
      { title: 'priority', cell: (q) => String(q.priority) },
      { title: 'attempts', cell: (q) => String(q.attempts) },
      { title: 'submitted', cell: (q) => time(q.created_at) },
      { title: 'why it waits', cell: (q) => [q.reason || (q.waiting_on.length ? 'its dependencies have not stopped' : 'next placement pass'),
        q.not_before ? ` (retry not before ${time(q.not_before)})` : ''] },
      { title: 'waiting on', cell: (q) => q.waiting_on.map((id) => [jobLink(id), ' ']) },
    ];
    if (may.admin()) {
      columns.push({ title: '', cell: (q) => { const b = h('button', { class: 'danger', onclick: () => act(b, async () => { await api(`/scheduler/queue/${q.job_id}`, { method: 'DELETE' }); await refresh(); }) }, 'Remove'); return b; } });
    }
    list.replaceChildren(jobs.length === 0 ? h('p', { class: 'muted' }, 'The queue is empty.') : table(columns, jobs, (q) => ({ dataset: { job: q.job_id } })));
  }

  await refresh();
  followEvents('', throttle(() => refresh().catch(() => {}), 1000), signal);
}
