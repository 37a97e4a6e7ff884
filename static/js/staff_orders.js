// Staff order list: long-polls /staff/orders/watch and, when an order arrives or changes, reloads the
// list (same address, same filters) in place and says so in the live region. Retries with backoff
// and jitter when the shop is away; a signed-out or refused poll stops (the next click shows why).
(function () {
  'use strict';
  var list = document.getElementById('orders-list');
  if (!list) { return; }
  var news = document.getElementById('orders-news');
  var newest = Number(list.dataset.newest);
  var MIN_DELAY_MS = 1000;
  var MAX_DELAY_MS = 30000;
  var delay = MIN_DELAY_MS;

  function json(response) {
    return response.ok ? response.json() : Promise.reject(response.status);
  }

  function reload() {
    return fetch(window.location.href, {credentials: 'same-origin'})
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('orders-list');
        if (!fresh) { return; }
        var focused = list.contains(document.activeElement) ? placeOf(document.activeElement) : null;
        list.replaceChildren.apply(list, Array.from(fresh.childNodes));
        if (focused) { refocus(focused); }
      });
  }

  // Where the keyboard was in the list (an order's link, "Next"), to put it back once the list is new.
  function placeOf(element) {
    return {href: element.getAttribute('href'), text: element.textContent};
  }

  function refocus(place) {
    var same = Array.from(list.querySelectorAll('a, button')).find(function (element) {
      return element.getAttribute('href') === place.href && element.textContent === place.text;
    });
    (same || list).focus();
  }

  function announce(seen) {
    var arrived = seen - newest;
    news.textContent = arrived > 1 ? arrived + ' new orders arrived.'
      : arrived === 1 ? 'A new order arrived.' : 'An order changed.';
  }

  function poll() {
    fetch(list.dataset.watch + '?after=' + newest, {headers: {Accept: 'application/json'}, credentials: 'same-origin'})
      .then(json)
      .then(function (answer) {
        delay = MIN_DELAY_MS;
        if (!answer.changed) { return null; }
        return reload().then(function () {
          announce(answer.newest);
          newest = Math.max(newest, answer.newest);
        });
      })
      .then(poll, function (status) {
        if (status === 401 || status === 403) { return; }
        setTimeout(poll, delay / 2 + Math.random() * delay / 2);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      });
  }
  poll();
}());
