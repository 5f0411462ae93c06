// eco console: keyboard shortcuts, the Live/Paused control, waterfall geometry, countdowns.
// No inline script or style anywhere (the CSP forbids them): everything is wired here.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // -- lists: j/k move the selection, Enter opens its first link
  function lists() { return Array.from(document.querySelectorAll("[data-list]")); }
  var current = null;
  function items() {
    var list = (current && current.closest("[data-list]")) || lists()[0];
    return list ? Array.from(list.children).filter(function (el) { return el.querySelector("a"); }) : [];
  }
  function select(el) {
    if (current) current.classList.remove("is-selected");
    current = el;
    if (!el) return;
    el.classList.add("is-selected");
    var link = el.querySelector("a");
    if (link) link.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    var all = items();
    if (!all.length) return;
    var i = all.indexOf(current);
    select(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + step))]);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var help = document.getElementById("help");
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      if (help && !help.open) help.showModal();
    } else if (event.key === "/") {
      var field = document.querySelector("[data-search]") || document.getElementById("go-id");
      if (field) { event.preventDefault(); field.focus(); }
    } else if (event.key === "j") {
      event.preventDefault(); move(1);
    } else if (event.key === "k") {
      event.preventDefault(); move(-1);
    } else if (event.key === "Enter" && current) {
      var link = current.querySelector("a");
      if (link && document.activeElement !== link) { event.preventDefault(); link.click(); }
    }
  });

  // -- the id box in the header goes to /go/{id}
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList && form.classList.contains("go")) {
      var value = form.querySelector("input").value.trim();
      event.preventDefault();
      if (value) window.location.assign("/go/" + encodeURIComponent(value));
    }
  });

  // -- Live/Paused: while paused, messages wait in a queue and nothing moves under the reader
  function liveOf(el) { return el.closest("[data-live]"); }
  var queues = new WeakMap();
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var live = liveOf(event.target);
    if (!live || live.dataset.paused !== "true") return;
    event.preventDefault();
    var queue = queues.get(live) || [];
    queue.push({ target: event.target, data: event.detail.data });
    queues.set(live, queue);
    var state = live.querySelector("[data-live-state]");
    if (state) state.textContent = "Paused: " + queue.length + " new, not shown yet.";
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-live-toggle]");
    if (!button) return;
    var live = liveOf(button);
    var state = live.querySelector("[data-live-state]");
    var pausing = live.dataset.paused !== "true";
    live.dataset.paused = pausing ? "true" : "false";
    button.setAttribute("aria-pressed", pausing ? "false" : "true");
    button.textContent = pausing ? "Paused" : "Live";
    if (pausing) {
      if (state) state.textContent = "Paused: new events wait until you resume.";
      return;
    }
    var queue = queues.get(live) || [];
    queues.set(live, []);
    queue.forEach(function (item) {
      var swap = item.target.getAttribute("hx-swap") || "innerHTML";
      window.htmx.swap(item.target, item.data, { swapStyle: swap });
    });
    if (state) state.textContent = "Live: following new events.";
  });

  // -- geometry the server computed, applied without inline styles
  function geometry(root) {
    root.querySelectorAll(".wf-bar[data-offset]").forEach(function (bar) {
      bar.style.setProperty("--offset", bar.dataset.offset + "%");
      bar.style.setProperty("--width", bar.dataset.width + "%");
    });
    root.querySelectorAll(".wf-row[data-depth]").forEach(function (row) {
      var name = row.querySelector(".wf-name");
      if (name) name.style.setProperty("--depth", row.dataset.depth);
    });
  }

  // -- lease countdowns
  function countdowns() {
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000);
      el.textContent = isNaN(left) ? el.textContent : left >= 0 ? "expires in " + left + " s" : "expired " + -left + " s ago";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    geometry(document);
    countdowns();
    if (document.querySelector(".countdown")) setInterval(countdowns, 1000);
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target) target.scrollIntoView({ block: "center" });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var button = event.detail.elt;
    if (button && button.classList && button.classList.contains("expand") && event.detail.successful) {
      button.remove();
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) { geometry(event.target.parentNode || document); });
  document.addEventListener("htmx:sseMessage", function (event) { geometry(event.target); });
})();

// -- traces compared: each node indented by its depth (server-computed, applied via the CSSOM)
(function () {
  "use strict";
  function depths(root) {
    root.querySelectorAll("tr[data-depth] > .cmp-name").forEach(function (el) {
      var row = el.parentNode;
      if (row && row.dataset && row.dataset.depth) el.style.setProperty("--depth", row.dataset.depth);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { depths(document); });
})();

// -- the runs list live: statuses change in place; new runs wait behind "N new runs — show"
(function () {
  "use strict";
  function applyStatuses(sink) {
    sink.querySelectorAll("[data-run-status]").forEach(function (span) {
      var id = span.getAttribute("data-run-status");
      document.querySelectorAll("[data-run-status-cell]").forEach(function (cell) {
        if (cell.getAttribute("data-run-status-cell") === id) cell.innerHTML = span.innerHTML;
      });
    });
  }
  function announce(pending) {
    var bar = document.querySelector("[data-new-runs]");
    if (!bar) return;
    var rows = document.querySelector("[data-runs-rows]");
    // a run already listed (the page was loaded after it was made) is not new
    Array.prototype.slice.call(pending.rows).forEach(function (row) {
      var id = row.getAttribute("data-run");
      if (rows && id && rows.querySelector('[data-run="' + id + '"]')) row.remove();
    });
    var count = pending.rows.length;
    bar.hidden = count === 0;
    var button = bar.querySelector("[data-show-new-runs]");
    if (button) button.textContent = count + (count === 1 ? " new run" : " new runs") + " — show";
  }
  function showNew() {
    var pending = document.querySelector("[data-runs-pending]");
    var rows = document.querySelector("[data-runs-rows]");
    if (!pending || !rows) return;
    var empty = rows.querySelector("[data-runs-empty]");
    if (empty) empty.remove();
    var fresh = Array.prototype.slice.call(pending.rows);
    for (var i = fresh.length - 1; i >= 0; i--) rows.insertBefore(fresh[i], rows.firstChild);
    announce(pending);
    var first = rows.querySelector("a");
    if (first) first.focus();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-show-new-runs]")) showNew();
  });
  // the stream is open: marked on the live region (tests wait for it before making runs)
  document.addEventListener("htmx:sseOpen", function (event) {
    var live = event.target.closest && event.target.closest("[data-live]");
    if (live) live.dataset.connected = "true";
  });
  document.addEventListener("DOMContentLoaded", function () {
    var sink = document.querySelector("[data-run-status-sink]");
    if (sink) new MutationObserver(function () { applyStatuses(sink); }).observe(sink, { childList: true, subtree: true });
    var pending = document.querySelector("[data-runs-pending]");
    if (pending) new MutationObserver(function () { announce(pending); }).observe(pending, { childList: true });
  });
})();
