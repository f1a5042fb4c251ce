/*
 * Clinic Privacy Portal consent banner. No dependencies.
 *
 * Embed on the clinic's website:
 *   <script src="https://PORTAL/c/CLINIC/consent.js" defer></script>
 * Gate a script until its purpose is accepted:
 *   <script type="text/plain" data-consent-purpose="analytics" src="..."></script>
 * Listen to choices:
 *   window.ClinicConsent.onChange(function (choices) { ... });
 *
 * The choice is kept in a first-party cookie on the clinic's site and
 * recorded by the portal, which returns a signed receipt. Global Privacy
 * Control turns every optional purpose off and is recorded as such.
 */
(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || window.ClinicConsent) return;
  var match = /^(.*)\/c\/([^/]+)\/consent\.js(?:[?#].*)?$/.exec(me.src);
  if (!match) return;
  var base = match[1];
  var slug = match[2];
  var api = base + '/api/v1/c/' + slug;
  var cookieName = 'cpp_consent_' + slug.replace(/[^a-z0-9]/gi, '_');
  var nonce = me.nonce || me.getAttribute('nonce') || '';
  var lang = ((me.getAttribute('data-lang') || document.documentElement.lang || 'en').slice(0, 2).toLowerCase() === 'uk') ? 'uk' : 'en';
  var gpc = navigator.globalPrivacyControl === true;

  var TEXT = {
    en: {
      title: 'Your privacy choices',
      intro: 'We use cookies that are strictly necessary for this site to work. With your consent we would also use:',
      accept: 'Accept all',
      reject: 'Reject all',
      settings: 'Choose',
      save: 'Save my choices',
      always: 'Always on',
      more: 'Cookie settings and details',
      gpc: 'Your browser sends Global Privacy Control, so optional purposes are off.',
      error: 'Your choice could not be saved. Please try again.',
      close: 'Close'
    },
    uk: {
      title: 'Ваш вибір щодо приватності',
      intro: 'Ми використовуємо файли cookie, без яких сайт не працює. З вашої згоди ми також використовували б:',
      accept: 'Прийняти всі',
      reject: 'Відхилити всі',
      settings: 'Обрати',
      save: 'Зберегти мій вибір',
      always: 'Завжди увімкнено',
      more: 'Налаштування та відомості про cookie',
      gpc: 'Ваш браузер надсилає сигнал Global Privacy Control, тож необовʼязкові цілі вимкнено.',
      error: 'Не вдалося зберегти ваш вибір. Спробуйте ще раз.',
      close: 'Закрити'
    }
  };
  var t = TEXT[lang];
  var listeners = [];
  var config = null;
  var current = null;
  var root = null;

  function b64encode(text) {
    var bytes = new TextEncoder().encode(text);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function b64decode(text) {
    var bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new TextDecoder().decode(bytes);
  }

  function readStored() {
    var parts = document.cookie ? document.cookie.split('; ') : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (parts[i].slice(0, eq) === cookieName) {
        try {
          var value = JSON.parse(b64decode(parts[i].slice(eq + 1)));
          if (value && typeof value.s === 'string' && value.c) return value;
        } catch (e) { /* unreadable: ask again */ }
      }
    }
    return null;
  }

  function writeStored(value) {
    var secure = location.protocol === 'https:' ? '; Secure' : '';
    document.cookie = cookieName + '=' + b64encode(JSON.stringify(value)) +
      '; Path=/; Max-Age=' + (180 * 86400) + '; SameSite=Lax' + secure;
  }

  function name(p) { return (p.name[lang] || p.name.en); }
  function description(p) { return (p.description[lang] || p.description.en); }

  function activate(choices) {
    var gated = document.querySelectorAll('script[type="text/plain"][data-consent-purpose]');
    for (var i = 0; i < gated.length; i++) {
      var old = gated[i];
      if (!choices[old.getAttribute('data-consent-purpose')]) continue;
      var run = document.createElement('script');
      for (var j = 0; j < old.attributes.length; j++) {
        var a = old.attributes[j];
        if (a.name !== 'type') run.setAttribute(a.name, a.value);
      }
      run.removeAttribute('data-consent-purpose');
      run.setAttribute('data-consent-activated', '');
      if (!old.src) run.text = old.text;
      old.parentNode.replaceChild(run, old);
    }
  }

  function announce(choices) {
    current = choices;
    activate(choices);
    for (var i = 0; i < listeners.length; i++) {
      try { listeners[i](Object.assign({}, choices)); } catch (e) { /* a listener's own error */ }
    }
  }

  function post(choices, onDone, onError) {
    var stored = readStored();
    var body = { choices: choices, content_hash: config.content_hash, gpc: gpc, source: 'banner', language: lang };
    if (stored) body.subject_id = stored.s;
    fetch(api + '/consents', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit'
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (res) {
      if (!res.ok) throw new Error(res.data && res.data.error);
      writeStored({ s: res.data.subject_id, h: res.data.content_hash, c: res.data.choices });
      announce(res.data.choices);
      if (onDone) onDone(res.data);
    }).catch(function (e) {
      if (onError) onError(e);
    });
  }

  function optional() {
    return config.purposes.filter(function (p) { return !p.strictly_necessary; });
  }

  function all(on) {
    var choices = {};
    optional().forEach(function (p) { choices[p.key] = on; });
    return choices;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text) node.textContent = text;
    return node;
  }

  function style() {
    if (document.getElementById('cpp-consent-style')) return;
    var s = el('style', { id: 'cpp-consent-style' });
    if (nonce) s.setAttribute('nonce', nonce);
    s.textContent =
      '.cpp-banner{position:fixed;left:1rem;right:1rem;bottom:1rem;max-width:40rem;margin:0 auto;z-index:2147483000;' +
      'background:#fff;color:#1d2a35;border:2px solid #1d2a35;border-radius:8px;padding:1rem 1.25rem;' +
      'font:16px/1.5 system-ui,sans-serif;box-shadow:0 4px 24px rgba(0,0,0,.2)}' +
      '.cpp-banner h2{font-size:1.15rem;margin:0 0 .5rem}.cpp-banner p{margin:.25rem 0 .75rem}' +
      '.cpp-banner ul{margin:0 0 .75rem;padding:0;list-style:none}.cpp-banner li{margin:.4rem 0}' +
      '.cpp-banner label{font-weight:600}.cpp-banner small{display:block;color:#3d4b57}' +
      '.cpp-actions{display:flex;flex-wrap:wrap;gap:.5rem}' +
      '.cpp-banner button{font:inherit;font-weight:600;padding:.55rem 1.1rem;border-radius:5px;cursor:pointer;' +
      'border:2px solid #0b5c6b;background:#0b5c6b;color:#fff;min-width:9rem}' +
      '.cpp-banner button.cpp-plain{background:#fff;color:#0b5c6b}' +
      '.cpp-banner button:focus-visible,.cpp-banner a:focus-visible,.cpp-banner input:focus-visible{outline:3px solid #d97706;outline-offset:2px}' +
      '.cpp-banner a{color:#0b5c6b}.cpp-error{color:#a4161a;font-weight:600}';
    document.head.appendChild(s);
  }

  function close() {
    if (root && root.parentNode) root.parentNode.removeChild(root);
    root = null;
  }

  function show(detailed) {
    close();
    style();
    var stored = readStored();
    root = el('section', { 'class': 'cpp-banner', role: 'region', 'aria-labelledby': 'cpp-title', lang: lang });
    root.appendChild(el('h2', { id: 'cpp-title' }, t.title));
    root.appendChild(el('p', {}, t.intro));
    var list = el('ul', {});
    config.purposes.forEach(function (p) {
      var item = el('li', {});
      var id = 'cpp-p-' + p.key;
      if (detailed) {
        var box = el('input', { type: 'checkbox', id: id, name: p.key });
        if (p.strictly_necessary) { box.checked = true; box.disabled = true; }
        else box.checked = !!(stored && stored.c[p.key]);
        item.appendChild(box);
        item.appendChild(document.createTextNode(' '));
        item.appendChild(el('label', { 'for': id }, name(p) + (p.strictly_necessary ? ' (' + t.always + ')' : '')));
      } else if (!p.strictly_necessary) {
        item.appendChild(el('strong', {}, name(p)));
      } else {
        return;
      }
      item.appendChild(el('small', {}, description(p)));
      list.appendChild(item);
    });
    root.appendChild(list);
    var status = el('p', { role: 'status', 'aria-live': 'polite' });
    if (gpc) status.textContent = t.gpc;
    root.appendChild(status);
    var actions = el('div', { 'class': 'cpp-actions' });
    var reject = el('button', { type: 'button', 'data-consent-action': 'reject' }, t.reject);
    var accept = el('button', { type: 'button', 'data-consent-action': 'accept' }, t.accept);
    actions.appendChild(reject);
    actions.appendChild(accept);
    var third;
    if (detailed) {
      third = el('button', { type: 'button', 'class': 'cpp-plain', 'data-consent-action': 'save' }, t.save);
    } else {
      third = el('button', { type: 'button', 'class': 'cpp-plain', 'data-consent-action': 'choose' }, t.settings);
    }
    actions.appendChild(third);
    root.appendChild(actions);
    var more = el('p', {});
    more.appendChild(el('a', { href: config.settings_url + '?lang=' + lang }, t.more));
    root.appendChild(more);

    function decide(choices) {
      var buttons = root.querySelectorAll('button');
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
      post(choices, close, function () {
        for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
        status.textContent = t.error;
        status.className = 'cpp-error';
      });
    }
    reject.addEventListener('click', function () { decide(all(false)); });
    accept.addEventListener('click', function () { decide(all(true)); });
    third.addEventListener('click', function () {
      if (!detailed) { show(true); return; }
      var choices = {};
      optional().forEach(function (p) { choices[p.key] = root.querySelector('#cpp-p-' + p.key).checked; });
      decide(choices);
    });
    document.body.appendChild(root);
    var first = root.querySelector(detailed ? 'input:not([disabled])' : 'button');
    if (first) first.focus();
  }

  function start() {
    fetch(api + '/consent-config', { credentials: 'omit' }).then(function (r) {
      if (!r.ok) throw new Error('consent configuration unavailable');
      return r.json();
    }).then(function (c) {
      config = c;
      if (!optional().length) { announce({}); return; }
      var stored = readStored();
      if (stored && stored.h === config.content_hash) {
        announce(stored.c);
        return;
      }
      if (gpc) { post(all(false)); return; }
      show(false);
    }).catch(function () { /* without a configuration nothing optional runs */ });
  }

  window.ClinicConsent = {
    onChange: function (fn) {
      if (typeof fn === 'function') {
        listeners.push(fn);
        if (current) fn(Object.assign({}, current));
      }
    },
    choices: function () { return current ? Object.assign({}, current) : null; },
    open: function () { if (config) show(true); }
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
