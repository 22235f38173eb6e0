// The pre-check page: POST the form as JSON to the server's pre-check API and show its findings.
"use strict";
(function () {
  const spec = JSON.parse(document.getElementById("spec").textContent);
  const $ = (id) => document.getElementById(id);
  const orNull = (v) => (v && v.trim() ? v.trim() : null);
  $("precheck-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("error").hidden = true;
    $("report").hidden = true;
    $("state").textContent = "checking…";
    $("check").disabled = true;  // a check takes seconds; a second click would start a second one
    const payload = {
      container_url: $("container_url").value.trim(),
      records: $("records").value,
      content_type: orNull($("content_type").value),
      accept: orNull($("accept").value),
      features_attribute: orNull($("features_attribute").value),
    };
    try {
      const response = await fetch(spec.api, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
      if (response.status === 404) throw new Error("This server has no pre-check API: update openclarify.");
      const text = await response.text();
      let report;
      try { report = JSON.parse(text); } catch (e) { throw new Error(`The pre-check API answered ${response.status}: ${text.slice(0, 300)}`); }
      if (!("findings" in report)) throw new Error(report.message || report.Message || report.error || `HTTP ${response.status}`);
      show(report);
      $("state").textContent = "";
    } catch (err) {
      $("state").textContent = "";
      $("error").textContent = err.message;
      $("error").hidden = false;
    } finally {
      $("check").disabled = false;
    }
  });
  function show(report) {
    $("verdict").textContent = report.ok ? "✓ The container looks ready for Clarify explanations" : "✗ The container is not ready yet";
    $("verdict").className = report.ok ? "ok" : "bad";
    const list = $("findings");
    list.textContent = "";
    for (const f of report.findings || []) {
      const li = document.createElement("li");
      li.className = "finding level-" + f.level;
      const tag = document.createElement("span"); tag.className = "level"; tag.textContent = f.level;
      li.appendChild(tag);
      li.appendChild(document.createTextNode(" " + f.message));
      list.appendChild(li);
    }
    const est = report.estimates || {};
    const table = $("estimates");
    table.textContent = "";
    for (const [k, v] of Object.entries(est)) {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.textContent = k.replace(/_/g, " ");
      const td = document.createElement("td"); td.textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
      tr.append(th, td); table.appendChild(tr);
    }
    $("estimates-block").hidden = !Object.keys(est).length;
    $("config-block").hidden = !report.explainer_config;
    $("explainer-config").textContent = report.explainer_config ? JSON.stringify(report.explainer_config, null, 2) : "";
    $("report").hidden = false;
  }
  wireCopy($("copy-config"), $("explainer-config"), $("config-copied"));
})();
