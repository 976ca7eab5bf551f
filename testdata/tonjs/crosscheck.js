// Cross-check of The Open Money's TON code against engines nobody here wrote:
// @ton/core, @ton/ton and @ton/sandbox (the TVM emulator, offline).
//
// The Go tests run `node crosscheck.js` with one JSON request on stdin and read
// one JSON answer from stdout; the Go side does every comparison, this side
// only computes with the npm engines and reports what it saw.
//
//   {"op":"addresses", "mnemonic":[24 words], "cases":[{version, network, subwallet}]}
//   {"op":"comments"}
//   {"op":"wallets", "wallets":[{version, network, mnemonic, subwallet, fundNano, steps:[{name, boc, now}]}]}
//   {"op":"tonconnect", "messages":[{address, amount, payload}]}
//   {"op":"batch", "version", "network", "mnemonic", "subwallet", "fundNano", "boc", "now"}: one external of a
//     deployed wallet carrying many payments; reports the wallet transaction's out messages in order, its gas
//     and fees, and what the wallet paid beyond the amounts
//   {"op":"jettons", "owner": raw, "memo": text, "now": unix, "others": [raw],
//    "built": {"boc", "value", "units"}}  (jettons.js; built: a transfer body made in Go, sent by the payer)
"use strict";

const { Address, Cell, beginCell, comment, loadMessage } = require("@ton/core");
const { mnemonicToPrivateKey } = require("@ton/crypto");
const { WalletContractV4, WalletContractV5R1 } = require("@ton/ton");

const GLOBAL_ID = { mainnet: -239, testnet: -3 };

function contractFor(version, network, publicKey, subwallet) {
  if (version === "v4r2") {
    const args = { workchain: 0, publicKey };
    if (subwallet !== undefined && subwallet !== null) args.walletId = subwallet;
    return WalletContractV4.create(args);
  }
  if (version === "v5r1") {
    return WalletContractV5R1.create({
      publicKey,
      walletId: {
        networkGlobalId: GLOBAL_ID[network],
        context: { walletVersion: "v5r1", workchain: 0, subwalletNumber: subwallet ?? 0 },
      },
    });
  }
  throw new Error(`unknown wallet version ${version}`);
}

function forms(addr, network) {
  const testOnly = network !== "mainnet";
  return {
    raw: addr.toRawString(),
    bounceable: addr.toString({ urlSafe: true, bounceable: true, testOnly }),
    nonBounceable: addr.toString({ urlSafe: true, bounceable: false, testOnly }),
  };
}

async function addresses(req) {
  const key = await keyOf(req.mnemonic);
  const out = [];
  for (const c of req.cases) {
    try {
      const w = contractFor(c.version, c.network, key.publicKey, c.subwallet);
      out.push({ ...c, ...forms(w.address, c.network) });
    } catch (e) {
      out.push({ ...c, error: String(e.message || e) });
    }
  }
  return { publicKey: key.publicKey.toString("hex"), cases: out };
}

// Text comments as @ton/core builds them (op 0 + string tail, split where the
// bytes run out, which may be inside a UTF-8 character), plus hand-made snake
// chains whose cell boundaries cut multi-byte characters on purpose.
function snake(text, chunks) {
  const buf = Buffer.from(text, "utf8");
  const parts = [];
  let at = 0;
  for (const n of chunks) {
    parts.push(buf.subarray(at, at + n));
    at += n;
  }
  if (at < buf.length) parts.push(buf.subarray(at));
  let tail = null;
  for (let i = parts.length - 1; i >= 1; i--) {
    const b = beginCell().storeBuffer(parts[i]);
    if (tail) b.storeRef(tail);
    tail = b.endCell();
  }
  const head = beginCell().storeUint(0, 32).storeBuffer(parts[0]);
  if (tail) head.storeRef(tail);
  return head.endCell();
}

