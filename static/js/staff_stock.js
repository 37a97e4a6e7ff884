/*
 * The staff stock table, kept live by the feed shoppers' pages use (static/js/live_feed.js: a
 * WebSocket, or long polling where one can't connect): every title on the page is followed; a
 * newer count updates its Available and Held cells (held = stock - available while stock on hand
 * is unchanged: the feed carries no stock on hand, which shoppers need not see, so a sale or a
 * restock elsewhere shows in Stock and Held on reload). Stale versions are ignored.
 */
(function () {
  'use strict';

  const table = document.getElementById('stock-table');
  if (!table || !window.liveFeed) {
    return;
  }
  const status = document.querySelector('.live-status');
  const threshold = Number(table.dataset.threshold) || 0;
  const rows = new Map();
  table.querySelectorAll('tbody tr[data-isbn]').forEach(function (row) {
    rows.set(row.dataset.isbn, row);
  });
  if (!rows.size) {
    return;
  }

  /** Each title on the page with the version its row shows (a page holds 50; the feed takes 100). */
  function watched() {
    const versions = new Map();
    rows.forEach(function (row, isbn) { versions.set(isbn, Number(row.dataset.version)); });
    return versions;
  }

  function show(state) {
    const row = rows.get(state.isbn);
    if (!row || state.version <= Number(row.dataset.version)) {
      return;
    }
    row.dataset.version = state.version;
    const stock = Number(row.dataset.stock);
    row.querySelector('.available').textContent = state.available;
    if (state.available <= stock) {
      row.querySelector('.held').textContent = stock - state.available;
    }
    const attention = window.liveFeed.stockLevel(state.available, threshold);
    row.className = 'attention-' + attention + ' changed';
    row.querySelector('.status').textContent =
      attention === 'sold-out' ? 'Sold out' : attention === 'low' ? 'Low' : '';
    if (status) {
      status.textContent = row.querySelector('a').textContent + ': ' + state.available + ' available.';
    }
  }

  window.liveFeed.follow(watched, show);
}());
