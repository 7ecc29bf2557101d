import { api } from '../api.js';
import { followEvents, throttle } from '../events.js';
import { layout } from '../dag/layout.js';
import { DagView, EDGE, FILL, label } from '../dag/view.js';
import { h, look, time } from '../ui.js';

const LOOKS = [['queued', 'queued'], ['placed', 'placed'], ['running', 'running'], ['good', 'stopped good'], ['error', 'stopped error'], ['skipped', 'skipped']];
const EDGE_WORDS = {
  child: 'child: submitted by the job above while it ran',
  afterok: 'afterok: runs once the job above ended good',
  afternotok: 'afternotok: runs once the job above ended in error',
  afterany: 'afterany: runs once the job above stopped, however',
};

export async function dag(view, [rootText], { signal, navigate }) {
  const t0 = performance.now();
  const root = Number(rootText);
  const title = h('h1', {}, `DAG of job #${root} `, h('span', { id: 'dag-state' }));
  const counts = h('p', { id: 'dag-counts', class: 'counts-line' });
  const timing = h('span', { id: 'dag-timing', class: 'muted' });
  const fit = h('button', { onclick: () => { dagView.moved = false; dagView.fit(); } }, 'Fit');
  const expand = h('button', { onclick: () => { collapsed.clear(); relayout(); } }, 'Expand all');
  const legend = h('div', { class: 'legend' },
    LOOKS.map(([key, word]) => { const sw = h('span', { class: 'swatch' }); sw.style.background = FILL[key]; return h('span', { class: 'item' }, sw, word); }),
    Object.entries(EDGE).map(([kind, style]) => {
      const line = h('span', { class: `line ${kind}` });
      line.style.borderTopColor = style.color;
      return h('span', { class: 'item', title: EDGE_WORDS[kind] }, line, EDGE_WORDS[kind]);
    }));
  const canvas = h('canvas', { id: 'dag', 'aria-label': `the DAG of job ${root}` });
  const tip = h('div', { class: 'tip', hidden: true });
  const hint = h('span', { class: 'muted' }, 'Scroll to zoom, drag to pan, click a job to open it, click −/+ to collapse or expand its children.');
  view.classList.add('wide');
  view.append(title, h('div', { class: 'toolbar' }, fit, ' ', expand, ' ', counts, ' ', timing), legend, hint, h('div', { class: 'stage' }, canvas, tip));

  const jobs = new Map();
  let edges = [];
  const collapsed = new Set();
  let children = new Map();
  const dagView = new DagView(canvas, {
    onOpen: (id) => navigate(`/jobs/${id}`),
    onToggle: (id) => { collapsed.has(id) ? collapsed.delete(id) : collapsed.add(id); relayout(); },
    onHover: (id, x, y) => {
      const job = id !== null && jobs.get(id);
      tip.hidden = !job;
      if (!job) return;
      const r = canvas.getBoundingClientRect();
      tip.replaceChildren(h('strong', {}, label(job, id)), h('br'), `${job.state} · ${job.status}${job.reason ? ` · ${job.reason}` : ''}`,
        job.node ? h('span', {}, h('br'), `on ${job.node}`) : null, h('br'), `submitted ${time(job.created_at)}`);
      tip.style.left = `${x - r.left + 14}px`;
      tip.style.top = `${y - r.top + 14}px`;
    },
  });
  const stats = { jobs: 0, fetchMs: 0, layoutMs: 0, drawMs: 0, totalMs: 0, sinceNavigationMs: 0, engine: '', drawn: false };
  window.droverDag = {
    stats,
    state: (id) => jobs.get(id) && { ...jobs.get(id) },
    ids: () => [...jobs.keys()],
    visible: () => [...dagView.ids],
    point: (id) => dagView.screenPoint(id),
    togglePoint: (id) => dagView.togglePoint(id),
    view: dagView,
  };

  function showCounts() {
    const tally = new Map();
    for (const job of jobs.values()) tally.set(look(job), (tally.get(look(job)) || 0) + 1);
    counts.replaceChildren(`${jobs.size.toLocaleString()} jobs`, ...LOOKS.filter(([k]) => tally.get(k)).flatMap(([k, word]) =>
      [' · ', h('span', { class: `badge s-${k}`, dataset: { look: k } }, `${tally.get(k).toLocaleString()} ${word}`)]));
    const all = [...jobs.values()];
    const stopped = all.every((j) => j.state === 'stopped');
    const failed = all.some((j) => j.state === 'stopped' && j.status === 'error' && j.reason !== 'skipped');
    const state = title.querySelector('#dag-state');
    state.replaceChildren(h('span', { class: `badge s-${failed ? 'error' : stopped ? 'good' : 'running'}` },
      failed ? 'error' : stopped ? 'good' : 'running'));
    state.dataset.state = stopped ? 'stopped' : 'running';
    state.dataset.status = failed ? 'error' : stopped ? 'good' : 'unknown';
  }

  function relayout() {
    // Jobs below a collapsed job (by its children, recursively) are left out; the collapsed job shows how many.
    const hidden = new Set();
    const hiddenCount = new Map();
    for (const id of collapsed) {
      const stack = [...(children.get(id) || [])];
      let n = 0;
      while (stack.length) {
        const c = stack.pop();
        if (hidden.has(c)) continue;
        hidden.add(c); n++;
        stack.push(...(children.get(c) || []));
      }
      hiddenCount.set(id, n);
    }
    const ids = [...jobs.keys()].filter((id) => !hidden.has(id));
    const shownEdges = edges.filter((e) => !hidden.has(e.from) && !hidden.has(e.to));
    const t = performance.now();
    const { at, engine } = layout(ids, shownEdges);
    stats.layoutMs = performance.now() - t;
    stats.engine = engine;
    dagView.set({ at, ids, edges: shownEdges, jobs, children, collapsed, hidden: hiddenCount });
    if (!dagView.moved) dagView.fit();
  }

  async function load() {
    const t = performance.now();
    const walk = await api(`/scheduler/jobs/${root}/dag`, { signal });
    stats.fetchMs = performance.now() - t;
    if (signal.aborted) return;
    jobs.clear();
    for (const j of walk.jobs) jobs.set(j.job_id, j);
    edges = walk.edges.map((e) => ({ from: e.from, to: e.to, kind: e.kind }));
    children = new Map();
    for (const e of edges) if (e.kind === 'child') (children.get(e.from) || children.set(e.from, []).get(e.from)).push(e.to);
    stats.jobs = jobs.size;
    relayout();
    showCounts();
  }

  await load();
  // The first frame: drawn now rather than at the next animation frame, so the figure is the real cost.
  const td = performance.now();
  dagView.draw();
  stats.drawMs = performance.now() - td;
  const tp = performance.now();
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  stats.paintMs = performance.now() - tp;
  stats.totalMs = performance.now() - t0;
  stats.sinceNavigationMs = performance.now();
  stats.drawn = true;
  canvas.dataset.drawn = 'true';
  timing.textContent = `${stats.jobs.toLocaleString()} jobs: fetched in ${Math.round(stats.fetchMs)} ms, laid out (${stats.engine}) in ${Math.round(stats.layoutMs)} ms, drawn in ${Math.round(stats.drawMs)} ms`;

  // Live: a change of a job we know recolours it; a job we do not know yet (a child just submitted) reloads the walk.
  const reload = throttle(() => load().catch(() => {}), 500);
  const recount = throttle(showCounts, 250);
  // A burst of changes (thousands at the start of a big DAG's stream) redraws a few times a second, not once per change.
  const repaint = throttle(() => dagView.changed(), 250);
  followEvents(`root=${root}`, (kind, event) => {
    if (kind !== 'job') return;
    const job = jobs.get(event.job_id);
    if (!job) { reload(); return; }
    const before = look(job);
    Object.assign(job, { state: event.state, status: event.status, reason: event.reason, node: event.node ?? job.node });
    // The stream starts with the DAG's history, mostly what the walk already showed: only a new colour costs a redraw.
    if (look(job) === before) return;
    repaint();
    recount();
  }, signal);
}