function comments() {
  const long = "Order 7f3c ".repeat(90); // 990 bytes: 8 cells
  const cases = [
    { name: "short", text: "om1a2b3c4d" },
    { name: "empty text", text: "" },
    { name: "one full cell", text: "x".repeat(123) },
    { name: "one byte into the second cell", text: "y".repeat(124) },
    { name: "snake across 8 cells", text: long },
    { name: "2-byte char split at the first cell boundary", text: "a".repeat(122) + "é" + "b".repeat(20) },
    { name: "3-byte char split at the first cell boundary", text: "a".repeat(122) + "€€" + "c" },
    { name: "4-byte char split at the first cell boundary", text: "a".repeat(121) + "🚀" + "d".repeat(200) },
    { name: "4-byte char split at the second cell boundary", text: "a".repeat(123 + 125) + "🚀tail" },
    { name: "Cyrillic and emoji over several cells", text: "Оплата заказа №42 🚀 ".repeat(12) },
  ];
  const out = cases.map((c) => ({
    name: c.name + " (@ton/core comment)",
    text: c.text,
    boc: comment(c.text).toBoc().toString("base64"),
  }));
  const hand = [
    { name: "2-byte char cut 1|1 between cells", text: "ab" + "é" + "cd", chunks: [3, 1] },
    { name: "3-byte char cut 1|2", text: "€uro", chunks: [1, 2] },
    { name: "4-byte char cut 1|1|1|1 over four cells", text: "x🚀y", chunks: [2, 1, 1, 1] },
    { name: "4-byte char cut 3|1", text: "🚀🚀", chunks: [3, 2] },
    { name: "one byte per cell", text: "héllo", chunks: [1, 1, 1, 1, 1] },
  ];
  for (const h of hand) {
    out.push({ name: h.name + " (hand-made snake)", text: h.text, boc: snake(h.text, h.chunks).toBoc().toString("base64") });
  }
  // Not comments: the decoder must keep them as payload.
  out.push({ name: "op 1 (not a text comment)", text: null, boc: beginCell().storeUint(1, 32).storeStringTail("hello").endCell().toBoc().toString("base64") });
  out.push({ name: "invalid UTF-8", text: null, boc: beginCell().storeUint(0, 32).storeBuffer(Buffer.from([0x61, 0xff, 0xfe])).endCell().toBoc().toString("base64") });
  out.push({ name: "UTF-8 cut off at the end", text: null, boc: beginCell().storeUint(0, 32).storeBuffer(Buffer.from([0x61, 0xc3])).endCell().toBoc().toString("base64") });
  return { cases: out };
}

// Runs the wallet's own externals in the emulator: funds the (undeployed)
// address, then sends each step's external at the step's time and reports
// what the real wallet code did.
const keys = new Map();
async function keyOf(mnemonic) {
  const k = mnemonic.join(" ");
  if (!keys.has(k)) keys.set(k, await mnemonicToPrivateKey(mnemonic));
  return keys.get(k);
}

async function wallet(req) {
  const { Blockchain, internal } = require("@ton/sandbox");
  const key = await keyOf(req.mnemonic);
  const w = contractFor(req.version, req.network, key.publicKey, req.subwallet);
  const bc = await Blockchain.create();
  const res = {
    address: w.address.toRawString(),
    tonTonCodeHash: w.init.code.hash().toString("hex"),
    tonTonDataHash: w.init.data.hash().toString("hex"),
    steps: [],
  };
  const first = req.steps[0];
  bc.now = first.now - 10;
  // A plain non-bounceable transfer from any address leaves the wallet
  // uninitialised with a balance, as a real first top-up does.
  await bc.sendMessage(internal({ from: new Address(0, Buffer.alloc(32, 7)), to: w.address, value: BigInt(req.fundNano), bounce: false }));
  res.fundedBalance = (await bc.getContract(w.address)).balance.toString();

  for (const step of req.steps) {
    const cell = Cell.fromBase64(step.boc);
    const msg = loadMessage(cell.beginParse());
    const r = {
      name: step.name,
      dest: msg.info.dest ? msg.info.dest.toRawString() : null,
      initCodeHash: msg.init && msg.init.code ? msg.init.code.hash().toString("hex") : null,
      initDataHash: msg.init && msg.init.data ? msg.init.data.hash().toString("hex") : null,
    };
    bc.now = step.now;
    try {
      const sent = await bc.sendMessage(cell);
      const tx = sent.transactions[0];
      r.accepted = true;
      r.aborted = tx.description.aborted;
      r.computeExit = tx.description.computePhase.type === "vm" ? tx.description.computePhase.exitCode : null;
      r.actionOk = tx.description.actionPhase ? tx.description.actionPhase.success : null;
      r.outMessages = [];
      for (const m of tx.outMessages.values()) {
        if (m.info.type !== "internal") continue;
        r.outMessages.push({
          dest: m.info.dest.toRawString(),
          amountNano: m.info.value.coins.toString(),
          bounce: m.info.bounce,
          bodyHash: m.body.hash().toString("hex"),
          body: m.body.toBoc().toString("base64"),
        });
      }
      // Did the destination receive it? (the emulator delivers the message on)
      r.delivered = sent.transactions.slice(1).some((t) => t.inMessage && t.inMessage.info.type === "internal" && t.inMessage.info.src && t.inMessage.info.src.equals(w.address));
    } catch (e) {
      r.accepted = false;
      r.error = String(e.message || e).slice(0, 300);
      r.exitCode = e.exitCode ?? null;
    }
    const c = await bc.getContract(w.address);
    r.state = c.accountState ? c.accountState.type : "none";
    if (r.state === "active") {
      const g = await c.get("seqno");
      r.seqnoAfter = Number(g.stackReader.readBigNumber());
    }
    res.steps.push(r);
  }
  return res;
}

