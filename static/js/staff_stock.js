/*
 * The staff stock table, kept live by the feed shoppers' pages use (static/js/live_feed.js: a
 * WebSocket, or long polling where one can't connect): every title on the page is followed. A newer
 * state shows its Available count at once; the feed carries no stock on hand, which shoppers need
 * not see, so the row's Stock, Held and Sold then come from /api/stock (one read for the rows that
 * changed within READ_AFTER_MS). Stale versions are ignored, from either.
 */
(function () {
  'use strict';

  const READ_AFTER_MS = 200;
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
  const toRead = new Set();
  let reading = null;

  /** Each title on the page with the version its row shows (a page holds 50; the feed takes 100). */
  function watched() {
    const versions = new Map();
    rows.forEach(function (row, isbn) { versions.set(isbn, Number(row.dataset.version)); });
    return versions;
  }

  function showAvailable(row, available) {
    row.querySelector('.available').textContent = available;
    const attention = window.liveFeed.stockLevel(available, threshold);
    row.className = 'attention-' + attention + ' changed';
    row.querySelector('.status').textContent =
      attention === 'sold-out' ? 'Sold out' : attention === 'low' ? 'Low' : '';
  }

  /** A row as /api/stock gives it, unless the row already shows a newer version. */
  function showRow(book) {
    const row = rows.get(book.isbn);
    if (!row || book.version < Number(row.dataset.version)) {
      return;
    }
    row.dataset.version = book.version;
    const stock = row.querySelector('.stock');
    if (status && stock.textContent !== String(book.stock)) {
      status.textContent = book.title + ': ' + book.stock + ' in stock, ' + book.available + ' available.';
    }
    stock.textContent = book.stock;
    row.querySelector('.held').textContent = book.held;
    row.querySelector('.sold').textContent = book.sold;
    showAvailable(row, book.available);
  }

  async function readRows() {
    const isbns = Array.from(toRead);
    toRead.clear();
    const query = isbns.map(function (isbn) { return 'isbn=' + encodeURIComponent(isbn); }).join('&');
    try {
      const response = await fetch('/api/stock?' + query, {
        credentials: 'same-origin',
        headers: {'Accept': 'application/json'},
      });
      if (response.ok) {
        ((await response.json()).books || []).forEach(showRow);
      }
    } catch (error) {
      // The Available column still follows the feed; the rest shows on reload.
    }
    reading = null;
    if (toRead.size) {
      reading = setTimeout(readRows, READ_AFTER_MS);
    }
  }

  function show(state) {
    const row = rows.get(state.isbn);
    if (!row || state.version <= Number(row.dataset.version)) {
      return;
    }
    row.dataset.version = state.version;
    // A sale moves no shopper's count: it is announced once its row is read (showRow).
    const moved = row.querySelector('.available').textContent !== String(state.available);
    showAvailable(row, state.available);
    if (status && moved) {
      status.textContent = row.querySelector('a').textContent + ': ' + state.available + ' available.';
    }
    toRead.add(state.isbn);
    if (reading === null) {
      reading = setTimeout(readRows, READ_AFTER_MS);
    }
  }

  window.liveFeed.follow(watched, show);
}());
