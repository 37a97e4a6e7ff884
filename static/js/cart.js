/*
 * The cart and checkout pages, enhanced: a new quantity applies as soon as it
 * is chosen (the Update button is for pages without this script), the
 * warning that the hold ends soon appears when it does, and a second click on
 * "Place order" sends nothing more (the server makes one order anyway).
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
    select.addEventListener('change', function () {
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
