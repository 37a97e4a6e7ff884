/*
 * The staff stock table, kept live by the feed shoppers' pages use
 * (/cart/status/ws): every title on the page is subscribed; a newer count
 * updates its Available and Held cells (held = stock - available while stock
 * on hand is unchanged; a restock elsewhere shows stock and held on reload).
 * Reconnects with backoff and jitter; stale versions are ignored.
 */
(function () {
  'use strict';

  const table = document.getElementById('stock-table');
  if (!table || !window.WebSocket) {
    return;
  }
  const status = document.querySelector('.live-status');
  const threshold = Number(table.dataset.threshold) || 0;
  const rows = {};
  table.querySelectorAll('tbody tr[data-isbn]').forEach(function (row) {
    rows[row.dataset.isbn] = row;
  });
  const isbns = Object.keys(rows);
  if (!isbns.length) {
    return;
  }
  let retries = 0;

  function show(state) {
    const row = rows[state.isbn];
    if (!row || state.version <= Number(row.dataset.version)) {
      return;
    }
    row.dataset.version = state.version;
    const stock = Number(row.dataset.stock);
    row.querySelector('.available').textContent = state.available;
    if (state.available <= stock) {
      row.querySelector('.held').textContent = stock - state.available;
    }
    const attention = state.available <= 0 ? 'sold-out' : state.available < threshold ? 'low' : 'ok';
    row.className = 'attention-' + attention + ' changed';
    row.querySelector('.status').textContent =
      attention === 'sold-out' ? 'Sold out' : attention === 'low' ? 'Low' : '';
    if (status) {
      status.textContent = row.querySelector('a').textContent + ': ' + state.available + ' available.';
    }
  }

  function connect() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(scheme + '//' + window.location.host + '/cart/status/ws');
    socket.addEventListener('open', function () {
      retries = 0;
      // The feed takes at most 100 ISBNs per message; a page holds 50.
      socket.send(JSON.stringify({subscribe: isbns}));
    });
    socket.addEventListener('message', function (event) {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (data.type === 'state') {
        show(data);
      }
    });
    socket.addEventListener('close', function () {
      const ceiling = Math.min(30000, 500 * Math.pow(2, retries++));
      setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
    });
  }

  connect();
}());
