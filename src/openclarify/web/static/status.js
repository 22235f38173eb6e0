// Pages that show an endpoint on its way somewhere (Creating, Updating, ...) keep up by themselves: they read the
// page's JSON twin every few seconds and, once it changes, reload, so nobody has to press F5 to see InService or
// Failed. A page may handle the change itself instead (the playground keeps a typed record): it listens for
// "openclarify:changed" on document and calls preventDefault().
"use strict";
(function () {
  const TRANSITIONAL = ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"];
  const EVERY_MS = 2000;
  const twin = document.currentScript && document.currentScript.dataset.twin;
  // Read again at every turn: a page that handled a change in place may show no transitional status any more.
  const moving = () => [...document.querySelectorAll(".status")].some((s) => TRANSITIONAL.includes(s.textContent.trim()));
  if (!twin || !moving()) return;
  let first = null;
  async function check() {
    if (!moving()) return;
    if (!document.hidden) {
      try {
        const response = await fetch(twin, { headers: { Accept: "application/json" }, cache: "no-store" });
        // A deleted endpoint's page becomes a 404: a change too.
        const text = response.status + " " + (await response.text());
        if (first === null) first = text;
        else if (text !== first) {
          const changed = new CustomEvent("openclarify:changed", { cancelable: true, detail: { status: response.status, text: text.slice(4) } });
          if (document.dispatchEvent(changed)) { location.reload(); return; }
          first = text;
        }
      } catch (e) { /* the server is restarting, say: ask again next time */ }
    }
    setTimeout(check, EVERY_MS);
  }
  check();
})();
