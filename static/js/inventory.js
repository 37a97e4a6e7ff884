/*
 * Live inventory on every page that shows books (a book's page, listings):
 * each stock line follows every change made by any shopper, Add/Remove to
 * cart work without reloading the page, and the header's cart badge follows.
 *
 * Progressive enhancement: the page works without this script (the cart form
 * posts normally and the count is right as of page load). Live updates come
 * through the shared feed client (static/js/live_feed.js): a WebSocket, or
 * long polling where a WebSocket can't connect.
 * Every update carries the book's inventory version; anything not newer than
 * what is shown is stale (it crossed a newer one in flight) and is ignored.
 */
(function () {
  'use strict';

  const CART_PATH = '/cart';

  const SOLD_OUT_MESSAGE = "Sorry — that was the last copy; it's sold out now.";
  const OFFLINE_MESSAGE = "We couldn't reach the shop. Check your connection and try again.";
  const FAILED_MESSAGE = 'Something went wrong; your cart was not changed. Please try again.';

  // Every book on the page with a live stock line: a book's page (#stock) or a listing's offers.
  const offers = Array.from(document.querySelectorAll('.offer[data-isbn]')).map(makeOffer);
  const badge = document.querySelector('.cart-link');
  if (!window.fetch || !window.liveFeed) {
    return;  // A browser the plain forms serve better.
  }
  const stockLevel = window.liveFeed.stockLevel;

  /** One book's stock line and cart form, and the state it shows. */
  function makeOffer(section) {
    const offer = {
      section: section,
      isbn: section.dataset.isbn,
      version: Number(section.dataset.version) || 0,
      available: Number(section.dataset.available) || 0,
      lowStock: Number(section.dataset.lowStock) || 5,
      quantity: Number(section.dataset.inCart) || 0,
      busy: false,
      form: section.querySelector('.cart-form'),
      count: section.querySelector('.count'),
      availability: section.querySelector('.availability'),
      addButton: section.querySelector('.add-to-cart'),
      removeButton: section.querySelector('.remove-from-cart'),
      inCart: section.querySelector('.in-cart'),
      inCartText: section.querySelector('.in-cart-text'),
      message: section.querySelector('.cart-message'),
    };
    if (offer.form) {
      offer.form.addEventListener('submit', function (event) { onSubmit(offer, event); });
    }
    return offer;
  }

  function offersOf(isbn) {
    return offers.filter(function (offer) { return offer.isbn === isbn; });
  }

  function price(cents) {
    return '$' + (cents / 100).toFixed(2);
  }

  // -- what the shopper sees ------------------------------------------------

  function updateButtons(offer) {
    // Busy: the button stays enabled (and keeps keyboard focus) but ignores clicks.
    if (offer.addButton) {
      offer.addButton.disabled = offer.available <= 0;
      offer.addButton.setAttribute('aria-disabled', String(offer.busy));
    }
    if (offer.removeButton) {
      offer.removeButton.setAttribute('aria-disabled', String(offer.busy));
    }
  }

  /** The same words as inventory.availability() on the server. */
  function availabilityText(offer, available) {
    const level = stockLevel(available, offer.lowStock);
    if (level === 'sold-out') {
      return 'Sold out';
    }
    return level === 'low' ? 'Only ' + available + ' left' : 'In stock';
  }

  function showCount(offer, available) {
    offer.section.dataset.available = String(available);
    if (offer.availability) {
      const level = stockLevel(available, offer.lowStock);
      offer.availability.classList.toggle('sold-out', level === 'sold-out');
      offer.availability.classList.toggle('low', level === 'low');
    }
    const text = availabilityText(offer, available);
    if (offer.count && offer.count.textContent !== text) {
      offer.count.textContent = text;
    }
  }

  /** Show a book state {isbn, available, version} wherever the book is, if newer than what is shown. */
  function showBook(book) {
    if (!book) {
      return;
    }
    offersOf(book.isbn).forEach(function (offer) {
      const version = Number(book.version);
      if (!(version > offer.version)) {
        return;  // Stale: a newer state is already on screen.
      }
      offer.version = version;
      offer.section.dataset.version = String(version);
      // Only touch the aria-live region when the words change, so screen
      // readers announce real changes and nothing else.
      if (book.available !== offer.available) {
        offer.available = book.available;
        showCount(offer, book.available);
      }
      const hadFocus = offer.addButton && document.activeElement === offer.addButton;
      updateButtons(offer);
      if (hadFocus && offer.addButton.disabled) {
        // Sold out under the shopper's finger: keep their place on the message, which says so (an
        // empty one is not shown, and can't take focus; an earlier one, "Added", is no longer news).
        say(offer, SOLD_OUT_MESSAGE);
        focusMessage(offer);
      }
    });
  }

  function showCart(offer, quantity) {
    offer.quantity = quantity;
    offer.section.dataset.inCart = String(quantity);
    if (offer.inCart) {
      offer.inCart.hidden = quantity === 0;
      offer.inCartText.textContent = quantity === 1 ? 'One copy is in your cart'
        : quantity + ' copies are in your cart';
    }
    if (offer.removeButton) {
      const hadFocus = document.activeElement === offer.removeButton;
      offer.removeButton.hidden = quantity === 0;
      if (hadFocus && quantity === 0) {
        offer.addButton.focus();  // The button pressed is gone: the next one to use takes focus.
      }
    }
  }

  /** The header's cart badge: copies and total, from a cart as POST /cart returns it. */
  function showBadge(cart) {
    if (!badge || !cart) {
      return;
    }
    badge.querySelector('.cart-count').textContent = String(cart.count);
    badge.querySelector('.cart-copies').textContent = cart.count === 1 ? ' copy,' : ' copies,';
    badge.querySelector('.cart-total').textContent = price(cart.total_cents);
    badge.classList.remove('bumped');
    void badge.offsetWidth;  // restart the animation
    badge.classList.add('bumped');
  }

  // The shopper's other tabs show the same cart: each page tells them the cart it was served with
  // (its badge) and every change it makes (the whole cart), and follows what they tell it.
  const cartChannel = typeof window.BroadcastChannel === 'function' ? new BroadcastChannel('burts-books-cart') : null;

  function shareCart(cart) {
    if (cartChannel) {
      cartChannel.postMessage(cart);
    }
  }

  function followOtherTabs() {
    if (!cartChannel || !badge) {
      return;
    }
    cartChannel.onmessage = async function (event) {
      let cart = event.data;
      const changed = badge.querySelector('.cart-count').textContent !== String(cart.count)
          || badge.querySelector('.cart-total').textContent !== price(cart.total_cents);
      if (changed) {
        showBadge(cart);
      }
      if (!cart.items && changed && offers.length) {
        cart = await readCart();  // a page just served says only its badge: what is in the cart now?
      }
      if (cart && cart.items) {
        offers.forEach(function (offer) { showCart(offer, quantityIn(cart, offer.isbn)); });
      }
    };
    shareCart({count: Number(badge.dataset.count), total_cents: Number(badge.dataset.totalCents)});
  }

  function focusMessage(offer) {
    if (offer.message) {
      offer.message.tabIndex = -1;
      offer.message.focus();
    }
  }

  function say(offer, text, withCartLink) {
    if (!offer.message) {
      return;
    }
    offer.message.replaceChildren(text);
    if (withCartLink) {
      const link = document.createElement('a');
      link.href = CART_PATH;
      link.textContent = 'View cart / Checkout';
      offer.message.append(' ', link);
    }
  }

  // -- adding and removing --------------------------------------------------

  function xsrfToken(offer) {
    const field = offer.form.querySelector('input[name="_xsrf"]');
    if (field && field.value) {
      return field.value;
    }
    const cookie = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return cookie ? decodeURIComponent(cookie[1]) : '';
  }

  /** The quantity of a book in a cart as the server returns it (items as a list or keyed by ISBN). */
  function quantityIn(cart, isbn) {
    const items = cart && cart.items;
    let item = null;
    if (Array.isArray(items)) {
      item = items.find(function (each) { return each.isbn === isbn; });
    } else if (items && typeof items === 'object') {
      item = items[isbn];
    }
    return item ? Number(item.quantity) || 0 : 0;
  }

  async function readCart() {
    try {
      const response = await fetch(CART_PATH, {credentials: 'same-origin', headers: {'Accept': 'application/json'}});
      const data = response.ok ? await readJson(response) : null;
      return data && data.cart;
    } catch (error) {
      return null;
    }
  }

  async function readJson(response) {
    const type = response.headers.get('Content-Type') || '';
    return type.includes('application/json') ? response.json() : null;
  }

  async function changeCart(offer, action) {
    const body = new URLSearchParams({action: action, isbn: offer.isbn});
    let response;
    let data;
    try {
      // getAttribute: form.action is shadowed by the buttons named "action".
      response = await fetch(offer.form.getAttribute('action') || CART_PATH, {
        method: 'POST',
        body: body,
        credentials: 'same-origin',
        headers: {'Accept': 'application/json', 'X-XSRFToken': xsrfToken(offer)},
      });
      data = await readJson(response);
    } catch (error) {
      say(offer, OFFLINE_MESSAGE);
      return;
    }
    if (data && data.book) {
      showBook(data.book);
    }
    if (data && data.cart) {
      showBadge(data.cart);
      shareCart(data.cart);
      offersOf(offer.isbn).forEach(function (each) { showCart(each, quantityIn(data.cart, offer.isbn)); });
    }
    if (response.ok && data) {
      if (action === 'add') {
        say(offer, 'Added to your cart.', true);
      } else {
        say(offer, 'Removed from your cart.');
      }
    } else if (response.status === 409) {
      say(offer, (data && data.error && data.error.message) || SOLD_OUT_MESSAGE);
    } else {
      say(offer, (data && data.error && data.error.message) || FAILED_MESSAGE);
    }
  }

  async function onSubmit(offer, event) {
    event.preventDefault();
    if (offer.busy) {
      return;  // One change at a time: a double click must not add two copies.
    }
    const action = (event.submitter && event.submitter.value) || 'add';
    offer.busy = true;
    updateButtons(offer);
    say(offer, '');
    try {
      await changeCart(offer, action);
    } finally {
      offer.busy = false;
      updateButtons(offer);
    }
  }

  // -- live updates ----------------------------------------------------------

  /** Each book on the page once, with the lowest version shown of it. */
  function watched() {
    const versions = new Map();
    offers.forEach(function (offer) {
      const seen = versions.get(offer.isbn);
      versions.set(offer.isbn, seen === undefined ? offer.version : Math.min(seen, offer.version));
    });
    return versions;
  }

  followOtherTabs();
  if (offers.length) {
    window.liveFeed.follow(watched, showBook);
  }
})();
