/* Live progress for sync jobs in the admin (the job list, a job's page, the dashboard).
 *
 * Each queued or running job's bar is rendered by connectors.admin.sync_progress_widget as
 *   <span class="sync-progress" data-sync-job="ID" data-sync-url="/api/v1/sync-jobs/ID/">
 *     <progress max="100" value="P"></progress> <span data-sync-field="label">P%</span></span>
 * This polls that URL (the staff API, with the admin's session) every second, updates the bar,
 * its figure and any [data-sync-status-of="ID"] text, and stops when the job has finished, when
 * the API refuses (403, 404) or when the page is closed. No dependencies.
 */
(function () {
  "use strict";

  var INTERVAL = 1000;
  var MAX_BACKOFF = 15000;
  var FINISHED = { succeeded: true, failed: true };

  function statusLabel(status) {
    return status.charAt(0).toUpperCase() + status.slice(1);
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
  }

  function follow(widget) {
    var url = widget.getAttribute("data-sync-url");
    var delay = INTERVAL;

    function next(wait) {
      window.setTimeout(poll, wait);
    }

    function poll() {
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
            if (!FINISHED[job.status]) { next(delay); }
          });
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_BACKOFF); // the server is busy or restarting: try again later
          next(delay);
        });
    }

    next(INTERVAL);
  }

  function start() {
    var widgets = document.querySelectorAll(".sync-progress[data-sync-url]");
    for (var i = 0; i < widgets.length; i++) {
      follow(widgets[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
