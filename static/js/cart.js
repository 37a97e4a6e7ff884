/*
 * The cart and checkout pages, enhanced: a new quantity picked with the mouse
 * or a finger applies at once (the Update button is for pages without this
 * script, and for the keyboard), the warning that the hold ends soon appears
 * when it does, and a second click on "Place order" sends nothing more (the
 * server makes one order anyway).
 */
(function () {
  'use strict';

  document.querySelectorAll('.quantity-form').forEach(function (form) {
    const select = form.querySelector('select');
    const update = form.querySelector('.update');
    if (!select || !update) {
      return;
    }
    update.hidden = true;
    // Arrow keys change a select's value at each press: a shopper stepping from 1 to 3 copies with
    // the keyboard says when with Update, rather than have the page reload under the first press.
    let byKeyboard = false;
    select.addEventListener('keydown', function () { byKeyboard = true; });
    select.addEventListener('pointerdown', function () { byKeyboard = false; });
    select.addEventListener('change', function () {
      if (byKeyboard) {
        update.hidden = false;
        return;
      }
      form.requestSubmit(update);
    });
  });

  const warning = document.querySelector('.hold-ending[data-warn-at]');
  if (warning && warning.hidden) {
    const warnAt = Date.parse(warning.dataset.warnAt);
    if (!Number.isNaN(warnAt)) {
      setTimeout(function () { warning.hidden = false; }, Math.max(0, warnAt - Date.now()));
    }
  }

  const checkout = document.querySelector('.checkout-form');
  if (checkout) {
    checkout.addEventListener('submit', function (event) {
      if (checkout.dataset.sent) {
        event.preventDefault();
        return;
      }
      checkout.dataset.sent = 'true';
    });
  }
})();
