/*
 * Stock figures on staff pages, kept live: the stock table's rows (/staff/stock) and the stock line
 * of a book's edit page. Each is an element marked data-live-stock, with the book's data-isbn,
 * data-title, data-version and data-stock (on hand), holding whichever of the cells .stock,
 * .available, .held and .sold it shows. The feed shoppers' pages use (static/js/live_feed.js: a
 * WebSocket, or long polling where one can't connect) says a title changed, with its Available
 * count, shown at once; it carries no stock on hand, which shoppers need not see, so the other
 * figures then come from /api/stock (one read for the titles that changed within READ_AFTER_MS).
 * Stale versions are ignored, from either. A change of stock on hand (a sale, a restock) is
 * announced in the page's .live-status region, as is a new Available count.
 */
(function () {
  'use strict';

  const READ_AFTER_MS = 200;
  if (!window.liveFeed) {
    return;
  }
  const rows = new Map();
  document.querySelectorAll('[data-live-stock]').forEach(function (row) {
    rows.set(row.dataset.isbn, row);
  });
  if (!rows.size) {
    return;
  }
  const status = document.querySelector('.live-status');
  const table = document.getElementById('stock-table');
  const threshold = table ? Number(table.dataset.threshold) || 0 : 0;
  const toRead = new Set();
  let reading = null;

  /** Each title on the page with the version it shows (a page holds 50; the feed takes 100). */
  function watched() {
    const versions = new Map();
    rows.forEach(function (row, isbn) { versions.set(isbn, Number(row.dataset.version)); });
    return versions;
  }

  function setText(row, cell, value) {
    const element = row.querySelector('.' + cell);
    if (element) {
      element.textContent = value;
    }
  }

  function showAvailable(row, available) {
    setText(row, 'available', available);
    if (row.tagName !== 'TR') {
      return;  // only the table's rows say what needs attention
    }
    const attention = window.liveFeed.stockLevel(available, threshold);
    row.className = 'attention-' + attention + ' changed';
    row.querySelector('.status').textContent =
      attention === 'sold-out' ? 'Sold out' : attention === 'low' ? 'Low' : '';
  }

  /** A book as /api/stock gives it, unless its element already shows a newer version. */
  function showRow(book) {
    const row = rows.get(book.isbn);
    if (!row || book.version < Number(row.dataset.version)) {
      return;
    }
    row.dataset.version = book.version;
    if (status && row.dataset.stock !== String(book.stock)) {
      status.textContent = book.title + ': ' + book.stock + ' in stock, ' + book.available + ' available.';
    }
    row.dataset.stock = book.stock;
    setText(row, 'stock', book.stock);
    setText(row, 'held', book.held);
    setText(row, 'sold', book.sold);
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
      // The Available count still follows the feed; the rest shows on reload.
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
      status.textContent = row.dataset.title + ': ' + state.available + ' available.';
    }
    toRead.add(state.isbn);
    if (reading === null) {
      reading = setTimeout(readRows, READ_AFTER_MS);
    }
  }

  window.liveFeed.follow(watched, show);
}());
