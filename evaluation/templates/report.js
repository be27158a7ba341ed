(function () {
  "use strict";
  function cellValue(td) {
    var v = td.getAttribute("data-v");
    if (v !== null && v !== "" && v !== "None" && !isNaN(parseFloat(v))) { return parseFloat(v); }
    return td.textContent.trim();
  }
  function sortTable(table, col, th) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var asc = !th.classList.contains("sorted-asc");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.classList.remove("sorted-asc", "sorted-desc");
    });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col] ? cellValue(a.cells[col]) : "", y = b.cells[col] ? cellValue(b.cells[col]) : "";
      var r;
      if (typeof x === "number" && typeof y === "number") { r = x - y; }
      else if (typeof x === "number") { r = -1; }
      else if (typeof y === "number") { r = 1; }
      else { r = String(x).localeCompare(String(y), "zh-CN"); }
      return asc ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    if (!table.tHead) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.title = "点击排序";
      th.addEventListener("click", function () { sortTable(table, i, th); });
    });
    table.setAttribute("data-sortable", "ready");
  });
  // Served by the intake service (xinfang serve, /review/reports/), a letter's id opens it on the review
  // page; opened as a file, the report stays self-contained and the ids are plain text.
  var served = /^https?:$/.test(location.protocol) && location.pathname.indexOf("/review/reports/") === 0;
  var links = document.querySelectorAll("a.review-link[data-letter]");
  if (served) {
    Array.prototype.forEach.call(links, function (a) {
      a.href = "/review/letters/" + encodeURIComponent(a.getAttribute("data-letter"));
      a.title = "在审阅页面打开 (open on the review page)";
    });
  }
  document.body.setAttribute("data-review-links", served ? String(links.length) : "0");
  document.body.setAttribute("data-report-ready", String(tables.length));
})();
