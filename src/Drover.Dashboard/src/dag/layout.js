import dagre from '@dagrejs/dagre';

export const BOX = { w: 150, h: 34, gapX: 24, gapY: 56 };

// dagre (network-simplex ranks, crossing reduction) lays out small DAGs well but takes tens of seconds at 10,000
// jobs; above this size the fast layered layout below is used instead.
export const DAGRE_LIMIT = 800;

/** Positions (box centres) for the visible jobs: a layered layout, top to bottom along the edges. */
export function layout(ids, edges) {
  return ids.length <= DAGRE_LIMIT ? dagreLayout(ids, edges) : layeredLayout(ids, edges);
}

function dagreLayout(ids, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: BOX.gapX, ranksep: BOX.gapY, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) g.setNode(String(id), { width: BOX.w, height: BOX.h });
  for (const e of edges) g.setEdge(String(e.from), String(e.to));
  dagre.layout(g);
  const at = new Map();
  for (const id of ids) {
    const n = g.node(String(id));
    at.set(id, { x: n.x, y: n.y });
  }
  return { at, engine: 'dagre' };
}

/**
 * Longest-path layers (Kahn's order), then each layer ordered by the mean position of its jobs' predecessors
 * (one barycentre sweep down), and a layer wider than a row wrapped onto several rows so that a fan-out of
 * thousands stays a block one can zoom into rather than a line a million pixels long.
 */
export function layeredLayout(ids, edges) {
  const index = new Map(ids.map((id, i) => [id, i]));
  const n = ids.length;
  const preds = Array.from({ length: n }, () => []);
  const succs = Array.from({ length: n }, () => []);
  const indegree = new Int32Array(n);
  for (const e of edges) {
    const a = index.get(e.from), b = index.get(e.to);
    if (a === undefined || b === undefined || a === b) continue;
    succs[a].push(b);
    preds[b].push(a);
    indegree[b]++;
  }
  const rank = new Int32Array(n);
  const queue = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) queue.push(i);
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q];
    for (const w of succs[v]) {
      if (rank[v] + 1 > rank[w]) rank[w] = rank[v] + 1;
      if (--indegree[w] === 0) queue.push(w);
    }
  }
  const layers = [];
  for (let i = 0; i < n; i++) (layers[rank[i]] ||= []).push(i);
  const rowGap = 12;
  // Rows about as wide as the whole is tall, a little wider for a screen: the picture fits a window when zoomed out.
  const perRow = Math.max(40, Math.ceil(Math.sqrt((n * (BOX.h + rowGap)) / (BOX.w + BOX.gapX)) * 1.6));
  const position = new Float64Array(n);
  const at = new Map();
  let y = 0;
  for (const layer of layers) {
    if (!layer) continue;
    for (const v of layer) {
      const p = preds[v];
      let sum = 0;
      for (const u of p) sum += position[u];
      position[v] = p.length ? sum / p.length : v;
    }
    layer.sort((a, b) => position[a] - position[b] || a - b);
    for (let k = 0; k < layer.length; k++) {
      const r = Math.floor(k / perRow), c = k % perRow;
      const inRow = Math.min(perRow, layer.length - r * perRow);
      position[layer[k]] = k;
      at.set(ids[layer[k]], { x: (c - (inRow - 1) / 2) * (BOX.w + BOX.gapX), y: y + r * (BOX.h + rowGap) });
    }
    // The rows of a wrapped layer sit close together; layers keep the full gap between them.
    y += Math.ceil(layer.length / perRow) * (BOX.h + rowGap) - rowGap + BOX.gapY;
  }
  return { at, engine: 'layered' };
}
