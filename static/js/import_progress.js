// Staff import page: follows a running import's figures until it ends, then reloads for the
// summary, the final status (worded by the page) and the rejects.
(function () {
  'use strict';
  var section = document.getElementById('import-progress');
  if (!section) { return; }
  var INTERVAL_MS = 1000;

  function show(job) {
    var done = job.added + job.updated + job.unchanged + job.rejected;
    ['added', 'updated', 'unchanged', 'rejected', 'total'].forEach(function (name) {
      section.querySelector('.' + name).textContent = String(job[name]);
    });
    section.querySelector('.done').textContent = String(done);
    section.querySelector('progress').value = done;
  }

  function poll() {
    fetch(section.dataset.url, {headers: {Accept: 'application/json'}, credentials: 'same-origin'})
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (job) {
        show(job);
        if (job.status === 'running') {
          setTimeout(poll, INTERVAL_MS);
        } else {
          window.location.reload();  // the summary and the rejected records come with the page
        }
      })
      .catch(function () { setTimeout(poll, INTERVAL_MS * 5); });
  }
  setTimeout(poll, INTERVAL_MS);
}());
