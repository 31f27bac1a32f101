// switchyard dashboard: live fragments over the API's Server-Sent Events,
// build logs read on as they grow, confirmation dialogs and relative times.
// Every page works without it.
(function () {
  "use strict";

  var KINDS = ["deployment.started", "deployment.lifecycle", "deployment.traffic",
    "deployment.status", "deployment.rerouted", "deployment.original_terminated",
    "deployment.rollback_requested", "deployment.continued", "deployment.alarm",
    "deployment.stopped_by_alarm", "deployment.metric_gate", "pipeline.started", "pipeline.stage", "pipeline.action",
    "pipeline.status", "pipeline.deployment", "pipeline.stop_requested", "pipeline.stage_retried",
    "approval.requested", "approval.vote", "approval.approved", "approval.rejected",
    "approval.closed", "approval.applied"];
  // Deployment and pipeline run statuses after which nothing changes.
  var FINISHED = /^(Succeeded|Failed|Stopped|Superseded|Cancelled)/;

  // The same words the server writes (pages/format.rs).
  function relative(at, now) {
    var s = Math.trunc((now - at) / 1000), ahead = s < 0, n;
    s = Math.abs(s);
    if (s < 5) return "just now";
    if (s < 60) n = s + " s";
    else if (s < 3600) n = Math.floor(s / 60) + " min";
    else if (s < 86400) n = Math.floor(s / 3600) + " h";
    else n = Math.floor(s / 86400) + " d";
    return ahead ? "in " + n : n + " ago";
  }

  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime]").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(at)) t.textContent = relative(at, now);
    });
  }

  function percent(w) {
    return Math.abs(w - Math.round(w)) < 0.05 ? String(Math.round(w)) : w.toFixed(1);
  }

  // One region of the page that the server can render again on its own.
  function Live(el) {
    this.el = el;
    this.url = el.getAttribute("data-fragment");
    this.busy = false;
    this.again = false;
    this.sources = {};
  }

  // Fetches the fragment again; events that arrive meanwhile cause one more fetch.
  Live.prototype.refresh = function () {
    var self = this;
    if (self.busy) { self.again = true; return; }
    self.busy = true;
    fetch(self.url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.redirected) { location.reload(); throw new Error("signed out"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) { self.swap(html); })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () {
        self.busy = false;
        if (self.again) { self.again = false; self.refresh(); }
      });
  };

  // A form field's identity across renders: its form's action and its name.
  function fieldKey(field) {
    var form = field.form;
    return (form ? form.getAttribute("action") : "") + " " + field.name;
  }

  // Replaces the region, keeping open confirmations, keyboard focus, what
  // was typed into its forms, and the build logs read so far.
  Live.prototype.swap = function (html) {
    var key = function (d) {
      var f = d.querySelector("form");
      return d.getAttribute("data-key") || (f ? f.getAttribute("action") : "");
    };
    var open = [], focused = "", typed = {}, logs = {};
    this.el.querySelectorAll("details[open]").forEach(function (d) { open.push(key(d)); });
    this.el.querySelectorAll("textarea, input[type=text], input:not([type])").forEach(function (f) {
      if (f.value) typed[fieldKey(f)] = f.value;
    });
    this.el.querySelectorAll("[data-log]").forEach(function (l) {
      logs[l.getAttribute("data-log") + " " + l.getAttribute("data-build")] = l;
    });
    var active = document.activeElement;
    if (active && this.el.contains(active)) {
      var d = active.closest("details");
      focused = d ? key(d) : (active.id ? "#" + active.id : "");
    }
    this.el.innerHTML = html;
    this.el.querySelectorAll("details").forEach(function (d) {
      if (open.indexOf(key(d)) >= 0) d.open = true;
      if (focused && key(d) === focused) d.querySelector("summary").focus();
    });
    this.el.querySelectorAll("textarea, input[type=text], input:not([type])").forEach(function (f) {
      if (typed[fieldKey(f)] !== undefined) f.value = typed[fieldKey(f)];
    });
    // A log of the same build keeps its text and offset; the fresh render
    // only says how the build stands.
    this.el.querySelectorAll("[data-log]").forEach(function (fresh) {
      var old = logs[fresh.getAttribute("data-log") + " " + fresh.getAttribute("data-build")];
      if (!old) return;
      old.setAttribute("data-log-status", fresh.getAttribute("data-log-status"));
      fresh.replaceWith(old);
    });
    if (focused.charAt(0) === "#") {
      var again = document.getElementById(focused.slice(1));
      if (again) again.focus();
    }
    refreshTimes(this.el);
    var status = this.el.querySelector("[data-status]");
    if (status && FINISHED.test(status.getAttribute("data-status"))) this.closeAll();
    this.el.dispatchEvent(new CustomEvent("swapped"));
  };

  // The id of the newest event the rendered state already includes.
  Live.prototype.seen = function () {
    var m = this.el.querySelector("[data-last-event]");
    return m ? Number(m.getAttribute("data-last-event")) : 0;
  };

  // Shows a new weight at once, before the fragment with the chart arrives.
  Live.prototype.showWeight = function (green) {
    var blue = 100 - green;
    this.el.querySelectorAll("[data-weight=green]").forEach(function (e) { e.textContent = percent(green) + " %"; });
    this.el.querySelectorAll("[data-weight=blue]").forEach(function (e) { e.textContent = percent(blue) + " %"; });
    this.el.querySelectorAll(".split-bar").forEach(function (bar) {
      var b = bar.querySelector(".fill-blue"), g = bar.querySelector(".fill-green");
      if (b && g) { b.setAttribute("width", blue); g.setAttribute("x", blue); g.setAttribute("width", green); }
    });
  };

  Live.prototype.onEvent = function (kind, event, url) {
    if (Number(event.lastEventId) <= this.seen()) return; // replayed backlog
    var detail = {};
    try { detail = JSON.parse(event.data).detail || {}; } catch (e) { /* refresh anyway */ }
    if (kind === "deployment.traffic" && typeof detail.green_weight === "number" && this.el.hasAttribute("data-events")) {
      this.showWeight(detail.green_weight);
    }
    if (kind === "deployment.status" && FINISHED.test(detail.to || "")) this.close(url);
    this.refresh();
  };

  // Keeps exactly these streams open.
  Live.prototype.subscribe = function (urls) {
    var self = this;
    Object.keys(self.sources).forEach(function (u) { if (urls.indexOf(u) < 0) self.close(u); });
    urls.forEach(function (url) {
      if (self.sources[url] || !window.EventSource) return;
      var source = new EventSource(url, { withCredentials: true });
      KINDS.forEach(function (kind) {
        source.addEventListener(kind, function (e) { self.onEvent(kind, e, url); });
      });
      self.sources[url] = source;
    });
  };

  Live.prototype.close = function (url) {
    if (this.sources[url]) { this.sources[url].close(); delete this.sources[url]; }
  };

  Live.prototype.closeAll = function () {
    Object.keys(this.sources).forEach(this.close, this);
  };

  // With JavaScript, a confirmation opens as a modal dialog instead of inline.
  document.addEventListener("click", function (e) {
    var summary = e.target.closest && e.target.closest("details.confirm > summary");
    var dialog = document.getElementById("confirm-dialog");
    if (!summary || !dialog || typeof dialog.showModal !== "function") return;
    e.preventDefault();
    var slot = dialog.querySelector(".dialog-body");
    slot.textContent = "";
    slot.appendChild(summary.parentNode.querySelector(".confirm-body").cloneNode(true));
    dialog.showModal();
    var confirm = slot.querySelector("button[type=submit]");
    if (confirm) confirm.focus();
  });

  // Build logs: read on from the offset the page was rendered with, every
  // second while the build runs, and once more after it ended.
  var following = {};

  function followLogs(root) {
    (root || document).querySelectorAll("[data-log]").forEach(function (section) {
      var id = section.getAttribute("data-log") + " " + section.getAttribute("data-build");
      if (!following[id]) {
        following[id] = { section: section, offset: Number(section.getAttribute("data-offset")) || 0, busy: false, done: false };
      }
      following[id].section = section;
      readLog(following[id]);
    });
  }

  function readLog(log) {
    if (log.busy || log.done) return;
    var running = log.section.getAttribute("data-log-status") === "InProgress";
    log.busy = true;
    fetch(log.section.getAttribute("data-log") + "?offset=" + log.offset, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) return "";
        var next = Number(r.headers.get("X-Next-Offset"));
        return r.text().then(function (text) {
          if (!isNaN(next)) log.offset = next;
          return text;
        });
      })
      .then(function (text) {
        if (!text) return;
        var pre = log.section.querySelector("pre.log");
        var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.appendChild(document.createTextNode(text));
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      })
      .catch(function () { /* tried again while the build runs */ })
      .then(function () {
        log.busy = false;
        if (!running) { log.done = true; return; }
        setTimeout(function () { readLog(log); }, 1000);
      });
  }

  // A rejection needs a reason: asked for before the form goes.
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-needs-comment]");
    if (!button || !button.form) return;
    var comment = button.form.querySelector("textarea[name=comment]");
    if (!comment) return;
    comment.setCustomValidity(comment.value.trim() ? "" : "Say why you reject: the team and the pipeline see it.");
    if (!comment.reportValidity()) e.preventDefault();
  });
  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches("textarea[name=comment]")) e.target.setCustomValidity("");
  });

  function streamsIn(el) {
    var holder = el.querySelector("[data-streams]");
    return holder ? holder.getAttribute("data-streams").split(" ").filter(Boolean) : null;
  }

  function start() {
    refreshTimes();
    setInterval(refreshTimes, 15000);
    followLogs();
    var el = document.getElementById("live");
    if (!el || !el.hasAttribute("data-fragment")) return;
    var live = new Live(el);
    window.switchyardLive = live;
    if (el.hasAttribute("data-events")) live.subscribe([el.getAttribute("data-events")]);
    el.addEventListener("swapped", function () { followLogs(el); });
    var streams = streamsIn(el);
    if (streams) {
      live.subscribe(streams);
      el.addEventListener("swapped", function () { live.subscribe(streamsIn(el) || []); });
    }
    var poll = Number(el.getAttribute("data-poll"));
    if (poll > 0) setInterval(function () { if (!document.hidden) live.refresh(); }, poll * 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
