// Keyboard for the review page (no framework, no build step): queues j/k/Enter; a letter n/p to move,
// j/k to choose a head, 1-9 to set (or toggle) its class, a to accept the model's answers, s to save
// (with Shift: and go to the next letter).
"use strict";
(function () {
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" && (t.type === "password" || t.type === "text") || t.tagName === "TEXTAREA");
  }
  function go(id) { var a = document.getElementById(id); if (a) { window.location.href = a.href; } }
  function move(items, cls, step) {
    var at = items.findIndex(function (x) { return x.classList.contains(cls); });
    var to = Math.max(0, Math.min(items.length - 1, at + step));
    if (at >= 0) { items[at].classList.remove(cls); }
    if (items[to]) { items[to].classList.add(cls); items[to].scrollIntoView({block: "nearest"}); }
    return items[to];
  }
  function submit(form, action, next) {
    form.elements.go.value = next ? "next" : "";
    var b = form.querySelector("button[value=" + action + "]");
    if (form.requestSubmit) { form.requestSubmit(b); } else { b.click(); }
  }
  function onQueue(e) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr"));
    if (!rows.length) { return false; }
    if (e.key === "j" || e.key === "ArrowDown") { move(rows, "selected", 1); return true; }
    if (e.key === "k" || e.key === "ArrowUp") { move(rows, "selected", -1); return true; }
    if (e.key === "Enter") {
      var row = document.querySelector("#queue tr.selected");
      if (row) { window.location.href = row.dataset.href; return true; }
    }
    return false;
  }
  function onLetter(e) {
    var form = document.getElementById("correct");
    var heads = Array.prototype.slice.call(document.querySelectorAll("fieldset.head"));
    if (e.key === "n" || e.key === "ArrowRight") { go("next"); return true; }
    if (e.key === "p" || e.key === "ArrowLeft") { go("prev"); return true; }
    if (e.key === "j" || e.key === "ArrowDown") { move(heads, "focused", 1); return true; }
    if (e.key === "k" || e.key === "ArrowUp") { move(heads, "focused", -1); return true; }
    if (e.key === "a" || e.key === "A") { submit(form, "accept", e.shiftKey); return true; }
    if (e.key === "s" || e.key === "S") { submit(form, "save", e.shiftKey); return true; }
    if (/^[0-9]$/.test(e.key)) {  // a yes/no head: 0 no, 1 yes; others: the Nth class
      var head = document.querySelector("fieldset.head.focused");
      var binary = head && head.dataset.kind === "binary";
      var input = !head ? null : binary ? head.querySelector("input[value='" + e.key + "']")
        : e.key === "0" ? null : head.querySelectorAll("input")[Number(e.key) - 1];
      if (!input) { return false; }
      input.checked = input.type === "checkbox" ? !input.checked : true;
      head.classList.add("changed");
      return true;
    }
    return false;
  }
  document.addEventListener("keydown", function (e) {
    var help = document.getElementById("help");
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) { return; }
    if (e.key === "?") { if (help.open) { help.close(); } else { help.showModal(); } e.preventDefault(); return; }
    if (help && help.open) { return; }
    var page = document.body.dataset.page;
    var done = page === "queue" ? onQueue(e) : page === "letter" ? onLetter(e) : false;
    if (done) { e.preventDefault(); }
  });
  document.addEventListener("click", function (e) {
    var head = e.target.closest && e.target.closest("fieldset.head");
    if (head) {
      document.querySelectorAll("fieldset.head.focused").forEach(function (h) { h.classList.remove("focused"); });
      head.classList.add("focused");
    }
  });
}());
