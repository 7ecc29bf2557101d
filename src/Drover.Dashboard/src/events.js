import { headers } from './api.js';

// GET /scheduler/events read with fetch and a stream reader rather than EventSource, which cannot send the
// Authorization header. It reconnects with Last-Event-ID, so nothing is missed across a dropped connection.
export function followEvents(query, onEvent, signal) {
  let last = null;
  (async () => {
    while (!signal.aborted) {
      try {
        const h = headers({ Accept: 'text/event-stream' });
        if (last !== null) h.set('Last-Event-ID', last);
        const response = await fetch(`/scheduler/events${query ? `?${query}` : ''}`, { headers: h, signal });
        if (!response.ok) throw new Error(`events: ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let kind = 'message', data = '', id = null;
            for (const line of block.split('\n')) {
              if (line.startsWith('id: ')) id = line.slice(4);
              else if (line.startsWith('event: ')) kind = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (id !== null) last = id;
            if (data) onEvent(kind, JSON.parse(data));
          }
        }
      } catch (e) {
        if (signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
}

/** Calls fn at most once per interval, the last call winning (for refreshes set off by bursts of events). */
export function throttle(fn, ms) {
  let timer = null, pending = false;
  return () => {
    if (timer) { pending = true; return; }
    fn();
    timer = setTimeout(function again() {
      timer = null;
      if (pending) { pending = false; fn(); timer = setTimeout(again, ms); }
    }, ms);
  };
}
