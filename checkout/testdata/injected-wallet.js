// A TON Connect wallet injected into the page, as a wallet's in-app browser
// (or its browser extension) injects one: window.<jsBridgeKey>.tonconnect,
// the JS bridge of the TON Connect protocol (ton-connect/docs, bridge.md:
// "JS bridge"). It answers like a wallet whose user approves everything,
// and records every call in window.__omWallet for the browser test.
// "tonkeeper" is a jsBridgeKey of the page's wallets list: TON Connect only
// talks to injected wallets that its list names.
(function () {
  "use strict";
  var record = { connects: [], sends: [], restores: 0, listeners: 0 };
  window.__omWallet = record;
  var account = {
    name: "ton_addr",
    address: "__WALLET_RAW__",
    network: "-3",
    publicKey: "__WALLET_PUBKEY__",
    walletStateInit: "__WALLET_STATE_INIT__",
  };
  var device = {
    platform: "browser",
    appName: "tonkeeper",
    appVersion: "9.9.9",
    maxProtocolVersion: 2,
    features: ["SendTransaction", { name: "SendTransaction", maxMessages: 4 }],
  };
  var listeners = [];
  var nextEvent = 1;
  window.tonkeeper = {
    tonconnect: {
      deviceInfo: device,
      walletInfo: {
        name: "OM Test Wallet",
        app_name: "tonkeeper",
        image: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
        about_url: "https://example.invalid/om-test-wallet",
        platforms: ["chrome"],
      },
      protocolVersion: 2,
      isWalletBrowser: __WALLET_EMBEDDED__,
      connect: function (protocolVersion, message) {
        record.connects.push({ protocolVersion: protocolVersion, message: message });
        var items = [account];
        return Promise.resolve({ event: "connect", id: nextEvent++, payload: { items: items, device: device } });
      },
      restoreConnection: function () {
        record.restores++;
        return Promise.resolve({ event: "connect_error", id: nextEvent++, payload: { code: 0, message: "no session" } });
      },
      send: function (request) {
        record.sends.push(JSON.parse(JSON.stringify(request)));
        if (request.method === "sendTransaction") {
          // The "signed" external message: any bag of cells does for the dApp.
          return Promise.resolve({ result: "__WALLET_STATE_INIT__", id: request.id });
        }
        if (request.method === "disconnect") return Promise.resolve({ result: {}, id: request.id });
        return Promise.resolve({ error: { code: 400, message: "method not supported" }, id: request.id });
      },
      listen: function (callback) {
        record.listeners++;
        listeners.push(callback);
        return function () { listeners = listeners.filter(function (l) { return l !== callback; }); };
      },
    },
  };
  // Content-Security-Policy violations, for the test to read.
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || "") + " at " + e.sourceFile + ":" + e.lineNumber + ":" + e.columnNumber);
  });
})();
