import { api, may } from '../api.js';
import { followEvents, throttle } from '../events.js';
import { h, badge, jobLink, time, act, errorBox, STATES, STATUSES, REASONS } from '../ui.js';

const FILTERS = ['state', 'status', 'reason', 'node', 'parent', 'label', 'submitted_after', 'submitted_before', 'q'];

export async function jobs(view, _params, { signal, navigate }) {
  const query = new URLSearchParams(location.search);
  const select = (name, words) => h('select', { name, id: `f-${name}` }, h('option', { value: '' }, `any ${name}`),
    words.map((w) => h('option', { value: w, selected: query.get(name) === w }, w)));
  const input = (name, attrs) => h('input', { name, id: `f-${name}`, value: query.get(name) ?? '', ...attrs });
  const localTime = (name) => {
    const v = query.get(name);
    const el = h('input', { type: 'datetime-local', id: `f-${name}`, step: 1 });
    if (v) el.value = new Date(new Date(v).getTime() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    el.dataset.name = name;
    return el;
  };
  const form = h('form', {
    class: 'filters',
    onsubmit: (e) => {
      e.preventDefault();
      const next = new URLSearchParams();
      for (const el of form.elements) {
        const name = el.dataset.name || el.name;
        if (!FILTERS.includes(name) || !el.value) continue;
        next.set(name, el.type === 'datetime-local' ? new Date(el.value).toISOString() : el.value.trim());
      }
      navigate(`/jobs${next.size ? `?${next}` : ''}`);
    },
  },
  input('q', { type: 'search', placeholder: 'search commands and request ids', size: 30 }),
  select('state', STATES), select('status', STATUSES), select('reason', REASONS),
  input('node', { placeholder: 'node', size: 8 }), input('parent', { placeholder: 'parent id', size: 7, inputmode: 'numeric' }),
  input('label', { placeholder: 'label key=value', size: 12 }),
  h('label', {}, 'submitted after ', localTime('submitted_after')), h('label', {}, 'before ', localTime('submitted_before')),
  h('button', { type: 'submit', id: 'apply' }, 'Filter'), h('a', { href: '/jobs', class: 'button' }, 'Clear'));

  const chosen = new Set();
  const bulk = h('div', { class: 'bulk' });
  const list = h('div', {});
  const pager = h('div', { class: 'pager' });
  view.append(h('h1', {}, 'Jobs'), form, bulk, list, pager);

  const api_query = new URLSearchParams();
  for (const name of FILTERS) if (query.get(name)) api_query.set(name, query.get(name));
  api_query.set('limit', query.get('limit') || '50');
  if (query.get('after')) api_query.set('after', query.get('after'));

  if (may.submit()) {
    const kill = h('button', { id: 'kill-chosen', class: 'danger', onclick: () => act(kill, () => each('kill')) }, 'Kill chosen');
    const retry = h('button', { id: 'retry-chosen', onclick: () => act(retry, () => each('retry')) }, 'Retry chosen');
    bulk.append(kill, ' ', retry, ' ', h('span', { id: 'chosen-count', class: 'muted' }, ''));
  }
  async function each(action) {
    const failures = [];
    for (const id of [...chosen]) {
      try {
        await api(`/scheduler/jobs/${id}/${action}`, { method: 'POST' });
      } catch (e) {
        failures.push(`#${id}: ${e.message}`);
      }
    }
    await refresh();
    if (failures.length) throw new Error(failures.join('; '));
  }
  const showChosen = () => { const c = bulk.querySelector('#chosen-count'); if (c) c.textContent = chosen.size ? `${chosen.size} chosen` : ''; };

  async function refresh() {
    let page;
    try {
      page = await api(`/scheduler/jobs?${api_query}`, { signal });
    } catch (e) {
      if (!signal.aborted) list.replaceChildren(errorBox(e));
      return;
    }
    if (signal.aborted) return;
    const all = h('input', { type: 'checkbox', title: 'choose all on this page', onchange: () => {
      for (const j of page.jobs) all.checked ? chosen.add(j.job_id) : chosen.delete(j.job_id);
      for (const box of list.querySelectorAll('input[data-job]')) box.checked = all.checked;
      showChosen();
    } });
    const rows = page.jobs.map((j) => h('tr', { dataset: { job: j.job_id } },
      h('td', {}, h('input', { type: 'checkbox', dataset: { job: j.job_id }, checked: chosen.has(j.job_id), onchange: (e) => {
        e.target.checked ? chosen.add(j.job_id) : chosen.delete(j.job_id);
        showChosen();
      } })),
      h('td', {}, jobLink(j.job_id)), h('td', {}, badge(j)), h('td', {}, j.node ?? ''), h('td', { class: 'mono' }, j.request_id),
      h('td', {}, time(j.created_at)), h('td', {}, String(j.attempts)), h('td', {}, j.parent ? jobLink(j.parent) : ''),
      h('td', {}, h('a', { href: `/dags/${j.job_id}` }, 'DAG'))));
    list.replaceChildren(page.jobs.length === 0 ? h('p', { class: 'muted', id: 'no-jobs' }, 'No job matches.') :
      h('table', { class: 'grid', id: 'job-list' },
        h('thead', {}, h('tr', {}, h('th', {}, all), ['job', 'state', 'node', 'request id', 'submitted', 'attempts', 'parent', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows)));
    pager.replaceChildren();
    if (query.get('after')) {
      const first = new URLSearchParams(query);
      first.delete('after');
      pager.append(h('a', { href: `/jobs?${first}`, class: 'button' }, 'First page'), ' ');
    }
    if (page.next) {
      const after = new URL(page.next, location.origin).searchParams.get('after');
      const next = new URLSearchParams(query);
      next.set('after', after);
      pager.append(h('a', { href: `/jobs?${next}`, class: 'button', id: 'next-page' }, 'Next page'));
    }
    showChosen();
  }

  await refresh();
  followEvents('', throttle(() => refresh(), 1500), signal);
}
