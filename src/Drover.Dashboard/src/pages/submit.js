import { api, may } from '../api.js';
import { h, errorBox } from '../ui.js';

const EXAMPLE = JSON.stringify({
  jobs: {
    fetch: { commands: [['sh', '-c', 'echo fetching; sleep 2']] },
    left: { commands: [['sh', '-c', 'echo left; sleep 2']], depends_on: ['fetch'] },
    right: { commands: [['sh', '-c', 'echo right; sleep 1']], depends_on: ['fetch'] },
    join: { commands: [['echo', 'join']], depends_on: ['left', 'right'] },
    alert: { commands: [['echo', 'something failed']], depends_on: [{ job: 'join', condition: 'afternotok' }] },
  },
}, null, 2);

export async function submit(view, _params, { navigate }) {
  view.append(h('h1', {}, 'Submit'));
  if (!may.submit()) {
    view.append(h('p', {}, 'Your key may not submit jobs.'));
    return;
  }
  const field = (labelText, el, help) => h('div', { class: 'field' }, h('label', { for: el.id }, labelText), el, help ? h('small', { class: 'muted' }, help) : null);
  const mode = h('select', { id: 'mode' }, h('option', { value: 'line' }, 'a command line (split like a shell would; no shell runs it)'),
    h('option', { value: 'argv' }, 'an argv, as JSON: ["echo", "hello world"]'), h('option', { value: 'shell' }, 'a shell script (sh -c)'));
  const command = h('textarea', { id: 'command', rows: 3, required: true, placeholder: 'echo "hello from drover"' });
  const env = h('textarea', { id: 'env', rows: 3, placeholder: 'NAME=value, one a line' });
  const files = h('input', { id: 'files', type: 'file', multiple: true });
  const deps = h('input', { id: 'depends_on', placeholder: '12, afternotok:13' });
  const timeout = h('input', { id: 'timeout', type: 'number', min: 0, step: 'any', placeholder: 'seconds' });
  const attempts = h('input', { id: 'max_attempts', type: 'number', min: 1, placeholder: '3' });
  const jobError = h('div', {});
  const jobForm = h('form', { class: 'card', id: 'job-form', onsubmit: async (e) => {
    e.preventDefault();
    jobError.replaceChildren();
    try {
      const form = new FormData();
      const envLines = env.value.split('\n').map((l) => l.trim()).filter(Boolean);
      const commands = command.value.split('\n').map((l) => l.trim()).filter(Boolean);
      if (mode.value === 'argv') {
        // An argv cannot be a form field; it goes as the spec part of the multipart body, next to the files.
        let argv;
        try { argv = JSON.parse(command.value); } catch { throw new Error('The argv is not JSON: write ["program", "argument", ...]'); }
        const spec = { commands: [{ exec: argv }], environment: Object.fromEntries(envLines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) };
        if (timeout.value) spec.timeout_seconds = Number(timeout.value);
        if (attempts.value) spec.max_attempts = Number(attempts.value);
        if (deps.value.trim()) spec.depends_on = deps.value.split(',').map((d) => d.trim()).filter(Boolean).map((d) => {
          const [c, j] = d.includes(':') ? d.split(':') : ['afterok', d];
          return { job: Number(j), condition: c };
        });
        form.append('spec', JSON.stringify(spec));
      } else {
        if (mode.value === 'shell') form.append('shell', command.value);
        else for (const line of commands) form.append('command', line);
        for (const line of envLines) form.append('env', line);
        if (deps.value.trim()) form.append('depends_on', deps.value);
        if (timeout.value) form.append('timeout', timeout.value);
        if (attempts.value) form.append('max_attempts', attempts.value);
      }
      for (const f of files.files) form.append('file', f, f.name);
      const answer = await api('/scheduler/jobs/new', { method: 'POST', body: form });
      navigate(`/jobs/${answer.job_id}`);
    } catch (err) {
      jobError.replaceChildren(errorBox(err));
    }
  } },
  h('h2', {}, 'A job'),
  field('Run', mode), field('Command', command, 'one command a line; they run in order and stop at the first failure'),
  field('Environment', env), field('Files', files, 'they land in the job\'s working directory'),
  field('Depends on', deps, 'job ids, each optionally condition:id with afterok (default), afternotok or afterany'),
  h('div', { class: 'row' }, field('Timeout', timeout), field('Max attempts', attempts)),
  h('button', { type: 'submit', id: 'submit-job' }, 'Submit job'), jobError);

  const dagText = h('textarea', { id: 'dag-json', rows: 14, class: 'mono' });
  dagText.value = EXAMPLE;
  const dagError = h('div', {});
  const dagForm = h('form', { class: 'card', id: 'dag-form', onsubmit: async (e) => {
    e.preventDefault();
    dagError.replaceChildren();
    try {
      let body;
      try { body = JSON.parse(dagText.value); } catch (err) { throw new Error(`The DAG is not JSON: ${err.message}`); }
      // With a request id of its own the DAG's jobs are named <id>.<name>, which the graph shows on each box.
      if (body && typeof body === 'object' && !body.request_id) body.request_id = `dag-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      const answer = await api('/scheduler/dags/new', { method: 'POST', body });
      navigate(`/dags/${answer.root}`);
    } catch (err) {
      dagError.replaceChildren(errorBox(err));
    }
  } },
  h('h2', {}, 'A DAG'),
  h('p', { class: 'muted' }, 'Named jobs whose depends_on name each other, created all or none. The example runs as it is.'),
  dagText, h('button', { type: 'submit', id: 'submit-dag' }, 'Submit DAG'), dagError);
  view.append(h('div', { class: 'cards two' }, jobForm, dagForm));
}
