import { BOX } from './layout.js';
import { look } from '../ui.js';

export const FILL = { queued: '#cbd5e1', placed: '#fde68a', running: '#93c5fd', good: '#86efac', error: '#fca5a5', skipped: '#e5e7eb' };
const TEXT = '#0f172a';
export const EDGE = {
  child: { color: '#64748b', dash: [7, 5] },
  afterok: { color: '#15803d', dash: [] },
  afternotok: { color: '#b91c1c', dash: [] },
  afterany: { color: '#1d4ed8', dash: [2, 4] },
};
const TOGGLE = 16;

/** The DAG on one canvas: boxes batched by colour, edges by kind, only what is in view; zoom at the cursor, drag to pan. */
export class DagView {
  constructor(canvas, { onOpen, onToggle, onHover }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.s = 1; this.tx = 0; this.ty = 0;
    this.moved = false;
    this.at = new Map(); this.ids = []; this.edges = []; this.jobs = new Map(); this.children = new Map(); this.collapsed = new Set(); this.hidden = new Map();
    this.frame = 0;
    this.onOpen = onOpen; this.onToggle = onToggle; this.onHover = onHover;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  set({ at, ids, edges, jobs, children, collapsed, hidden }) {
    Object.assign(this, { at, ids, edges, jobs, children, collapsed, hidden });
    this.bounds = null;
    this.cache = null;
    this.request();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = this.canvas.getBoundingClientRect();
    // The observer's first call repeats the constructor's; setting the size again would clear and reallocate the canvas.
    if (width === this.width && height === this.height && dpr === this.dpr) return;
    this.width = width; this.height = height;
    this.cache = null;
    this.canvas.width = Math.max(1, Math.round(width * dpr));
    this.canvas.height = Math.max(1, Math.round(height * dpr));
    this.dpr = dpr;
    if (!this.moved) this.fit(); else this.request();
  }

  extent() {
    if (this.bounds) return this.bounds;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const id of this.ids) {
      const p = this.at.get(id);
      if (!p) continue;
      if (p.x < x0) x0 = p.x; if (p.x > x1) x1 = p.x;
      if (p.y < y0) y0 = p.y; if (p.y > y1) y1 = p.y;
    }
    if (x0 === Infinity) { x0 = y0 = 0; x1 = y1 = 1; }
    return (this.bounds = { x0: x0 - BOX.w / 2 - 20, y0: y0 - BOX.h / 2 - 20, x1: x1 + BOX.w / 2 + 20, y1: y1 + BOX.h / 2 + 20 });
  }

  fit() {
    const b = this.extent();
    const s = Math.min(this.width / (b.x1 - b.x0), this.height / (b.y1 - b.y0), 1.5);
    this.s = s;
    this.tx = (this.width - (b.x1 - b.x0) * s) / 2 - b.x0 * s;
    this.ty = Math.max(0, (this.height - (b.y1 - b.y0) * s) / 2) - b.y0 * s;
    this.request();
  }

