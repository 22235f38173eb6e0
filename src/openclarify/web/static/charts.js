// Inline SVG charts for Kernel SHAP explanations. Plain JavaScript, no dependencies.
// Charts.waterfall(el, base, fx, items), Charts.bars(el, items), Charts.text(el, feature, original)
// where items are {name, value, se} (se may be null).
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(2) : v.toPrecision(4));
  const signed = (v) => (v >= 0 ? "+" : "−") + fmt(Math.abs(v));

  function svg(width, height, label) {
    const s = document.createElementNS(NS, "svg");
    s.setAttribute("viewBox", `0 0 ${width} ${height}`);
    s.setAttribute("width", width);
    s.setAttribute("height", height);
    s.setAttribute("role", "img");
    s.setAttribute("aria-label", label);
    return s;
  }
  function add(parent, tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  function scale(lo, hi, x0, x1) {
    if (hi - lo < 1e-12) { hi = lo + 1; }
    const pad = (hi - lo) * 0.05;
    lo -= pad; hi += pad;
    return (v) => x0 + ((v - lo) / (hi - lo)) * (x1 - x0);
  }
  const ROW = 24, LEFT = 190, RIGHT = 170, WIDTH = 820;
  // Labels end at LEFT - 8 and must start inside the SVG. FeatureHeaders run to 64 characters, and names often share
  // a long stem ("cash_rolling_mean_…", "debt_rolling_mean_…"), so a name too wide is cut in the middle: both ends
  // stay, and the full name is the label's tooltip. 12px is .chart svg's font-size in console.css.
  const LABEL_ROOM = LEFT - 8 - 6, FONT_PX = 12;
  let measure = null;
  function textWidth(text) {
    if (measure === null) {
      const ctx = document.createElement("canvas").getContext("2d");
      if (ctx) {
        ctx.font = `${FONT_PX}px ${getComputedStyle(document.body).fontFamily}`;
        measure = (t) => ctx.measureText(t).width;
      } else {
        measure = (t) => t.length * FONT_PX * 0.65; // a generous average glyph width
      }
    }
    return measure(text);
  }
  function shorten(name) {
    if (textWidth(name) <= LABEL_ROOM) return name;
    const chars = Array.from(name); // whole code points: never half of a surrogate pair
    for (let keep = chars.length - 1; keep > 2; keep--) {
      const cut = chars.slice(0, Math.ceil(keep / 2)).join("") + "…" + chars.slice(chars.length - Math.floor(keep / 2)).join("");
      if (textWidth(cut) <= LABEL_ROOM) return cut;
    }
    return chars[0] + "…" + chars[chars.length - 1];
  }
  // A feature's name at the left of its row, shortened to fit.
  function nameLabel(s, row, name) {
    const shown = shorten(name);
    let parent = s;
    if (shown !== name) { parent = add(s, "g", {}); add(parent, "title", {}, name); }
    return add(parent, "text", { x: LEFT - 8, y: row * ROW + 16, "text-anchor": "end", class: "label" }, shown);
  }

  // From the base value, each feature's contribution in turn (largest first), to f(x).
  function waterfall(el, base, fx, items) {
    const rows = items.length + 2;
    const s = svg(WIDTH, rows * ROW + 30, "waterfall from the base value to the prediction");
    let running = base;
    const points = [base, fx];
    for (const it of items) { running += it.value; points.push(running); }
    const x = scale(Math.min(...points), Math.max(...points), LEFT, WIDTH - RIGHT);
    const label = (row, text, cls) => add(s, "text", { x: LEFT - 8, y: row * ROW + 16, "text-anchor": "end", class: cls || "label" }, text);
    label(0, "base value E[f]", "label strong");
    add(s, "rect", { class: "wf-total", x: Math.min(x(base), x(base)) - 1, y: 4, width: 2, height: ROW - 8 });
    add(s, "line", { class: "wf-guide", x1: x(base), x2: x(base), y1: 0, y2: rows * ROW });
    add(s, "text", { x: x(base) + 6, y: 16, class: "value" }, fmt(base));
    running = base;
    items.forEach((it, i) => {
      const row = i + 1, from = running, to = running + it.value;
      running = to;
      nameLabel(s, row, it.name);
      const left = Math.min(x(from), x(to)), w = Math.max(1, Math.abs(x(to) - x(from)));
      const r = add(s, "rect", { class: "wf-step " + (it.value >= 0 ? "pos" : "neg"), x: left, y: row * ROW + 4, width: w, height: ROW - 8 });
      add(r, "title", {}, `${it.name}: ${signed(it.value)}`);
      add(s, "text", { x: left + w + 6, y: row * ROW + 16, class: "value" }, signed(it.value));
    });
    const last = rows - 1;
    label(last, "prediction f(x)", "label strong");
    add(s, "rect", { class: "wf-total", x: x(fx) - 1, y: last * ROW + 4, width: 2, height: ROW - 8 });
    add(s, "line", { class: "wf-guide", x1: x(fx), x2: x(fx), y1: 0, y2: rows * ROW });
    add(s, "text", { x: x(fx) + 6, y: last * ROW + 16, class: "value strong" }, fmt(fx));
    el.appendChild(s);
    return s;
  }

  // One bar per feature from 0, with ±1 standard error as an error bar when the value was sampled.
  function bars(el, items) {
    const s = svg(WIDTH, items.length * ROW + 30, "attributions with error bars");
    const ends = [0];
    for (const it of items) { ends.push(it.value - (it.se || 0), it.value + (it.se || 0)); }
    const x = scale(Math.min(...ends), Math.max(...ends), LEFT, WIDTH - RIGHT);
    add(s, "line", { class: "axis", x1: x(0), x2: x(0), y1: 0, y2: items.length * ROW });
    items.forEach((it, row) => {
      nameLabel(s, row, it.name);
      const left = Math.min(x(0), x(it.value)), w = Math.max(1, Math.abs(x(it.value) - x(0)));
      const r = add(s, "rect", { class: "attr-bar " + (it.value >= 0 ? "pos" : "neg"), x: left, y: row * ROW + 5, width: w, height: ROW - 10 });
      add(r, "title", {}, `${it.name}: ${signed(it.value)}` + (it.se ? ` ± ${fmt(it.se)}` : ""));
      let right = left + w;
      if (it.se) {
        const y = row * ROW + ROW / 2, a = x(it.value - it.se), b = x(it.value + it.se);
        add(s, "line", { class: "err-bar", x1: a, x2: b, y1: y, y2: y });
        add(s, "line", { class: "err-bar", x1: a, x2: a, y1: y - 5, y2: y + 5 });
        add(s, "line", { class: "err-bar", x1: b, x2: b, y1: y - 5, y2: y + 5 });
        right = Math.max(right, b);
      }
      add(s, "text", { x: right + 6, y: row * ROW + 16, class: "value" }, signed(it.value) + (it.se ? ` ± ${fmt(it.se)}` : ""));
    });
    el.appendChild(s);
    return s;
  }

  // A text feature as its original text, each unit tinted by its attribution (green up, red down).
  function text(el, feature, original) {
    const p = document.createElement("p");
    p.className = "text-feature";
    const units = feature.units.filter((u) => u.text !== undefined && u.text !== null)
      .slice().sort((a, b) => (a.start ?? 0) - (b.start ?? 0));
    const biggest = Math.max(1e-12, ...units.map((u) => Math.abs(u.value)));
    const span = (u) => {
      const e = document.createElement("span");
      e.className = "unit " + (u.value >= 0 ? "pos" : "neg");
      const a = Math.min(1, Math.abs(u.value) / biggest) * 0.85 + 0.05;
      e.style.backgroundColor = u.value >= 0 ? `rgba(22,163,74,${a})` : `rgba(220,38,38,${a})`;
      e.title = signed(u.value);
      e.textContent = u.text;
      return e;
    };
    let at = 0;
    const usable = typeof original === "string" && units.every((u) => original.substr(u.start, u.text.length) === u.text);
    for (const u of units) {
      if (usable) {
        if (u.start > at) p.appendChild(document.createTextNode(original.slice(at, u.start)));
        at = Math.max(at, u.start + u.text.length);
      } else if (p.childNodes.length) {
        p.appendChild(document.createTextNode(" "));
      }
      p.appendChild(span(u));
    }
    if (usable && at < original.length) p.appendChild(document.createTextNode(original.slice(at)));
    el.appendChild(p);
    return p;
  }

  window.Charts = { waterfall, bars, text, fmt, signed };
})();
