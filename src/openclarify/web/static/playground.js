// The playground: build a record, call InvokeEndpoint (the same API boto3 calls) with the extended opt-in, and
// draw what came back. Everything here reads the Clarify response; nothing is computed server-side for the page.
"use strict";
(function () {
  const spec = JSON.parse(document.getElementById("spec").textContent);
  const $ = (id) => document.getElementById(id);
  const fields = $("fields"), raw = $("raw"), ctype = $("content-type");
  // Only an endpoint in service answers (an Updating one with its current deployment; the server decides, as for
  // the pages' playground links): the page says why otherwise, and Invoke stays off (see the template).
  let inService = spec.serving;
  $("invoke").disabled = !inService;
  // The endpoint came into service while the page was open (status.js watches it): Invoke comes on in place, so a
  // record typed meanwhile is kept. Any other change reloads the page.
  document.addEventListener("openclarify:changed", (event) => {
    let now;
    try { now = JSON.parse(event.detail.text).playground; } catch (e) { return; }
    if (inService || !now || !now.serving) return;
    event.preventDefault();
    inService = true;
    $("invoke").disabled = false;
    const warning = $("status-warning");
    if (warning) warning.remove();
    const chip = $("status");
    chip.textContent = now.status;
    chip.className = "status status-" + now.status;
  });
  ctype.value = spec.content_type || "text/csv";
  raw.value = spec.example || "";

  // One input per feature, prefilled from the first baseline row.
  const example = splitRecord(spec.example || "");
  spec.features.forEach((f, j) => {
    const label = document.createElement("label");
    label.textContent = f.name;
    const input = document.createElement(f.type === "text" ? "textarea" : "input");
    input.name = "f" + j;
    input.dataset.index = j;
    input.value = example[j] !== undefined ? example[j] : "";
    if (f.type === "text") input.rows = 2;
    label.appendChild(input);
    fields.appendChild(label);
  });
  function mode() { return document.querySelector("input[name=mode]:checked").value; }
  function showMode() { fields.hidden = mode() !== "form"; $("raw-block").hidden = mode() !== "raw"; }
  document.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", showMode));
  showMode();

  function splitRecord(line) {
    if (!line) return [];
    const t = line.trim();
    if (t.startsWith("[") || t.startsWith("{")) {
      try {
        let v = JSON.parse(t);
        if (!Array.isArray(v) && spec.features_attribute) v = v[spec.features_attribute];
        return Array.isArray(v) ? v.map(String) : [];
      } catch (e) { return []; }
    }
    const out = []; let cell = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (ch === '"') quoted = false;
        else cell += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") { out.push(cell); cell = ""; }
      else cell += ch;
    }
    out.push(cell);
    return out;
  }
  function csvCell(v) { return /[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
  function formRecord() {
    const values = [...fields.querySelectorAll("[data-index]")].map((i) => i.value);
    if (ctype.value === "text/csv") return { body: values.map(csvCell).join(","), values: [values] };
    const typed = values.map((v, j) => (spec.features[j].type === "text" || v.trim() === "" || isNaN(Number(v)) ? v : Number(v)));
    const line = spec.features_attribute ? { [spec.features_attribute]: typed } : typed;
    return { body: JSON.stringify(line), values: [values] };
  }
  function rawRecords() {
    const lines = raw.value.split(/\r?\n/).filter((l) => l.trim());
    return { body: lines.join("\n"), values: lines.map(splitRecord) };
  }

  $("record-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const rec = mode() === "form" ? formRecord() : rawRecords();
    $("error").hidden = true;
    $("state").textContent = "invoking…";
    $("invoke").disabled = true;
    const started = performance.now();
    try {
      const response = await fetch(spec.invoke_url, {
        method: "POST",
        headers: { "Content-Type": ctype.value, Accept: ctype.value, "X-Amzn-SageMaker-Custom-Attributes": spec.custom_attributes },
        body: rec.body,
      });
      const text = await response.text();
      if (!response.ok) {
        let message = text;
        try { const e = JSON.parse(text); message = `${e.ErrorCode || response.headers.get("x-amzn-ErrorType")}: ${e.Message || e.message}`; } catch (e) { /* not JSON */ }
        throw new Error(message);
      }
      $("state").textContent = `answered in ${Math.round(performance.now() - started)} ms`;
      render(text, response.headers.get("Content-Type") || "", rec.values);
    } catch (err) {
      $("state").textContent = "";
      $("error").textContent = err.message;
      $("error").hidden = false;
    } finally {
      $("invoke").disabled = !inService;
    }
  });

  wireCopy($("copy"), $("response-json"), $("copied"));

  // The media type alone, lower-cased: "application/json; charset=utf-8" -> "application/json".
  const mediaType = (contentType) => contentType.split(";")[0].trim().toLowerCase();

  function render(text, contentType, values) {
    const results = $("results");
    results.textContent = "";
    $("response-json").textContent = text;
    $("raw-response").hidden = false;
    // Without an ExplainerConfig the answer is the model's own, in whatever type it chose (JSON Lines, say).
    if (!spec.explainer) {
      results.appendChild(note("This endpoint has no ExplainerConfig: the model's answer is shown below as is."));
      return;
    }
    // Clarify answers application/json. Compare the whole media type: application/jsonlines starts the same way.
    if (mediaType(contentType) !== "application/json") {
      results.appendChild(note(`The answer is ${mediaType(contentType) || "untyped"}, not Clarify's JSON: shown below as is.`));
      return;
    }
    const body = JSON.parse(text);
    const ks = (body.explanations || {}).kernel_shap || [];
    const ext = (body.openclarify || {}).kernel_shap || [];
    const preds = String((body.predictions || {}).data || "").split(/\r?\n/).filter((l) => l.trim());
    if (!ks.length) {
      // EnableExplanations chose no record: the predictions are still in the answer, one record each.
      results.appendChild(note("No record was selected for explanation (EnableExplanations): the model's predictions follow."));
      preds.forEach((p, i) => results.appendChild(record(i, null, null, p, [], body)));
      return;
    }
    ks.forEach((rec, i) => results.appendChild(record(i, rec, ext[i], preds[i], values[i] || [], body)));
  }
  function note(text) { const p = document.createElement("p"); p.className = "muted"; p.textContent = text; return p; }

  function record(i, rec, extra, prediction, values, body) {
    const section = document.createElement("section");
    section.className = "record";
    const h = document.createElement("h2");
    h.textContent = `Record ${i + 1}` + (prediction !== undefined ? `: the model answered ${prediction}` : "");
    section.appendChild(h);
    if (rec === null) { section.appendChild(note("Not explained (EnableExplanations was false for this record).")); return section; }
    const outputs = rec[0].attributions[0].attribution.length;
    const labels = body.label_headers || spec.label_headers || [];
    for (let k = 0; k < outputs; k++) {
      const features = rec.map((f, j) => {
        const units = f.attributions.map((a) => ({ value: a.attribution[k], text: a.description ? a.description.partial_text : null, start: a.description ? a.description.start_idx : null }));
        return { name: f.feature_header || (spec.features[j] || {}).name || `feature ${j + 1}`, type: f.feature_type, units, value: units.reduce((s, u) => s + u.value, 0) };
      });
      // Standard errors come one row per attribution (per feature, or per text unit).
      const se = extra && extra.standard_errors ? extra.standard_errors.map((r) => r[k]) : null;
      const unitCount = features.reduce((s, f) => s + f.units.length, 0);
      let at = 0;
      features.forEach((f) => {
        if (se && se.length === features.length) f.se = se[features.indexOf(f)];
        else if (se && se.length === unitCount) f.se = Math.sqrt(f.units.reduce((s, u, n) => s + se[at + n] ** 2, 0));
        else f.se = null;
        at += f.units.length;
        if (f.se === 0) f.se = null;
      });
      const items = features.slice().sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
      const block = document.createElement("div");
      block.className = "output";
      if (outputs > 1) { const h3 = document.createElement("h3"); h3.textContent = `Output ${labels[k] !== undefined ? labels[k] : k + 1}`; block.appendChild(h3); }
      if (extra) {
        const base = extra.expected_value[k], fx = extra.f_x[k];
        const sum = features.reduce((s, f) => s + f.value, 0);
        const p = document.createElement("p");
        p.className = "summary";
        p.textContent = `base value E[f] = ${Charts.fmt(base)}  + Σ attributions ${Charts.signed(sum)}  = f(x) = ${Charts.fmt(fx)}` +
          `  (${extra.exact ? "exact Shapley values" : "sampled; error bars are ±1 standard error"}, ${extra.model_rows} model rows, seed ${extra.seed}${extra.deadline_reached ? ", stopped at the deadline" : ""})`;
        block.appendChild(p);
        const w = document.createElement("div"); w.className = "chart waterfall";
        const t1 = document.createElement("h3"); t1.textContent = "From the base value to the prediction"; block.appendChild(t1);
        Charts.waterfall(w, base, fx, items);
        block.appendChild(w);
      } else {
        block.appendChild(note("The response has no base value (the extended opt-in was not honoured): waterfall omitted."));
      }
      const t2 = document.createElement("h3"); t2.textContent = "Attributions"; block.appendChild(t2);
      const b = document.createElement("div"); b.className = "chart bars";
      Charts.bars(b, items);
      block.appendChild(b);
      features.forEach((f, j) => {
        if (f.type === "text" || f.units.some((u) => u.text !== null)) {
          const t = document.createElement("h3"); t.textContent = `Text: ${f.name}`; block.appendChild(t);
          Charts.text(block, f, values[j]);
        }
      });
      section.appendChild(block);
    }
    return section;
  }
})();
