// Keeps a part of a page up to date while the server is still working on
// it (a change notice being sent). An element with an id and
// data-live-refresh="SECONDS" is fetched again from the page's own address
// every SECONDS; its descendants with an id take the new text (progress bars
// the new value, data-live-replace elements the new markup) until the
// server's copy no longer has data-live-refresh. Links marked
// data-live-fallback (a manual refresh for pages without JavaScript) are
// hidden. No dependencies; CSP-compatible (no eval, no inline handlers).
(function () {
  'use strict';

  function update(current, fresh) {
    fresh.querySelectorAll('[id]').forEach(function (source) {
      var target = document.getElementById(source.id);
      if (!target || !current.contains(target)) return;
      if (source.tagName === 'PROGRESS') {
        target.value = Number(source.getAttribute('value')) || 0;
        target.max = Number(source.getAttribute('max')) || 1;
        target.textContent = source.textContent;
      } else if (source.hasAttribute('data-live-replace')) {
        if (target.innerHTML !== source.innerHTML) target.innerHTML = source.innerHTML;
      } else if (source.children.length === 0 && target.textContent !== source.textContent) {
        target.textContent = source.textContent;
      }
    });
  }

  function watch(element) {
    var seconds = Math.max(1, Number(element.getAttribute('data-live-refresh')) || 3);
    var failures = 0;
    function later(delay) { window.setTimeout(refresh, delay * 1000); }
    function refresh() {
      window.fetch(window.location.href, {
        credentials: 'same-origin',
        headers: { Accept: 'text/html' },
        cache: 'no-store',
      }).then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.text();
      }).then(function (html) {
        failures = 0;
        var page = new DOMParser().parseFromString(html, 'text/html');
        var fresh = page.getElementById(element.id);
        if (!fresh) return;
        update(element, fresh);
        if (fresh.hasAttribute('data-live-refresh')) later(seconds);
        else element.removeAttribute('data-live-refresh');
      }).catch(function () {
        // The server may be restarting: try again, less and less often.
        failures += 1;
        if (failures < 10) later(seconds * (failures + 1));
      });
    }
    later(seconds);
  }

  document.querySelectorAll('[data-live-fallback]').forEach(function (link) { link.hidden = true; });
  document.querySelectorAll('[id][data-live-refresh]').forEach(watch);
})();
