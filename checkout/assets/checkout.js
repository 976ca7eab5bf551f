// The Open Money checkout: live status, countdown, copy buttons, TON
// Connect on demand, and the Telegram Mini App (theme, launch data, the
// orders list). The page works without this file; this only adds to it.
(function () {
  "use strict";
  var el = function (id) { return document.getElementById(id); };
  var data = JSON.parse(el("om-data").textContent);
  var T = data.t;
  var tg = telegram();

  // Inside Telegram, speak the user's language unless a link chose one.
  var want = tg && tg.user && tg.user.language_code && tg.user.language_code.slice(0, 2);
  if (want === "in") want = "id";
  if ((want === "id" || want === "en") && want !== data.lang && !/[?&]lang=/.test(location.search)) {
    location.replace(location.pathname + "?lang=" + want + location.hash);
    return;
  }

  if (data.page === "pay") pay(); else orders();

  // --- Telegram Mini App ------------------------------------------------
  // Telegram opens a Mini App with its launch parameters in the URL
  // fragment (tgWebAppData = initData, tgWebAppThemeParams). They are kept
  // for this tab's session so they survive navigation between our pages.
  function telegram() {
    var h = new URLSearchParams(location.hash.slice(1));
    var init = h.get("tgWebAppData"), theme = h.get("tgWebAppThemeParams");
    try {
      if (init) sessionStorage.setItem("om.tg.init", init); else init = sessionStorage.getItem("om.tg.init");
      if (theme) sessionStorage.setItem("om.tg.theme", theme); else theme = sessionStorage.getItem("om.tg.theme");
    } catch (e) { /* storage off: this page only */ }
    if (!init) return null;
    var user = {};
    try { user = JSON.parse(new URLSearchParams(init).get("user") || "{}"); } catch (e) { /* unsigned junk: the server decides */ }
    applyTheme(theme);
    post("web_app_ready");
    post("web_app_expand");
    return { init: init, user: user };
  }

  function applyTheme(raw) {
    var p;
    try { p = JSON.parse(raw || "{}"); } catch (e) { return; }
    var map = { bg_color: "--bg", secondary_bg_color: "--card", text_color: "--fg", hint_color: "--muted",
      link_color: "--link", button_color: "--accent", button_text_color: "--accent-fg" };
    var root = document.documentElement;
    root.classList.add("tg");
    Object.keys(map).forEach(function (k) {
      if (/^#[0-9a-f]{3,8}$/i.test(p[k] || "")) root.style.setProperty(map[k], p[k]);
    });
    if (p.secondary_bg_color && p.bg_color) { // Telegram's own look: page on secondary, card on bg
      root.style.setProperty("--bg", p.secondary_bg_color);
      root.style.setProperty("--card", p.bg_color);
    }
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(p.bg_color || "");
    if (m && 0.299 * parseInt(m[1], 16) + 0.587 * parseInt(m[2], 16) + 0.114 * parseInt(m[3], 16) < 128) root.classList.add("dark");
  }

  function post(type, payload) {
    var d = JSON.stringify(payload || {});
    try {
      if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, d);
      else if (window.parent !== window) window.parent.postMessage(JSON.stringify({ eventType: type, eventData: payload || {} }), "https://web.telegram.org");
    } catch (e) { /* not inside Telegram after all */ }
  }

  // --- the payment page -------------------------------------------------
  function pay() {
    var cur = data.status, shownDue = cur.due_units, left = cur.expires_in, started = Date.now(), delay = 2000, timer = 0;
    if (tg) el("tg-orders").hidden = false;
    document.querySelectorAll("button.copy").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { copy(el(b.getAttribute("data-copy")).textContent, b); });
    });
    var tc = el("tc");
    tc.hidden = !walletPay(cur);
    tc.addEventListener("click", payWithWallet);
    if (walletPay(cur)) el("open").classList.remove("primary");

    setInterval(tick, 1000);
    schedule(delay);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { delay = 2000; schedule(0); }
    });

    function tick() {
      if (!cur.link) return;
      var s = Math.max(0, left - Math.floor((Date.now() - started) / 1000));
      var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
      var t = (h ? h + ":" + pad(m) : m) + ":" + pad(x);
      el("countdown").textContent = T.left.replace("{t}", t);
      if (s === 0 && delay > 2000) { delay = 2000; schedule(500); }
    }

    function schedule(ms) {
      clearTimeout(timer);
      if (!cur.final) timer = setTimeout(poll, ms);
    }

    function poll() {
      if (document.hidden) { schedule(delay); return; }
      fetchStatus().then(function (s) {
        var changed = s.state !== cur.state || s.due_units !== cur.due_units;
        apply(s);
        delay = changed ? 2000 : Math.min(delay * 1.5, s.state === "expired" ? 60000 : 15000);
        schedule(delay);
      }, function (e) {
        delay = Math.min(delay * 2, 60000);
        schedule(e && e.retryAfter ? e.retryAfter * 1000 : delay);
      });
    }

    function fetchStatus() {
      return fetch(data.status_url + "?lang=" + data.lang, { cache: "no-store", credentials: "omit" }).then(function (r) {
        if (!r.ok) { var e = new Error("status " + r.status); e.retryAfter = +r.headers.get("Retry-After") || 0; throw e; }
        return r.json();
      });
    }

    function apply(s) {
      cur = s;
      document.body.setAttribute("data-state", s.state);
      el("status").className = "status s-" + s.state;
      el("status-title").textContent = s.title;
      el("status-detail").textContent = s.detail;
      el("pay").hidden = !s.link;
      tc.hidden = !walletPay(s);
      showReturn(s);
      if (s.link) {
        left = s.expires_in; started = Date.now();
        el("open").href = s.link;
        el("f-amount").textContent = s.due;
        var img = el("qr");
        if (img && s.due_units !== shownDue) { img.src = s.qr; shownDue = s.due_units; }
      }
    }

    // The link back to the partner's shop, once the order is settled. The
    // server validated the URL at creation (absolute http(s)); checked
    // again so that nothing but an http(s) URL ever becomes a link.
    function showReturn(s) {
      var ok = typeof s.return_url === "string" && /^https?:\/\//i.test(s.return_url);
      var a = el("return-link");
      if (ok) { a.href = s.return_url; a.textContent = s.return_text; } else a.removeAttribute("href");
      el("return").hidden = !ok;
    }

    // TON Connect: the bundle (~420 KB) and the wallets list load only now.
    var ui = null, busy = false;
    function payWithWallet() {
      if (busy) return;
      busy = true; tc.disabled = true;
      note(T.tc_loading);
      connector().then(function (u) {
        return u.connected ? u : connect(u);
      }).then(function (u) {
        return fetchStatus().then(function (s) {
          apply(s);
          if (s.wallet) { note(T.tc_confirm); return u.sendTransaction(s.wallet); }
          if (!s.wallet_url) return null;
          // A USDT order: the message goes to the payer's own jetton
          // wallet, which the server finds from the connected address.
          return payerRequest(s.wallet_url, u.account && u.account.address).then(function (w) {
            note(T.tc_confirm);
            return u.sendTransaction(w);
          });
        });
      }).then(function (res) {
        if (res) { note(T.tc_sent); delay = 2000; schedule(1000); } else note("");
      }, function (e) {
        var name = e && (e.name || (e.constructor && e.constructor.name)) || "";
        note(/Reject|Cancel|cancel/.test(name + " " + (e && e.message)) ? T.tc_cancelled
          : /Network|network/.test(name + " " + (e && e.message)) ? T.tc_network : T.tc_failed);
      }).then(function () { busy = false; tc.disabled = false; });
    }

    function payerRequest(url, address) {
      return fetch(url, { method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ address: address || "" }) }).then(function (r) {
        if (!r.ok) throw new Error("wallet request " + r.status);
        return r.json();
      });
    }

    function connector() {
      if (ui) return Promise.resolve(ui);
      return load(data.tonconnect_js).then(function () {
        var TC = window.TON_CONNECT_UI;
        var c = new TC.TonConnect({ manifestUrl: data.manifest_url, walletsListSource: data.wallets_url, analytics: { mode: "off" } });
        try { c.setConnectionNetwork(data.chain); } catch (e) { /* older SDK: the request's network still guards */ }
        ui = new TC.TonConnectUI({ connector: c, language: "en" });
        return ui.connectionRestored.then(function () { return ui; });
      });
    }

    function connect(u) {
      return new Promise(function (resolve, reject) {
        var offStatus = u.onStatusChange(function (w) {
          if (w) { offStatus(); offModal(); resolve(u); }
        }, function (err) { offStatus(); offModal(); reject(err); });
        var offModal = u.onModalStateChange(function (st) {
          if (st.status === "closed" && !u.connected && st.closeReason === "action-cancelled") {
            offStatus(); offModal(); reject(new Error("cancelled"));
          }
        });
        u.openModal().catch(reject);
      });
    }

    function note(s) {
      var n = el("tc-note");
      n.textContent = s;
      n.hidden = !s;
    }
  }

  // walletPay: the status offers a TON Connect payment (a ready request,
  // or for USDT one the server builds once the wallet is connected).
  function walletPay(s) { return !!(s.wallet || s.wallet_url); }

  function load(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function copy(text, button) {
    var done = function () {
      button.textContent = T.copied;
      setTimeout(function () { button.textContent = T.copy; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else fallback();
    function fallback() {
      var r = document.createRange(), sel = window.getSelection();
      r.selectNodeContents(button.previousElementSibling);
      sel.removeAllRanges(); sel.addRange(r);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected: the user copies */ }
    }
  }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  // --- the Mini App's orders list -----------------------------------------
  function orders() {
    var box = el("orders");
    var say = function (msg, status) {
      box.setAttribute("data-status", status || "");
      box.textContent = "";
      var p = document.createElement("p");
      p.className = "note";
      p.textContent = msg;
      box.appendChild(p);
    };
    if (!tg) { say(T.orders_tg, "no-telegram"); return; }
    fetch("/app/orders.json", { headers: { Authorization: "tma " + tg.init }, cache: "no-store", credentials: "omit" })
      .then(function (r) {
        if (r.status === 401) { say(T.orders_denied, "401"); return null; }
        if (!r.ok) { say(T.orders_error, String(r.status)); return null; }
        return r.json();
      })
      .then(function (body) {
        if (!body) return;
        var items = body.data.items;
        box.setAttribute("data-status", "200");
        box.textContent = "";
        if (!items.length) { say(T.orders_none, "200"); return; }
        var ul = document.createElement("ul");
        ul.className = "orders";
        items.forEach(function (o) {
          var li = document.createElement("li");
          var w = node("span", "w", o.what + " · @" + o.recipient);
          var chip = node("span", "chip " + o.status, o.status_text);
          var m = node("span", "m", o.price + " · " + o.created_at.slice(0, 10));
          li.appendChild(w); li.appendChild(chip); li.appendChild(m);
          if (o.checkout_url) {
            var a = node("a", "m", o.payable ? T.orders_pay : "›");
            a.href = o.checkout_url + "?lang=" + body.data.lang;
            li.appendChild(a);
          }
          ul.appendChild(li);
        });
        box.appendChild(ul);
      }, function () { say(T.orders_error, "error"); });
  }

  function node(tag, cls, txt) {
    var n = document.createElement(tag);
    n.className = cls;
    n.textContent = txt;
    return n;
  }
})();