  request() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  /** World point of a job's box centre, in page (client) pixels: what a pointer would click. */
  screenPoint(id) {
    const p = this.at.get(id);
    if (!p) return null;
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + p.x * this.s + this.tx, y: r.top + p.y * this.s + this.ty };
  }

  togglePoint(id) {
    const p = this.screenPoint(id);
    return p && { x: p.x + (BOX.w / 2 - TOGGLE / 2 - 2) * this.s, y: p.y };
  }

  /** Something drawn changed (a job's state): the cached picture is stale. */
  changed() {
    this.cache = null;
    this.request();
  }

  /**
   * Zoomed out, where every job is in view and drawing them all costs most, the whole graph is drawn once into an
   * offscreen picture at the current scale, and a pan only copies it; a zoom shows the picture scaled at once and
   * draws it anew when the wheel stops. Zoomed in, only what is in view is drawn, which is cheap.
   */
  draw() {
    const t = performance.now();
    const { ctx, s, tx, ty, dpr } = this;
    const b = this.extent();
    const pw = (b.x1 - b.x0) * s * dpr, ph = (b.y1 - b.y0) * s * dpr;
    const cacheable = pw * ph <= 16e6 && pw <= 8192 && ph <= 8192 && this.ids.length > 500;
    if (!cacheable) {
      this.cache = null;
      this.scene(ctx, s, tx, ty, this.width, this.height, dpr);
    } else {
      if (!this.cache || (this.cache.s !== s && !this.zooming)) {
        const canvas = this.cache?.canvas || document.createElement('canvas');
        canvas.width = Math.ceil(pw); canvas.height = Math.ceil(ph);
        this.scene(canvas.getContext('2d', { alpha: false }), s, -b.x0 * s, -b.y0 * s, pw / dpr, ph / dpr, dpr);
        this.cache = { canvas, s, x0: b.x0, y0: b.y0 };
      }
      const c = this.cache, k = s / c.s;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
      ctx.drawImage(c.canvas, (tx + c.x0 * s) * dpr, (ty + c.y0 * s) * dpr, c.canvas.width * k, c.canvas.height * k);
      if (c.s !== s) {
        clearTimeout(this.settle);
        this.settle = setTimeout(() => { this.zooming = false; this.request(); }, 150);
      }
    }
    this.lastDrawMs = performance.now() - t;
  }

  scene(ctx, s, tx, ty, width, height, dpr) {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, height);
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * tx, dpr * ty);
    const vx0 = -tx / s, vy0 = -ty / s, vx1 = (width - tx) / s, vy1 = (height - ty) / s;
    const hw = BOX.w / 2, hh = BOX.h / 2;
    const inView = (p) => p.x + hw >= vx0 && p.x - hw <= vx1 && p.y + hh >= vy0 && p.y - hh <= vy1;

    // Edges, one path per kind.
    // One device pixel wide (at most), a line takes the rasteriser's hairline path: thousands of wider ones cost seconds in software.
    ctx.lineWidth = (s < 0.3 ? 0.9 : 1) / s;
    const crossing = (a, b) => !(Math.max(a.x, b.x) < vx0 - hw || Math.min(a.x, b.x) > vx1 + hw || Math.max(a.y, b.y) < vy0 || Math.min(a.y, b.y) > vy1);
    let inViewEdges = 0;
    for (const e of this.edges) {
      const a = this.at.get(e.from), b = this.at.get(e.to);
      if (a && b && crossing(a, b)) inViewEdges++;
    }
    // The more edges cross the view, the fainter each: a dense fan-out reads as a shade, not a solid block.
    ctx.globalAlpha = Math.max(0.1, Math.min(1, 600 / Math.max(1, inViewEdges)));
    const arrows = s > 0.35;
    for (const [kind, style] of Object.entries(EDGE)) {
      ctx.beginPath();
      ctx.strokeStyle = style.color;
      ctx.setLineDash(style.dash.map((d) => d / Math.min(1, s) * 0.6));
      // Stroked a few dozen at a time: one path of thousands of crossing lines costs the rasteriser far more than its parts.
      let inPath = 0;
      for (const e of this.edges) {
        if (e.kind !== kind) continue;
        const a = this.at.get(e.from), b = this.at.get(e.to);
        if (!a || !b) continue;
        if (!crossing(a, b)) continue;
        ctx.moveTo(a.x, a.y + hh);
        ctx.lineTo(b.x, b.y - hh);
        if (++inPath === 64) { ctx.stroke(); ctx.beginPath(); inPath = 0; }
      }
      ctx.stroke();
      if (arrows) {
        ctx.setLineDash([]);
        ctx.fillStyle = style.color;
        ctx.beginPath();
        for (const e of this.edges) {
          if (e.kind !== kind) continue;
          const a = this.at.get(e.from), b = this.at.get(e.to);
          if (!a || !b || !inView(b)) continue;
          const ang = Math.atan2(b.y - hh - (a.y + hh), b.x - a.x);
          const x = b.x, y = b.y - hh;
          ctx.moveTo(x, y);
          ctx.lineTo(x - 9 * Math.cos(ang - 0.4), y - 9 * Math.sin(ang - 0.4));
          ctx.lineTo(x - 9 * Math.cos(ang + 0.4), y - 9 * Math.sin(ang + 0.4));
          ctx.closePath();
        }
        ctx.fill();
      }
    }
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;

    // Boxes, one fill per colour.
    const byLook = new Map();
    const shown = [];
    for (const id of this.ids) {
      const p = this.at.get(id);
      if (!p || !inView(p)) continue;
      const job = this.jobs.get(id);
      const key = job ? look(job) : 'queued';
      (byLook.get(key) || byLook.set(key, []).get(key)).push(p);
      shown.push(id);
    }
    // fillRect per box, not one path of rectangles: the rasteriser has a fast way for a plain rectangle and none for a path of thousands.
    for (const [key, points] of byLook) {
      ctx.fillStyle = FILL[key] || FILL.queued;
      for (const p of points) ctx.fillRect(p.x - hw, p.y - hh, BOX.w, BOX.h);
    }
    const detailed = s * BOX.h >= 14;
    if (s > 0.25) {
      ctx.lineWidth = 1 / s;
      ctx.strokeStyle = '#475569';
      ctx.beginPath();
      for (const id of shown) { const p = this.at.get(id); ctx.rect(p.x - hw, p.y - hh, BOX.w, BOX.h); }
      ctx.stroke();
    }
    if (detailed) {
      ctx.fillStyle = TEXT;
      ctx.font = '12px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      for (const id of shown) {
        const p = this.at.get(id);
        const job = this.jobs.get(id);
        const count = this.children.get(id)?.length || 0;
        const room = BOX.w - 10 - (count ? TOGGLE + 4 : 0);
        ctx.fillText(fitText(ctx, label(job, id), room), p.x - hw + 6, p.y - 6);
        ctx.fillStyle = '#334155';
        ctx.fillText(fitText(ctx, job ? `${job.state}${job.state === 'stopped' ? ` ${job.reason || job.status}` : ''}` : '', room), p.x - hw + 6, p.y + 8);
        ctx.fillStyle = TEXT;
        if (count) {
          const x = p.x + hw - TOGGLE - 2, y = p.y - TOGGLE / 2;
          ctx.strokeStyle = '#334155';
          ctx.strokeRect(x, y, TOGGLE, TOGGLE);
          ctx.textAlign = 'center';
          const collapsed = this.collapsed.has(id);
          ctx.fillText(collapsed ? '+' : '−', x + TOGGLE / 2, p.y + 1);
          if (collapsed) { ctx.font = '10px system-ui, sans-serif'; ctx.fillText(String(this.hidden.get(id) || count), x + TOGGLE / 2, p.y + hh - 4); ctx.font = '12px system-ui, sans-serif'; }
          ctx.textAlign = 'left';
        }
      }
    }
  }

  hit(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    const x = (clientX - r.left - this.tx) / this.s, y = (clientY - r.top - this.ty) / this.s;
    for (const id of this.ids) {
      const p = this.at.get(id);
      if (p && Math.abs(x - p.x) <= BOX.w / 2 && Math.abs(y - p.y) <= BOX.h / 2) {
        const toggle = (this.children.get(id)?.length || 0) > 0 && x >= p.x + BOX.w / 2 - TOGGLE - 4 && Math.abs(y - p.y) <= TOGGLE / 2 + 2;
        return { id, toggle };
      }
    }
    return null;
  }

  listen() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      const mx = e.clientX - r.left, my = e.clientY - r.top;
      const factor = Math.exp(-e.deltaY * 0.0015);
      const s = Math.min(4, Math.max(0.005, this.s * factor));
      this.tx = mx - ((mx - this.tx) * s) / this.s;
      this.ty = my - ((my - this.ty) * s) / this.s;
      this.s = s;
      this.moved = true;
      this.zooming = true;
      this.request();
    }, { passive: false });
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty, far: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (drag) {
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 4) drag.far = true;
        if (drag.far) {
          this.tx = drag.tx + dx; this.ty = drag.ty + dy; this.moved = true;
          this.request();
        }
        return;
      }
      const hit = this.hit(e.clientX, e.clientY);
      c.style.cursor = hit ? 'pointer' : 'grab';
      this.onHover(hit?.id ?? null, e.clientX, e.clientY);
    });
    c.addEventListener('pointerup', (e) => {
      const was = drag;
      drag = null;
      if (!was || was.far) return;
      const hit = this.hit(e.clientX, e.clientY);
      if (!hit) return;
      if (hit.toggle) this.onToggle(hit.id);
      else this.onOpen(hit.id);
    });
    c.addEventListener('pointerleave', () => this.onHover(null));
  }
}

export function label(job, id) {
  const rid = job?.request_id || '';
  const dot = rid.lastIndexOf('.');
  return `#${id}${dot >= 0 ? ` ${rid.slice(dot + 1)}` : ''}`;
}

function fitText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(`${t}…`).width > width) t = t.slice(0, -1);
  return `${t}…`;
}
