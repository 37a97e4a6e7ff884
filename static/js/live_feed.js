/*
 * The live inventory feed, one client for every page that follows stock: shoppers' pages
 * (static/js/inventory.js) and the staff stock table (static/js/staff_stock.js). Loaded before
 * them on every page (templates/main.html); it does nothing until a page script calls
 * liveFeed.follow().
 *
 * A WebSocket (/cart/status/ws) first; long polling (/cart/status) where one can't connect or keeps
 * failing. Reconnects with exponential backoff and jitter. The page keeps the versions it shows
 * and ignores states not newer (see README, "Live inventory protocol").
 */
(function () {
  'use strict';

  const SOCKET_PATH = '/cart/status/ws';
  const POLL_PATH = '/cart/status';
  const RETRY_BASE_MS = 500;
  const RETRY_MAX_MS = 30000;
  // After this many reconnects in a row without a healthy connection, stop
  // trying WebSockets for this page and long poll instead.
  const SOCKET_FAILURES_BEFORE_POLLING = 5;
  // A socket that delivered and stayed up this long was healthy: the next
  // drop starts the backoff from the beginning again.
  const HEALTHY_SOCKET_MS = 10000;
  // A "nothing new" poll answer faster than this means something is wrong;
  // back off rather than hammer the server.
  const MIN_IDLE_POLL_MS = 1000;

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // Exponential backoff with jitter, so that browsers dropped together by a
  // server restart don't all come back in the same instant.
  function retryDelay(attempt) {
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  /** "sold-out", "low" or "ok": the same as inventory.stock_level() on the server
   * (low is fewer available than the --low-stock-threshold setting). */
  function stockLevel(available, lowStockThreshold) {
    if (available <= 0) {
      return 'sold-out';
    }
    return available < lowStockThreshold ? 'low' : 'ok';
  }

  /**
   * Follow the books a page shows: `watched()` gives them as a Map of ISBN to the (lowest)
   * version shown, at most 100; `onState({isbn, available, version})` gets every state the feed
   * sends, stale ones too (the page compares versions).
   */
  function follow(watched, onState) {
    let socketEverWorked = false;
    let socketRetries = 0;  // closes in a row without a healthy connection between
    let polling = false;

    function onSocketMessage(event) {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (data.type === 'state') {
        onState(data);
      } else if (data.type === 'error') {
        console.warn('inventory feed:', data.message);
      }
    }

    function connectSocket() {
      const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
      let socket;
      try {
        socket = new WebSocket(scheme + '//' + window.location.host + SOCKET_PATH);
      } catch (error) {
        startPolling();
        return;
      }
      // Until the first state arrives the connection is not proven useful:
      // some proxies accept the upgrade and then pass nothing through.
      let deliveredAt = 0;

      socket.addEventListener('open', function () {
        socket.send(JSON.stringify({subscribe: Array.from(watched().keys())}));
      });
      socket.addEventListener('message', function (event) {
        if (!deliveredAt) {
          deliveredAt = Date.now();
          socketEverWorked = true;
        }
        onSocketMessage(event);
      });
      socket.addEventListener('close', function () {
        const healthy = deliveredAt && Date.now() - deliveredAt >= HEALTHY_SOCKET_MS;
        socketRetries = healthy ? 0 : socketRetries + 1;
        // Never worked here, or keeps failing: long polling gets through where
        // WebSockets are blocked.
        if (!socketEverWorked || socketRetries >= SOCKET_FAILURES_BEFORE_POLLING) {
          startPolling();
          return;
        }
        // The state message sent on resubscribe catches up on what was missed.
        setTimeout(connectSocket, retryDelay(socketRetries));
      });
    }

    /** One long poll; true when it brought a version newer than the one sent. */
    async function pollOnce() {
      const sent = watched();
      const url = POLL_PATH + '?' + Array.from(sent).map(function (pair) {
        return 'isbn=' + encodeURIComponent(pair[0]) + '&version=' + encodeURIComponent(pair[1]);
      }).join('&');
      const response = await fetch(url, {
        credentials: 'same-origin',
        headers: {'Accept': 'application/json'},
      });
      if (!response.ok) {
        throw new Error('status ' + response.status);
      }
      const books = (await response.json()).books || [];
      books.forEach(onState);
      return books.some(function (book) { return Number(book.version) > sent.get(book.isbn); });
    }

    async function startPolling() {
      if (polling || !window.fetch) {
        return;
      }
      polling = true;
      let failures = 0;
      for (;;) {
        const started = Date.now();
        let changed = false;
        try {
          // The version we send makes the server answer at once with anything
          // we missed, so nothing is lost between two polls.
          changed = await pollOnce();
          failures = 0;
        } catch (error) {
          failures += 1;
        }
        if (failures > 0) {
          await sleep(retryDelay(failures));
        } else if (!changed && Date.now() - started < MIN_IDLE_POLL_MS) {
          await sleep(MIN_IDLE_POLL_MS);
        }
      }
    }

    if (typeof window.WebSocket === 'function') {
      connectSocket();
    } else {
      startPolling();
    }
  }

  window.liveFeed = Object.freeze({follow: follow, stockLevel: stockLevel});
}());
