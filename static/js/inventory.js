/*
 * Live inventory on a book page: the stock count follows every change made
 * by any shopper, and Add/Remove to cart work without reloading the page.
 *
 * Progressive enhancement: the page works without this script (the cart form
 * posts normally and the count is right as of page load). Live updates come
 * over a WebSocket, or by long polling where a WebSocket can't connect.
 * Every update carries the book's inventory version; anything not newer than
 * what is shown is stale (it crossed a newer one in flight) and is ignored.
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

  const SOLD_OUT_MESSAGE = "Sorry — that was the last copy; it's sold out now.";
  const OFFLINE_MESSAGE = "We couldn't reach the shop. Check your connection and try again.";
  const FAILED_MESSAGE = 'Something went wrong; your cart was not changed. Please try again.';

  const section = document.getElementById('stock');
  if (!section || !window.fetch) {
    return;  // Not a book page, or a browser the plain form serves better.
  }

  const form = section.querySelector('.cart-form');
  const count = section.querySelector('.count');
  const addButton = section.querySelector('.add-to-cart');
  const removeButton = section.querySelector('.remove-from-cart');
  const inCart = section.querySelector('.in-cart');
  const message = section.querySelector('.cart-message');

  const state = {
    isbn: section.dataset.isbn,
    version: Number(section.dataset.version) || 0,
    available: initialAvailable(),
    quantity: Number(section.dataset.inCart) || 0,
    busy: false,
  };

  function initialAvailable() {
    const shown = section.querySelector('.available');
    return shown ? Number(shown.textContent) || 0 : 0;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // Exponential backoff with jitter, so that browsers dropped together by a
  // server restart don't all come back in the same instant.
  function retryDelay(attempt) {
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  // -- what the shopper sees ------------------------------------------------

  function updateButtons() {
    // Copies already in the cart can always be given back, even when sold out.
    addButton.disabled = state.busy || state.available <= 0;
    if (removeButton) {
      removeButton.disabled = state.busy;
    }
  }

  function showCount(available) {
    if (available > 0) {
      const number = document.createElement('span');
      number.className = 'available';
      number.textContent = String(available);
      count.replaceChildren('Only ', number, ' left in stock!');
    } else {
      count.replaceChildren('Sold out');
    }
  }

  /** Show a book state {isbn, available, version} if it is newer than the one shown. */
  function showBook(book) {
    if (!book || book.isbn !== state.isbn) {
      return;
    }
    const version = Number(book.version);
    if (!(version > state.version)) {
      return;  // Stale: a newer state is already on screen.
    }
    state.version = version;
    section.dataset.version = String(version);
    // Only touch the aria-live region when the count changes, so screen
    // readers announce real changes and nothing else.
    if (book.available !== state.available) {
      state.available = book.available;
      showCount(book.available);
    }
    updateButtons();
  }

  function showCart(quantity) {
    state.quantity = quantity;
    section.dataset.inCart = String(quantity);
    if (inCart) {
      inCart.hidden = quantity === 0;
      inCart.textContent = quantity === 1 ? 'One copy is in your cart'
        : quantity + ' copies are in your cart';
    }
    if (removeButton) {
      removeButton.hidden = quantity === 0;
    }
  }

  function say(text) {
    if (message) {
      message.textContent = text;
    }
  }

  // -- adding and removing --------------------------------------------------

  function xsrfToken() {
    const field = form.querySelector('input[name="_xsrf"]');
    if (field && field.value) {
      return field.value;
    }
    const cookie = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return cookie ? decodeURIComponent(cookie[1]) : '';
  }

  /** The quantity of this book in a cart as the server returns it (items as a list or keyed by ISBN). */
  function quantityIn(cart) {
    const items = cart && cart.items;
    let item = null;
    if (Array.isArray(items)) {
      item = items.find(function (each) { return each.isbn === state.isbn; });
    } else if (items && typeof items === 'object') {
      item = items[state.isbn];
    }
    return item ? Number(item.quantity) || 0 : 0;
  }

  async function readJson(response) {
    const type = response.headers.get('Content-Type') || '';
    return type.includes('application/json') ? response.json() : null;
  }

  async function changeCart(action) {
    const body = new URLSearchParams({action: action, isbn: state.isbn});
    let response;
    let data;
    try {
      // getAttribute: form.action is shadowed by the buttons named "action".
      response = await fetch(form.getAttribute('action') || '/cart', {
        method: 'POST',
        body: body,
        credentials: 'same-origin',
        headers: {'Accept': 'application/json', 'X-XSRFToken': xsrfToken()},
      });
      data = await readJson(response);
    } catch (error) {
      say(OFFLINE_MESSAGE);
      return;
    }
    if (data && data.book) {
      showBook(data.book);
    }
    if (data && data.cart) {
      // Refused or not, the answer says what the cart holds now (a hold may have expired).
      showCart(quantityIn(data.cart));
    }
    if (response.ok && data) {
      say(action === 'add' ? 'Added to your cart.' : 'Removed from your cart.');
    } else if (response.status === 409) {
      say((data && data.error && data.error.message) || SOLD_OUT_MESSAGE);
    } else {
      say((data && data.error && data.error.message) || FAILED_MESSAGE);
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (state.busy) {
      return;  // One change at a time: a double click must not add two copies.
    }
    const action = (event.submitter && event.submitter.value) || 'add';
    state.busy = true;
    updateButtons();
    say('');
    try {
      await changeCart(action);
    } finally {
      state.busy = false;
      updateButtons();
    }
  }

  // -- live updates: WebSocket first ----------------------------------------

  let socketEverWorked = false;
  let socketRetries = 0;  // closes in a row without a healthy connection between

  function socketUrl() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + window.location.host + SOCKET_PATH;
  }

  function onSocketMessage(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (data.type === 'state') {
      showBook(data);
    } else if (data.type === 'error') {
      console.warn('inventory feed:', data.message);
    }
  }

  function connectSocket() {
    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (error) {
      startPolling();
      return;
    }
    // Until the first state arrives the connection is not proven useful:
    // some proxies accept the upgrade and then pass nothing through.
    let deliveredAt = 0;

    socket.addEventListener('open', function () {
      socket.send(JSON.stringify({subscribe: [state.isbn]}));
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

  // -- live updates: long polling fallback ----------------------------------

  let polling = false;

  async function pollOnce() {
    const url = POLL_PATH + '?isbn=' + encodeURIComponent(state.isbn) +
      '&version=' + encodeURIComponent(state.version);
    const response = await fetch(url, {
      credentials: 'same-origin',
      headers: {'Accept': 'application/json'},
    });
    if (!response.ok) {
      throw new Error('status ' + response.status);
    }
    const data = await response.json();
    const before = state.version;
    (data.books || []).forEach(showBook);
    return state.version > before;
  }

  async function startPolling() {
    if (polling) {
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

  function startLiveUpdates() {
    if (typeof window.WebSocket === 'function') {
      connectSocket();
    } else {
      startPolling();
    }
  }

  form.addEventListener('submit', onSubmit);
  startLiveUpdates();
})();