// A TON Connect message as a wallet reads it: the destination parsed with
// @ton/core (raw form, flags), the amount, and the payload cell decoded as
// a text comment (op 0 + string tail) when it is one, or a TEP-74 jetton
// transfer's fields.
function tonconnect(req) {
  return {
    messages: req.messages.map((m) => {
      const out = {};
      try {
        const a = Address.parseFriendly(m.address);
        out.raw = a.address.toRawString();
        out.bounceable = a.isBounceable;
        out.testOnly = a.isTestOnly;
      } catch (e) {
        out.addressError = String(e.message || e);
      }
      out.amount = BigInt(m.amount).toString();
      try {
        const s = Cell.fromBase64(m.payload).beginParse();
        out.op = s.loadUint(32);
        if (out.op === 0x0f8a7ea5) {
          // A TEP-74 jetton transfer (a USDT order's request): its fields,
          // and the forward payload's comment (inline or in a ref).
          out.queryId = s.loadUintBig(64).toString();
          out.units = s.loadCoins().toString();
          out.destination = s.loadAddress().toRawString();
          out.response = s.loadAddress().toRawString();
          out.customPayload = s.loadMaybeRef() !== null;
          out.forwardTon = s.loadCoins().toString();
          const fp = s.loadBit() ? s.loadRef().beginParse() : s;
          const fop = fp.loadUint(32);
          out.comment = fop === 0 ? fp.loadStringTail() : "";
          out.rest = s.remainingBits + s.remainingRefs;
        } else {
          out.comment = s.loadStringTail();
        }
      } catch (e) {
        out.payloadError = String(e.message || e);
      }
      return out;
    }),
  };
}

// batch funds the (undeployed) wallet, runs the given external (seqno 0: it
// carries the state init and deploys the wallet) and reports the wallet's
// own transaction only.
async function batch(req) {
  const { Blockchain, internal } = require("@ton/sandbox");
  const key = await keyOf(req.mnemonic);
  const w = contractFor(req.version, req.network, key.publicKey, req.subwallet);
  const bc = await Blockchain.create();
  bc.now = req.now - 10;
  await bc.sendMessage(internal({ from: new Address(0, Buffer.alloc(32, 7)), to: w.address, value: BigInt(req.fundNano), bounce: false }));
  const before = (await bc.getContract(w.address)).balance;
  bc.now = req.now;
  const cell = Cell.fromBase64(req.boc);
  const res = { bocBytes: cell.toBoc().length, cells: 0 };
  try {
    // Only the wallet's transaction: the destinations' (and their
    // bounces) would change the wallet's balance afterwards.
    const it = await bc.sendMessageIter(cell);
    const first = await it.next();
    const tx = first.value;
    const d = tx.description;
    res.accepted = true;
    res.aborted = d.aborted;
    res.computeExit = d.computePhase.type === "vm" ? d.computePhase.exitCode : null;
    res.gasUsed = d.computePhase.type === "vm" ? d.computePhase.gasUsed.toString() : null;
    res.gasFees = d.computePhase.type === "vm" ? d.computePhase.gasFees.toString() : null;
    res.actionOk = d.actionPhase ? d.actionPhase.success : null;
    res.totalActions = d.actionPhase ? d.actionPhase.totalActions : null;
    res.totalFwdFees = d.actionPhase && d.actionPhase.totalFwdFees != null ? d.actionPhase.totalFwdFees.toString() : null;
    res.totalActionFees = d.actionPhase && d.actionPhase.totalActionFees != null ? d.actionPhase.totalActionFees.toString() : null;
    res.totalFees = tx.totalFees.coins.toString();
    res.outMessages = [];
    let sent = 0n;
    for (const m of tx.outMessages.values()) {
      if (m.info.type !== "internal") continue;
      sent += m.info.value.coins;
      res.outMessages.push({
        dest: m.info.dest.toRawString(),
        amountNano: m.info.value.coins.toString(),
        bounce: m.info.bounce,
        bodyHash: m.body.hash().toString("hex"),
        fwdFee: m.info.forwardFee.toString(),
      });
    }
    const after = (await bc.getContract(w.address)).balance;
    res.balanceBefore = before.toString();
    res.balanceAfter = after.toString();
    // what the wallet paid beyond the payments themselves
    res.debitBeyondAmounts = (before - after - sent).toString();
  } catch (e) {
    res.accepted = false;
    res.error = String(e.message || e).slice(0, 300);
    res.exitCode = e.exitCode ?? null;
  }
  return res;
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const req = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  let res;
  switch (req.op) {
    case "addresses": res = await addresses(req); break;
    case "comments": res = comments(); break;
    case "tonconnect": res = tonconnect(req); break;
    case "batch": res = await batch(req); break;
    case "jettons": res = await require("./jettons.js").jettons(req); break;
    case "wallets": {
      res = { wallets: [] };
      for (const w of req.wallets) res.wallets.push(await wallet(w));
      break;
    }
    default: throw new Error(`unknown op ${req.op}`);
  }
  process.stdout.write(JSON.stringify(res));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
