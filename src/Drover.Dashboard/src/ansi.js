// ANSI SGR colours (the codes programs print on a terminal) as spans; every other escape is dropped.
const ESCAPE = /\x1b\[([0-9;]*)([A-Za-z])/g;

export function ansiWriter(target) {
  const state = { fg: null, bg: null, bold: false, underline: false };
  let carry = '';
  return (text) => {
    text = carry + text;
    carry = '';
    // An escape cut in two by a chunk's end waits for the rest.
    const cut = text.lastIndexOf('\x1b');
    if (cut >= 0 && !/\x1b\[[0-9;]*[A-Za-z]/.test(text.slice(cut)) && text.length - cut < 16) {
      carry = text.slice(cut);
      text = text.slice(0, cut);
    }
    let at = 0;
    const out = document.createDocumentFragment();
    const emit = (s) => {
      if (!s) return;
      if (!state.fg && !state.bg && !state.bold && !state.underline) { out.append(s); return; }
      const span = document.createElement('span');
      span.className = [state.fg && `fg-${state.fg}`, state.bg && `bg-${state.bg}`, state.bold && 'b', state.underline && 'u'].filter(Boolean).join(' ');
      span.textContent = s;
      out.append(span);
    };
    for (const m of text.matchAll(ESCAPE)) {
      emit(text.slice(at, m.index));
      at = m.index + m[0].length;
      if (m[2] !== 'm') continue;
      for (const code of (m[1] || '0').split(';').map(Number)) {
        if (code === 0) Object.assign(state, { fg: null, bg: null, bold: false, underline: false });
        else if (code === 1) state.bold = true;
        else if (code === 4) state.underline = true;
        else if (code === 22) state.bold = false;
        else if (code === 24) state.underline = false;
        else if (code >= 30 && code <= 37) state.fg = code - 30;
        else if (code >= 90 && code <= 97) state.fg = code - 90 + 8;
        else if (code === 39) state.fg = null;
        else if (code >= 40 && code <= 47) state.bg = code - 40;
        else if (code >= 100 && code <= 107) state.bg = code - 100 + 8;
        else if (code === 49) state.bg = null;
      }
    }
    emit(text.slice(at).replace(/\x1b/g, ''));
    target.append(out);
  };
}
