/* The breaks table of the report: filters, free-text search, sorting by any column, a detail per break.
   Amounts are summed as BigInt minor units and written with the reporting currency's exponent: exact. */
(function () {
  "use strict";
  var table = document.getElementById("breaks-table");
  var toolbar = document.querySelector("#breaks .toolbar");
  var search = document.getElementById("brk-search");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var shownOut = document.getElementById("brk-shown");
  var riskOut = document.getElementById("brk-risk");
  var bodies = table ? Array.prototype.slice.call(table.querySelectorAll("tbody.brk")) : [];
  var noneRow = table ? table.querySelector("tbody.none") : null;
  var exponent = table ? parseInt(table.getAttribute("data-exponent") || "0", 10) : 0;
  var currency = table ? table.getAttribute("data-currency") || "" : "";

  function groupDigits(digits) {
    var out = "";
    while (digits.length > 3) {
      out = "," + digits.slice(-3) + out;
      digits = digits.slice(0, -3);
    }
    return digits + out;
  }

  function formatMinor(minor) {
    var negative = minor < BigInt(0);
    var digits = (negative ? -minor : minor).toString();
    while (digits.length < exponent + 1) digits = "0" + digits;
    var whole = exponent ? digits.slice(0, digits.length - exponent) : digits;
    var frac = exponent ? "." + digits.slice(digits.length - exponent) : "";
    return (negative ? "-" : "") + groupDigits(whole) + frac + " " + currency;
  }

  function apply() {
    if (!table) return;
    var terms = (search && search.value ? search.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = selects
      .filter(function (s) { s.classList.toggle("on", s.value !== ""); return s.value !== ""; })
      .map(function (s) { return [s.getAttribute("data-filter"), s.value]; });
    var shown = 0;
    var risk = BigInt(0);
    bodies.forEach(function (b) {
      var ok = wanted.every(function (w) { return b.getAttribute("data-" + w[0]) === w[1]; });
      if (ok && terms.length) {
        var text = b.getAttribute("data-search") || "";
        ok = terms.every(function (t) { return text.indexOf(t) !== -1; });
      }
      b.hidden = !ok;
      if (ok) {
        shown += 1;
        risk += BigInt(b.getAttribute("data-open-risk") || "0");
      }
    });
    if (shownOut) shownOut.textContent = String(shown);
    if (riskOut) riskOut.textContent = formatMinor(risk);
    if (noneRow) noneRow.hidden = shown !== 0;
  }

  function sortValue(body, attr) {
    if (attr) return body.getAttribute(attr) || "";
    var cell = body.querySelector("td.reason");
    return cell ? cell.textContent : "";
  }

  function sortBy(th, direction) {
    var attr = th.getAttribute("data-attr");
    var numeric = th.hasAttribute("data-numeric");
    var sign = direction === "ascending" ? 1 : -1;
    var values = new Map();
    bodies.forEach(function (b) { values.set(b, sortValue(b, attr)); });
    bodies.sort(function (a, b) {
      var x = values.get(a);
      var y = values.get(b);
      var c;
      if (numeric) {
        var bx = BigInt(x || "0");
        var by = BigInt(y || "0");
        c = bx < by ? -1 : bx > by ? 1 : 0;
      } else {
        x = x.toLowerCase();
        y = y.toLowerCase();
        c = x < y ? -1 : x > y ? 1 : 0;
      }
      if (c === 0) return parseInt(a.getAttribute("data-i"), 10) - parseInt(b.getAttribute("data-i"), 10);
      return c * sign;
    });
    bodies.forEach(function (b) { table.insertBefore(b, noneRow); });
    Array.prototype.forEach.call(table.querySelectorAll("thead th[data-key]"), function (h) {
      h.setAttribute("aria-sort", h === th ? direction : "none");
    });
  }

  function toggle(row, open) {
    var detail = row.nextElementSibling;
    if (!detail || !detail.classList.contains("detail")) return;
    var show = open === undefined ? detail.hidden : open;
    detail.hidden = !show;
    row.setAttribute("aria-expanded", show ? "true" : "false");
  }

  function openFromHash() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (id.indexOf("brk-") !== 0) return;
    var body = document.getElementById(id);
    if (!body || !body.classList.contains("brk")) return;
    if (body.hidden) {
      if (search) search.value = "";
      selects.forEach(function (s) { s.value = ""; });
      apply();
    }
    var row = body.querySelector("tr.row");
    toggle(row, true);
    row.scrollIntoView({ block: "start" });
    var head = table.querySelector("thead");
    window.scrollBy(0, -((toolbar ? toolbar.offsetHeight : 0) + (head ? head.offsetHeight : 0) + 8));
  }

  function pick(el) {
    if (!table) return;
    if (search) search.value = "";
    selects.forEach(function (s) {
      var v = el.getAttribute("data-filter-" + s.getAttribute("data-filter"));
      s.value = v === null ? "" : v;
    });
    apply();
    document.getElementById("breaks").scrollIntoView({ block: "start" });
  }

  if (table) {
    if (toolbar) table.style.setProperty("--head-top", toolbar.offsetHeight + "px");
    table.addEventListener("click", function (e) {
      var button = e.target.closest("thead th[data-key] button");
      if (button) {
        var th = button.parentElement;
        var now = th.getAttribute("aria-sort");
        var first = th.hasAttribute("data-numeric") ? "descending" : "ascending";
        var next = now === "none" ? first : now === "ascending" ? "descending" : "ascending";
        sortBy(th, next);
        return;
      }
      var row = e.target.closest("tr.row");
      if (row && !window.getSelection().toString()) toggle(row);
    });
    table.addEventListener("keydown", function (e) {
      var row = e.target.closest ? e.target.closest("tr.row") : null;
      if (row && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        toggle(row);
      }
    });
    if (search) search.addEventListener("input", apply);
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    var reset = document.getElementById("brk-reset");
    if (reset) {
      reset.addEventListener("click", function () {
        if (search) search.value = "";
        selects.forEach(function (s) { s.value = ""; });
        apply();
      });
    }
    window.addEventListener("hashchange", openFromHash);
    apply();
    openFromHash();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".pick"), function (el) {
    el.addEventListener("click", function () { pick(el); });
  });
  var more = document.getElementById("cc-more");
  if (more) {
    more.addEventListener("click", function () {
      var rows = document.querySelector("table.cc tbody.more");
      if (rows) rows.hidden = !rows.hidden;
      more.textContent = rows && !rows.hidden ? "fewer" : more.getAttribute("data-label") || more.textContent;
    });
    more.setAttribute("data-label", more.textContent);
  }
})();
