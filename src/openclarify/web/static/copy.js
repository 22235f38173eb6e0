// Copy buttons. navigator.clipboard exists only in secure contexts (https, or http on loopback): a console opened
// over plain http on another address (serve --insecure) has none, and writeText may be refused anyway. Then select
// the text and use the older execCommand("copy"); if even that fails, the text is left selected for Ctrl+C.
"use strict";
window.wireCopy = function (button, source, state) {
  button.addEventListener("click", async () => {
    let copied = false;
    if (navigator.clipboard) {
      try { await navigator.clipboard.writeText(source.textContent); copied = true; } catch (e) { /* fall back */ }
    }
    if (!copied) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    }
    state.textContent = copied ? "copied" : "selected: press Ctrl+C to copy";
    setTimeout(() => { state.textContent = ""; }, copied ? 1500 : 5000);
  });
};
