/* Live progress for sync jobs in the admin (the job list, a job's page, the dashboard).
 *
 * Each queued or running job's bar is rendered by connectors.admin.sync_progress_widget as
 *   <span class="sync-progress" data-sync-job="ID" data-sync-url="/api/v1/sync-jobs/ID/">
 *     <progress max="100" value="P"></progress> <span data-sync-field="label">P%</span></span>
 * and each of its figures on the page by connectors.admin.live_figure as
 *   <span data-sync-of="ID" data-sync-field="processed">1400</span>
 * (the field is a key of the job's API answer: processed, created_count, finished_at, ...).
 * This polls that URL (the staff API, with the admin's session) every second and updates the bar,
 * its label, every figure of the job and any [data-sync-status-of="ID"] text; it stops when the job
 * has finished, when the API refuses (403, 404) or when the page is closed. When a job finishes
 * inside an element marked [data-sync-refresh] (the dashboard's sync health), that element is read
 * again from the server once, so what the job changed (last success, jobs counted) shows too.
 * No dependencies.
 */
(function () {
  "use strict";

  var INTERVAL = 1000;
  var MAX_BACKOFF = 15000;
  var FINISHED = { succeeded: true, failed: true };

  function statusLabel(status) {
    return status.charAt(0).toUpperCase() + status.slice(1);
  }

  /* A figure as the server renders it: a count as is, a time as "2026-12-04 16:49" (the API's ISO
   * time is already in the site's time zone, as the admin's), nothing as "-". */
  function shown(field, value) {
    if (value === null || value === undefined || value === "") { return "-"; }
    if (/_at$/.test(field)) { return String(value).slice(0, 16).replace("T", " "); }
    return String(value);
  }

  function render(widget, job) {
    var bar = widget.querySelector("progress");
    var label = widget.querySelector('[data-sync-field="label"]');
    if (job.progress_percent === null || job.progress_percent === undefined) {
      if (bar) { bar.removeAttribute("value"); }
      if (label) { label.textContent = String(job.processed); }
    } else {
      if (bar) { bar.max = 100; bar.value = job.progress_percent; }
      if (label) { label.textContent = job.progress_percent + "%"; }
    }
    widget.setAttribute("data-sync-status", job.status);
    widget.title = statusLabel(job.status) + ": " + job.processed + (job.total ? " of " + job.total : "") + " processed";
    var statuses = document.querySelectorAll('[data-sync-status-of="' + job.id + '"]');
    for (var i = 0; i < statuses.length; i++) {
      statuses[i].textContent = statusLabel(job.status);
    }
    var figures = document.querySelectorAll('[data-sync-of="' + job.id + '"]');
    for (var j = 0; j < figures.length; j++) {
      var field = figures[j].getAttribute("data-sync-field");
      figures[j].textContent = shown(field, job[field]);
    }
  }

  /* Read the page again and put the server's new version of ``section`` (by its id) in its place. */
  function refresh(section) {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(section.id);
        if (fresh) {
          section.replaceWith(fresh);
          start(fresh);
        }
      })
      .catch(function () { /* the figures already shown stay; a reload brings the rest */ });
  }

  function follow(widget) {
    var url = widget.getAttribute("data-sync-url");
    var delay = INTERVAL;

    function next(wait) {
      window.setTimeout(poll, wait);
    }

    function finished() {
      var section = widget.closest("[data-sync-refresh][id]");
      if (section) { refresh(section); }
    }

    function poll() {
      if (!widget.isConnected) { return; } // its section was read again: the new one is followed instead
      if (document.hidden) { return next(INTERVAL); }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status >= 400 && response.status < 500) {
            widget.setAttribute("data-sync-status", "unavailable");
            return null; // no permission, or the job is gone: stop
          }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json().then(function (job) {
            render(widget, job);
            delay = INTERVAL;
            if (FINISHED[job.status]) { finished(); } else { next(delay); }
          });
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_BACKOFF); // the server is busy or restarting: try again later
          next(delay);
        });
    }

    next(INTERVAL);
  }

  function start(root) {
    var widgets = root.querySelectorAll(".sync-progress[data-sync-url]");
    for (var i = 0; i < widgets.length; i++) {
      follow(widgets[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(document); });
  } else {
    start(document);
  }
})();
